/**
 * Pure formatting of registry data for people: sizes, times, platforms, digests, media types and
 * the client commands the UI offers to copy. No DOM here, so everything is unit-tested in node.
 */
import type { Annotations, GcReport, Platform, RetentionPolicy, RoleBinding } from './types';

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'] as const;

/** Sizes in binary units, at most three significant digits: `0 B`, `1.5 KiB`, `123 MiB`. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '—';
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  if (unit === 0) return `${String(Math.round(value))} B`;
  let text = value < 100 ? value.toFixed(1) : value.toFixed(0);
  // 1023.96 KiB rounds to "1024": say 1.0 MiB instead.
  if (Number(text) >= 1024 && unit < BYTE_UNITS.length - 1) {
    unit += 1;
    text = (Number(text) / 1024).toFixed(1);
  }
  return `${text.replace(/\.0$/, '')} ${BYTE_UNITS[unit] ?? ''}`;
}

/** Whole numbers with thousands separators: `12,345`. */
export function formatCount(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** `1 tag`, `3 tags`. */
export function plural(n: number, singular: string, pluralForm = `${singular}s`): string {
  return `${formatCount(n)} ${n === 1 ? singular : pluralForm}`;
}

/** A role binding as people say it: `developer everywhere`, `viewer in team-a`. */
export function bindingText(binding: RoleBinding): string {
  return binding.namespace === null || binding.namespace === ''
    ? `${binding.role} everywhere`
    : `${binding.role} in ${binding.namespace}`;
}

const TIME_STEPS: readonly [limitSeconds: number, seconds: number, unit: string][] = [
  [3600, 60, 'minute'],
  [86_400, 3600, 'hour'],
  [30 * 86_400, 86_400, 'day'],
  [365 * 86_400, 30 * 86_400, 'month'],
  [Infinity, 365 * 86_400, 'year'],
];

/**
 * A time relative to `now`: `just now`, `5 minutes ago`, `in 3 days`. Deterministic English
 * (not Intl.RelativeTimeFormat) so the words are the same in every browser and in tests.
 */
export function formatRelative(iso: string, now: number = Date.now()): string {
  const at = Date.parse(iso);
  if (Number.isNaN(at)) return 'unknown';
  const seconds = Math.round((now - at) / 1000);
  const magnitude = Math.abs(seconds);
  if (magnitude < 45) return 'just now';
  for (const [limit, size, unit] of TIME_STEPS) {
    if (magnitude < limit) {
      const count = Math.max(1, Math.round(magnitude / size));
      const words = plural(count, unit);
      return seconds >= 0 ? `${words} ago` : `in ${words}`;
    }
  }
  return 'unknown';
}

/**
 * An absolute time as `2024-05-01 14:03` in the given time zone (the browser's by default),
 * with ` UTC` appended when formatting in UTC so nobody mistakes it for local time.
 */
export function formatDateTime(iso: string, timeZone?: string): string {
  const at = Date.parse(iso);
  if (Number.isNaN(at)) return 'unknown';
  const parts = new Intl.DateTimeFormat('en-US', {
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
    ...(timeZone !== undefined ? { timeZone } : {}),
  }).formatToParts(at);
  const part = (type: Intl.DateTimeFormatPartTypes): string =>
    parts.find((p) => p.type === type)?.value ?? '';
  const text = `${part('year')}-${part('month')}-${part('day')} ${part('hour')}:${part('minute')}`;
  return timeZone === 'UTC' ? `${text} UTC` : text;
}

/** When an access token stops working: `never`, `in 30 days`, `expired 2 days ago`. */
export function formatExpiry(expiresAt: string | null, now: number = Date.now()): string {
  if (expiresAt === null) return 'never';
  const at = Date.parse(expiresAt);
  if (Number.isNaN(at)) return 'unknown';
  return at <= now ? `expired ${formatRelative(expiresAt, now)}` : formatRelative(expiresAt, now);
}

/** A duration in seconds as words: `45 seconds`, `5 minutes`, `2 hours`, `1 day`. */
export function formatSeconds(seconds: number): string {
  if (seconds < 60 || seconds % 60 !== 0) return plural(seconds, 'second');
  if (seconds < 3600 || seconds % 3600 !== 0) return plural(seconds / 60, 'minute');
  if (seconds < 86_400 || seconds % 86_400 !== 0) return plural(seconds / 3600, 'hour');
  return plural(seconds / 86_400, 'day');
}

/** How long something took, from milliseconds: `350 ms`, `1.2 s`, `42 s`, `2 min 5 s`, `1 h 3 min`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '—';
  if (ms < 1000) return `${String(Math.round(ms))} ms`;
  if (ms < 9950) return `${(ms / 1000).toFixed(1).replace(/\.0$/, '')} s`;
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${String(seconds)} s`;
  const part = (n: number, unit: string): string => (n > 0 ? ` ${String(n)} ${unit}` : '');
  if (seconds < 3600) {
    return `${String(Math.floor(seconds / 60))} min${part(seconds % 60, 's')}`;
  }
  const minutes = Math.round(seconds / 60);
  return `${String(Math.floor(minutes / 60))} h${part(minutes % 60, 'min')}`;
}

/**
 * How full a quota is, in whole percent rounded down (99.9% full is not yet full); above 100
 * when the quota was lowered below what is stored. A quota of 0 with anything stored is 100.
 */
export function usagePercent(used: number, quota: number): number {
  if (quota <= 0) return used > 0 ? 100 : 0;
  return Math.floor((used / quota) * 100);
}

/** `1.2 GiB of 10 GiB (12%)`, or only what is used when there is no quota. */
export function formatUsage(used: number, quota: number | null): string {
  if (quota === null) return formatBytes(used);
  return `${formatBytes(used)} of ${formatBytes(quota)} (${String(usagePercent(used, quota))}%)`;
}

/** A quota's colour: pushes start failing at 100%, so 80% is the time to act. */
export function usageTone(used: number, quota: number | null): 'good' | 'warn' | 'bad' {
  if (quota === null) return 'good';
  const percent = usagePercent(used, quota);
  return percent >= 100 ? 'bad' : percent >= 80 ? 'warn' : 'good';
}

/**
 * A retention policy's rules as sentences, in the order the registry applies them; empty for
 * none. A policy without a keep-rule removes no tag, and says so.
 */
export function retentionRules(policy: RetentionPolicy | null): string[] {
  if (!policy) return [];
  const rules: string[] = [];
  const { keepLast, keepDays, keepTags, untaggedDays } = policy;
  if (keepLast !== undefined) {
    rules.push(
      keepLast === 1
        ? 'keep the newest tag of each repository'
        : `keep the ${formatCount(keepLast)} newest tags of each repository`,
    );
  }
  if (keepDays !== undefined) {
    rules.push(`keep tags pushed or pulled within ${plural(keepDays, 'day')}`);
  }
  if (keepTags !== undefined) rules.push(`keep tags matching ${keepTags}`);
  if (rules.length === 0) rules.push('keep every tag');
  if (untaggedDays !== undefined) {
    rules.push(
      untaggedDays === 0
        ? 'keep untagged manifests'
        : `remove untagged manifests after ${plural(untaggedDays, 'day')}`,
    );
  }
  return rules;
}

/** A namespace's index-children rule as words (null: the registry-wide setting applies). */
export function formatIndexChildren(value: string | null): string {
  if (value === null) return 'as the registry is configured';
  if (value === 'all') return 'every child must exist';
  if (value === 'none') return 'children may be missing';
  return `only ${value.split(',').join(', ')} must exist`;
}

/** What a garbage collection removed (or would remove): `3 manifests, 12 blobs`, or `nothing`. */
export function formatRemoved(report: GcReport): string {
  const parts: [number, string][] = [
    [report.retention?.tags ?? 0, plural(report.retention?.tags ?? 0, 'tag')],
    [report.manifests, plural(report.manifests, 'manifest')],
    [report.blobs, plural(report.blobs, 'blob')],
    [report.uploads, plural(report.uploads, 'upload')],
    [report.orphanFiles, plural(report.orphanFiles, 'orphan file')],
  ];
  const named = parts.filter(([n]) => n > 0).map(([, text]) => text);
  return named.length === 0 ? 'nothing' : named.join(', ');
}

/** `linux/arm64/v8`, `linux/amd64`; `unknown` when the manifest names no platform. */
export function formatPlatform(platform: Partial<Platform> | null | undefined): string {
  if (!platform?.os || !platform.architecture) return 'unknown';
  const variant = platform.variant ? `/${platform.variant}` : '';
  return `${platform.os}/${platform.architecture}${variant}`;
}

/**
 * The platforms of a multi-arch index, in a stable order, without duplicates and without the
 * `unknown/unknown` entries BuildKit adds for its attestation manifests.
 */
export function formatPlatforms(platforms: readonly Partial<Platform>[]): string[] {
  const names = platforms
    .filter((p) => p.os !== 'unknown' && p.architecture !== 'unknown')
    .map(formatPlatform);
  return [...new Set(names)].sort();
}

const DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

export function isDigest(reference: string): boolean {
  return DIGEST.test(reference);
}

/** `sha256:0123456789ab`: the algorithm and the first 12 hex digits, enough to tell apart. */
export function shortDigest(digest: string, length = 12): string {
  const colon = digest.indexOf(':');
  if (colon < 0) return digest.slice(0, length);
  return `${digest.slice(0, colon)}:${digest.slice(colon + 1, colon + 1 + length)}`;
}

/** Where clients reach the registry: the host of the configured external URL, else this page's. */
export function registryHost(externalUrl: string | null | undefined, pageHost: string): string {
  if (externalUrl) {
    try {
      const host = new URL(externalUrl).host;
      if (host !== '') return host;
    } catch {
      // A malformed external URL: the page's own host is the best guess.
    }
  }
  return pageHost;
}

/** `host/repo:tag` or `host/repo@sha256:…`. */
export function imageReference(host: string, repository: string, reference: string): string {
  return isDigest(reference)
    ? `${host}/${repository}@${reference}`
    : `${host}/${repository}:${reference}`;
}

export type Client = 'docker' | 'podman';

export function pullCommand(
  client: Client,
  host: string,
  repository: string,
  reference: string,
): string {
  return `${client} pull ${imageReference(host, repository, reference)}`;
}

/** What someone with no image yet types to push their first one. */
export function firstPushCommands(host: string, user: string, namespace: string): string[] {
  const target = `${host}/${namespace}/hello:1.0`;
  return [
    `docker login ${host} -u ${user}`,
    `docker tag hello:latest ${target}`,
    `docker push ${target}`,
  ];
}

/**
 * Fetches the CA onto a client that does not trust it yet (hence -k) and prints its fingerprint,
 * to compare with the one the server shows.
 */
export function caDownloadCommand(host: string): string {
  return (
    `curl -k -o ca.crt https://${host}/ca.crt && ` +
    'openssl x509 -noout -fingerprint -sha256 -in ca.crt'
  );
}

/**
 * How a client machine trusts this registry's private CA (ca.crt in the current directory) and
 * signs in. The certs.d folder must be named exactly the host:port clients dial.
 */
export function clientSetupCommands(host: string): { client: string; commands: string[] }[] {
  const folder = (root: string): string => `${root}/certs.d/${host}`;
  const install = (root: string): string =>
    `sudo mkdir -p ${folder(root)} && sudo cp ca.crt ${folder(root)}/ca.crt`;
  return [
    { client: 'docker', commands: [install('/etc/docker'), `docker login ${host}`] },
    { client: 'podman / skopeo', commands: [install('/etc/containers'), `podman login ${host}`] },
  ];
}

const MEDIA_TYPES: Readonly<Record<string, string>> = {
  'application/vnd.oci.image.manifest.v1+json': 'OCI image manifest',
  'application/vnd.oci.image.index.v1+json': 'OCI image index',
  'application/vnd.oci.image.config.v1+json': 'OCI image config',
  'application/vnd.oci.empty.v1+json': 'empty',
  'application/vnd.docker.distribution.manifest.v2+json': 'Docker image manifest',
  'application/vnd.docker.distribution.manifest.list.v2+json': 'Docker manifest list',
  'application/vnd.docker.container.image.v1+json': 'Docker image config',
  'application/vnd.docker.image.rootfs.diff.tar.gzip': 'layer, tar+gzip',
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip': 'foreign layer, tar+gzip',
};

const OCI_LAYER = /^application\/vnd\.oci\.image\.layer\.(nondistributable\.)?v1\.tar(?:\+(\w+))?$/;

/** A short name for a media type people recognise; the raw type for anything else. */
export function mediaTypeLabel(mediaType: string): string {
  const known = MEDIA_TYPES[mediaType];
  if (known !== undefined) return known;
  const layer = OCI_LAYER.exec(mediaType);
  if (layer) {
    const kind = layer[1] ? 'foreign layer' : 'layer';
    return layer[2] ? `${kind}, tar+${layer[2]}` : `${kind}, tar`;
  }
  return mediaType;
}

export type ArtifactCategory = 'signature' | 'sbom' | 'attestation' | 'artifact';

/** What a referrer is, from its artifact type (cosign, notation, in-toto, SPDX, CycloneDX…). */
export function artifactCategory(artifactType: string | null): ArtifactCategory {
  const type = (artifactType ?? '').toLowerCase();
  if (/signature|\.sig\b|cosign\.artifact\.sig|notary/.test(type)) return 'signature';
  if (/spdx|cyclonedx|syft|sbom/.test(type)) return 'sbom';
  if (/in-toto|intoto|attestation|dsse|provenance|slsa|vex/.test(type)) return 'attestation';
  return 'artifact';
}

export const ARTIFACT_CATEGORY_LABELS: Readonly<Record<ArtifactCategory, string>> = {
  signature: 'Signature',
  sbom: 'SBOM',
  attestation: 'Attestation',
  artifact: 'Artifact',
};

/** Annotations and labels as sorted `[key, value]` pairs (an absent map is an empty list). */
export function sortedEntries(map: Annotations | undefined): [string, string][] {
  if (!map) return [];
  return Object.entries(map).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** A command line shown for copying: argv joined, each argument quoted when the shell needs it. */
export function shellJoin(argv: readonly string[]): string {
  return argv
    .map((arg) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`))
    .join(' ');
}
