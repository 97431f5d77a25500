/**
 * @module core/federation
 * What a namespace is: `hosted` (content pushed here), `proxy` (a pull-through cache of one
 * upstream registry) or `group` (an ordered list of other namespaces pulled from as one, with one
 * hosted member taking its pushes). The settings are stored with the namespace as JSON and
 * validated here, the one place that knows their rules.
 */
import { RegistryError } from './errors.js';
import { formatDuration, parseDuration } from './duration.js';

export type NamespaceKind = 'hosted' | 'proxy' | 'group';

export interface ProxySettings {
  /** The upstream's origin, `https://registry-1.docker.io`: where its `/v2/` answers. */
  url: string;
  /** Credentials for the upstream (its token realm or Basic); null pulls anonymously. */
  username: string | null;
  password: string | null;
  /** How long a cached tag is served before a HEAD asks the upstream whether it moved. */
  ttlSeconds: number;
}

export interface GroupSettings {
  /** Pulls try these namespaces in order (hosted or proxy, never another group). */
  members: string[];
  /** The hosted member that receives pushes through the group; null refuses them. */
  pushTo: string | null;
}

export type Federation =
  | { kind: 'hosted' }
  | { kind: 'proxy'; proxy: ProxySettings }
  | { kind: 'group'; group: GroupSettings };

/** Docker Hub's TTL in Harbor and Nexus is minutes to a day; six hours keeps Hub's limits far. */
export const DEFAULT_PROXY_TTL_SECONDS = 6 * 3600;

const invalid = (message: string, detail?: Record<string, unknown>): RegistryError =>
  new RegistryError('INVALID_REQUEST', message, detail);

/**
 * The upstream's origin from what an operator typed (`https://registry-1.docker.io`,
 * `http://127.0.0.1:5000/`); a path other than `/` or `/v2/`, credentials in the URL or another
 * scheme are refused, so a typo fails at creation and not at the first pull.
 */
export function parseUpstreamUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    throw invalid(
      `proxy URL "${text.slice(0, 200)}" is not a URL; use e.g. https://registry-1.docker.io`,
    );
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw invalid(`proxy URL must be http:// or https://, not ${url.protocol}`);
  if (url.username !== '' || url.password !== '')
    throw invalid(
      'put the upstream credentials in --proxy-username/--proxy-password-stdin, not in the URL',
    );
  if (!['/', '/v2', '/v2/'].includes(url.pathname) || url.search !== '' || url.hash !== '')
    throw invalid(
      `proxy URL must be the registry's origin (its /v2/ is found there), got ${url.href}`,
    );
  return url.origin;
}

/** Seconds of a TTL such as `6h` (at least one second, at most a year). */
export function parseProxyTtl(text: string): number {
  const ms = parseDuration(text);
  if (ms === null || ms < 1000 || ms > 366 * 86_400_000)
    throw invalid(`proxy TTL "${text.slice(0, 50)}" must be a duration from 1s to 366d, e.g. 6h`);
  return Math.floor(ms / 1000);
}

export function formatTtl(seconds: number): string {
  return formatDuration(seconds * 1000);
}

/** The stored JSON for a namespace's settings; null for a hosted one. */
export function serializeFederation(f: Federation): string | null {
  if (f.kind === 'proxy') return JSON.stringify(f.proxy);
  if (f.kind === 'group') return JSON.stringify(f.group);
  return null;
}

/**
 * Reads stored settings back. A row whose JSON does not parse (edited by hand) reads as a proxy
 * or group that cannot work rather than as hosted: a push must never land in a namespace that
 * was made a cache.
 */
export function readFederation(kind: string, json: string | null): Federation {
  if (kind === 'proxy') {
    const v = parseObject(json);
    return {
      kind: 'proxy',
      proxy: {
        url: typeof v['url'] === 'string' ? v['url'] : '',
        username: typeof v['username'] === 'string' ? v['username'] : null,
        password: typeof v['password'] === 'string' ? v['password'] : null,
        ttlSeconds:
          typeof v['ttlSeconds'] === 'number' && v['ttlSeconds'] > 0
            ? v['ttlSeconds']
            : DEFAULT_PROXY_TTL_SECONDS,
      },
    };
  }
  if (kind === 'group') {
    const v = parseObject(json);
    const members = Array.isArray(v['members'])
      ? v['members'].filter((m): m is string => typeof m === 'string')
      : [];
    return {
      kind: 'group',
      group: { members, pushTo: typeof v['pushTo'] === 'string' ? v['pushTo'] : null },
    };
  }
  return { kind: 'hosted' };
}

function parseObject(json: string | null): Record<string, unknown> {
  if (json === null) return {};
  try {
    const v: unknown = JSON.parse(json);
    return typeof v === 'object' && v !== null && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : {};
  } catch {
    return {};
  }
}

/**
 * The repository to ask the upstream for. Docker Hub keeps its official images under `library/`
 * and lets clients leave that out (`alpine` is `library/alpine`), so a one-segment name there gets
 * the prefix, as docker itself adds it.
 */
export function upstreamRepository(upstreamUrl: string, path: string): string {
  if (!path.includes('/') && isDockerHub(upstreamUrl)) return `library/${path}`;
  return path;
}

export function isDockerHub(upstreamUrl: string): boolean {
  const host = new URL(upstreamUrl).hostname;
  return host === 'registry-1.docker.io' || host === 'index.docker.io' || host === 'docker.io';
}
