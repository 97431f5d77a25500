/**
 * `npm run bench -- --proxy`: the pull-through cache against hosted pulls, in one run. See
 * bench/README.md, "Proxy mode".
 *
 * Each round starts a fresh CNCF Distribution (the upstream, errors-only logging) and a fresh
 * Berth, pushes the proxied content into the upstream and other content of the same sizes into
 * Berth, and creates the proxy namespace `hub` with `berth namespace create hub --proxy URL` beside
 * the running server. It then times, for a large blob and for small images:
 *
 * - hosted: pulls of Berth's own content;
 * - cold: the first pulls through `hub/…`, each until its blob is cached (filled from the upstream);
 * - warm: the same pulls again, served from the cache;
 * - Distribution: the upstream's own pulls of the proxied content, the reference.
 *
 * Hosted and proxied content never share a digest: a blob Berth already stores is linked into the
 * cache after a HEAD to the upstream instead of being fetched, and the cold pull would not be one.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Blob, BlobFactory } from './lib/blobs.js';
import { MiB } from './lib/blobs.js';
import { cpuSeconds, measure } from './lib/proc-stats.js';
import { imageManifest, RegistryClient } from './lib/registry-client.js';
import { formatNumber } from './lib/report.js';
import { GB, MB } from './lib/scenario.js';
import {
  berthCommand,
  ROOT,
  startCandidate,
  startReference,
  type RunningRegistry,
} from './lib/servers.js';
import { median, percentile, sleep } from './lib/stats.js';

export const PROXY_NAMES = ['blob', 'image'] as const;
type Content = (typeof PROXY_NAMES)[number];

/** How content reaches the client. Cold must come before warm: warm pulls what cold cached. */
const PATHS = ['hosted', 'cold', 'warm', 'reference'] as const;
type PullPath = (typeof PATHS)[number];
const PATH_LABEL: Record<PullPath, string> = {
  hosted: 'hosted',
  cold: 'proxy cold',
  warm: 'proxy warm',
  reference: 'Distribution',
};

const NAMESPACE = 'hub';
const BLOB_REPO = 'library/big';
const IMAGE_REPO = 'library/small';

export interface ProxySizes {
  /** Size of the large blob; `blobs` distinct ones are pulled once each per path. */
  blob: number;
  blobs: number;
  /** Images of `layers` layers of `layer` bytes (plus a 1 KiB config), each pulled once per path. */
  images: number;
  layers: number;
  layer: number;
}

/**
 * The blob stays 256 MiB in `--quick` (a smaller one is over before the 10 ms CPU ticks say much);
 * quick pulls fewer of everything.
 */
export function proxySizes(quick: boolean): ProxySizes {
  return quick
    ? { blob: 256 * MiB, blobs: 2, images: 16, layers: 8, layer: MiB }
    : { blob: 256 * MiB, blobs: 3, images: 32, layers: 8, layer: MiB };
}

interface Image {
  tag: string;
  config: Blob;
  layers: Blob[];
  manifest: Buffer;
}

/** The content of one side: `hosted` is pushed into Berth, `proxied` into the upstream. */
interface Side {
  blobs: Blob[];
  /** Manifests naming each large blob, so the proxy knows the repository as clients meet it. */
  blobImages: Image[];
  images: Image[];
}

function side(blobs: BlobFactory, s: ProxySizes, prefix: 'hosted' | 'proxied'): Side {
  const image = (name: string, layers: Blob[]): Image => {
    const config = blobs.blob(`${prefix}-${name}-config`, 1024);
    return { tag: name, config, layers, manifest: imageManifest(config, layers, name) };
  };
  const large = Array.from({ length: s.blobs }, (_, i) =>
    blobs.blob(`${prefix}-blob-${i}`, s.blob),
  );
  return {
    blobs: large,
    blobImages: large.map((blob, i) => image(`blob-${i}`, [blob])),
    images: Array.from({ length: s.images }, (_, i) =>
      image(
        `img-${i}`,
        Array.from({ length: s.layers }, (_, j) =>
          blobs.blob(`${prefix}-img-${i}-layer-${j}`, s.layer),
        ),
      ),
    ),
  };
}

async function pushImage(client: RegistryClient, repo: string, image: Image): Promise<void> {
  for (const blob of [image.config, ...image.layers]) await client.pushMonolithic(repo, blob);
  await client.putManifest(repo, image.tag, image.manifest);
}

/** One path's pulls of one kind of content, timed on one server's PID. */
export interface PathResult {
  content: Content;
  path: PullPath;
  bytes: number;
  wallSeconds: number;
  mbps: number;
  /** CPU of the server that answered (Berth; Distribution for `reference`), per GB pulled. */
  cpuPerGB: number;
  peakRssMB: number;
  /** Images only: each image's pull, manifest to last layer. */
  imageP50Ms?: number;
  imageP99Ms?: number;
  /**
   * Cold and warm: the upstream's CPU meanwhile, per GB pulled (what a fill costs it; about 0 when
   * warm, which shows the warm pulls were served from the cache).
   */
  upstreamCpuPerGB?: number;
}

interface Round {
  round: number;
  order: PullPath[];
  results: PathResult[];
  errors: string[];
}

/** GET the manifest by tag, check it is the pushed one, then each blob with digest checks. */
async function pullImage(
  client: RegistryClient,
  repo: string,
  image: Image,
  afterBlob: ((repo: string, blob: Blob) => Promise<void>) | null,
): Promise<number> {
  const res = await client.getManifest(repo, image.tag, 'GET');
  if (!res.body.equals(image.manifest)) {
    throw new Error(`GET manifest ${repo}:${image.tag}: not the manifest that was pushed`);
  }
  let bytes = res.body.length;
  for (const blob of [image.config, ...image.layers]) {
    await client.pullVerified(repo, blob);
    await afterBlob?.(repo, blob);
    bytes += blob.size;
  }
  return bytes;
}

interface Servers {
  berth: RunningRegistry;
  upstream: RunningRegistry;
  hosted: Side;
  proxied: Side;
}

/** Where each path pulls from: server, repository prefix, content. */
function source(
  servers: Servers,
  via: PullPath,
): { server: RunningRegistry; prefix: string; side: Side } {
  switch (via) {
    case 'hosted':
      return { server: servers.berth, prefix: '', side: servers.hosted };
    case 'cold':
    case 'warm':
      return { server: servers.berth, prefix: `${NAMESPACE}/`, side: servers.proxied };
    case 'reference':
      return { server: servers.upstream, prefix: '', side: servers.proxied };
  }
}

async function runPath(
  servers: Servers,
  blobs: BlobFactory,
  content: Content,
  via: PullPath,
): Promise<PathResult> {
  const { server, prefix, side: pulled } = source(servers, via);
  const client = new RegistryClient(server.url, blobs);
  // A cold pull lasts until its blob is cached: the fill's write and commit are its cost too.
  const untilCached =
    via === 'cold' ? (repo: string, blob: Blob) => client.pullFirstByte(repo, blob) : null;
  try {
    if (content === 'blob' && via === 'cold') {
      // Untimed: clients ask for the manifest first; the timed part is the blob alone.
      for (const image of pulled.blobImages) {
        await client.getManifest(`${prefix}${BLOB_REPO}`, image.tag, 'GET');
      }
    }
    const upstreamCpu0 = cpuSeconds(servers.upstream.pid);
    const times: number[] = [];
    const { result: bytes, usage } = await measure(server.pid, async () => {
      let bytes = 0;
      if (content === 'blob') {
        const repo = `${prefix}${BLOB_REPO}`;
        for (const blob of pulled.blobs) {
          await client.pullVerified(repo, blob);
          await untilCached?.(repo, blob);
          bytes += blob.size;
        }
      } else {
        const repo = `${prefix}${IMAGE_REPO}`;
        for (const image of pulled.images) {
          const t0 = performance.now();
          bytes += await pullImage(client, repo, image, untilCached);
          times.push(performance.now() - t0);
        }
      }
      return bytes;
    });
    const upstreamCpu = cpuSeconds(servers.upstream.pid) - upstreamCpu0;
    return {
      content,
      path: via,
      bytes,
      wallSeconds: usage.wallSeconds,
      mbps: bytes / MB / usage.wallSeconds,
      cpuPerGB: usage.cpuSeconds / (bytes / GB),
      peakRssMB: usage.peakRssBytes / MB,
      ...(times.length > 0
        ? { imageP50Ms: percentile(times, 50), imageP99Ms: percentile(times, 99) }
        : {}),
      ...(via === 'cold' || via === 'warm' ? { upstreamCpuPerGB: upstreamCpu / (bytes / GB) } : {}),
    };
  } finally {
    client.close();
  }
}

async function runRound(
  round: number,
  blobs: BlobFactory,
  s: ProxySizes,
  contents: readonly Content[],
  log: (message: string) => void,
): Promise<Round> {
  // Cold before warm always; the others swap ends between rounds.
  const order: PullPath[] =
    round % 2 === 1
      ? ['hosted', 'cold', 'warm', 'reference']
      : ['reference', 'cold', 'warm', 'hosted'];
  const result: Round = { round, order, results: [], errors: [] };
  const upstream = await startReference();
  let berth: RunningRegistry | undefined;
  try {
    berth = await startCandidate();
    log(
      `round ${round}: upstream Distribution pid ${upstream.pid} on ${upstream.url}, Berth pid ${berth.pid} on ${berth.url}`,
    );
    const servers: Servers = {
      berth,
      upstream,
      hosted: side(blobs, s, 'hosted'),
      proxied: side(blobs, s, 'proxied'),
    };
    const push = async (server: RunningRegistry, content: Side): Promise<void> => {
      const client = new RegistryClient(server.url, blobs);
      try {
        for (const image of content.blobImages) await pushImage(client, BLOB_REPO, image);
        for (const image of content.images) await pushImage(client, IMAGE_REPO, image);
      } finally {
        client.close();
      }
    };
    log(`round ${round}: pushing (untimed)`);
    await push(upstream, servers.proxied);
    await push(berth, servers.hosted);
    await berthCommand(berth, ['namespace', 'create', NAMESPACE, '--proxy', upstream.url]);
    for (const content of contents) {
      for (const via of order) {
        log(`round ${round}: ${content}, ${PATH_LABEL[via]}`);
        // Each path starts with no dirty pages (the upstream does not fsync what was pushed into
        // it; the previous path's writes): their writeback slowed the path after them.
        execFileSync('sync');
        try {
          result.results.push(await runPath(servers, blobs, content, via));
        } catch (err) {
          const message = err instanceof Error ? err.message : String(err);
          log(`round ${round}: ${content}, ${PATH_LABEL[via]} FAILED: ${message}`);
          result.errors.push(`round ${round}, ${content}, ${PATH_LABEL[via]}: ${message}`);
          // Warm pulls what cold cached: without it, warm would measure another cold.
          if (via === 'cold') break;
        }
      }
    }
  } finally {
    await berth?.stop();
    await upstream.stop();
  }
  return result;
}

// ---- Summary ----

type Metric = 'mbps' | 'cpuPerGB' | 'peakRssMB' | 'imageP50Ms';
const METRICS: { metric: Metric; label: string; unit: string; better: 'higher' | 'lower' }[] = [
  { metric: 'mbps', label: 'throughput', unit: 'MB/s', better: 'higher' },
  { metric: 'imageP50Ms', label: 'one image, p50', unit: 'ms', better: 'lower' },
  { metric: 'cpuPerGB', label: 'server CPU', unit: 'CPU-s/GB', better: 'lower' },
  { metric: 'peakRssMB', label: 'server peak RSS', unit: 'MB', better: 'lower' },
];

export interface ProxySummaryRow {
  content: Content;
  metric: Metric;
  label: string;
  unit: string;
  better: 'higher' | 'lower';
  /** Median over the rounds, per path. */
  values: Record<PullPath, number | null>;
  /** Per-round ratios' median and spread: warm / hosted and cold / hosted. */
  warmVsHosted: Ratio | null;
  coldVsHosted: Ratio | null;
}

interface Ratio {
  median: number;
  min: number;
  max: number;
}

function ratioOf(values: number[]): Ratio | null {
  if (values.length === 0) return null;
  return { median: median(values), min: Math.min(...values), max: Math.max(...values) };
}

export function summarizeProxy(rounds: Round[]): ProxySummaryRow[] {
  const rows: ProxySummaryRow[] = [];
  for (const content of PROXY_NAMES) {
    for (const m of METRICS) {
      const get = (round: Round, via: PullPath): number | undefined => {
        const value = round.results.find((r) => r.content === content && r.path === via)?.[
          m.metric
        ];
        return value !== undefined && Number.isFinite(value) ? value : undefined;
      };
      const values = {} as Record<PullPath, number | null>;
      for (const via of PATHS) {
        const all = rounds.map((r) => get(r, via)).filter((v) => v !== undefined);
        values[via] = all.length > 0 ? median(all) : null;
      }
      if (PATHS.every((p) => values[p] === null)) continue;
      const ratios = (via: PullPath): Ratio | null =>
        ratioOf(
          rounds.flatMap((r) => {
            const v = get(r, via);
            const base = get(r, 'hosted');
            return v !== undefined && base !== undefined && base !== 0 ? [v / base] : [];
          }),
        );
      rows.push({
        content,
        metric: m.metric,
        label: m.label,
        unit: m.unit,
        better: m.better,
        values,
        warmVsHosted: ratios('warm'),
        coldVsHosted: ratios('cold'),
      });
    }
  }
  return rows;
}

function formatRatio(r: Ratio | null): string {
  if (r === null) return '—';
  return `${r.median.toFixed(2)}× (${r.min.toFixed(2)}–${r.max.toFixed(2)})`;
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [
    line(header),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...rows.map(line),
  ].join('\n');
}

function contentLabel(content: Content, s: ProxySizes): string {
  return content === 'blob'
    ? `blob ${Math.round(s.blob / MiB)} MiB × ${s.blobs}`
    : `image ${s.layers} × ${Math.round(s.layer / MiB)} MiB, × ${s.images}`;
}

export function formatProxySummary(rows: ProxySummaryRow[], s: ProxySizes): string {
  return table(
    [
      'content',
      'figure',
      'unit',
      'better',
      ...PATHS.map((p) => PATH_LABEL[p]),
      'warm / hosted',
      'cold / hosted',
    ],
    rows.map((r) => [
      contentLabel(r.content, s),
      r.label,
      r.unit,
      r.better,
      ...PATHS.map((p) => formatNumber(r.values[p])),
      formatRatio(r.warmVsHosted),
      formatRatio(r.coldVsHosted),
    ]),
  );
}

export interface ProxyOptions {
  rounds: number;
  quick: boolean;
  only: Set<string> | null;
}

export async function runProxy(
  options: ProxyOptions,
  blobs: BlobFactory,
  machine: Record<string, unknown>,
  referenceVersion: string,
  log: (message: string) => void,
): Promise<void> {
  const s = proxySizes(options.quick);
  const contents = PROXY_NAMES.filter((c) => options.only?.has(c) ?? true);
  // Digests before any server runs (hashing would otherwise share the cores with the pulls).
  side(blobs, s, 'hosted');
  side(blobs, s, 'proxied');
  const rounds: Round[] = [];
  for (let round = 1; round <= options.rounds; round++) {
    try {
      rounds.push(await runRound(round, blobs, s, contents, log));
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      log(`round ${round} FAILED: ${message}`);
      rounds.push({ round, order: [], results: [], errors: [`round ${round}: ${message}`] });
    }
    await sleep(1000); // Let the disk settle between rounds.
  }

  const summary = summarizeProxy(rounds);
  /** The upstream's CPU per GB during one Berth path's pulls, median of the rounds. */
  const upstreamLine = (content: Content, via: 'cold' | 'warm'): string[] => {
    const values = rounds.flatMap((r) =>
      r.results
        .filter((x) => x.content === content && x.path === via)
        .flatMap((x) => (x.upstreamCpuPerGB !== undefined ? [x.upstreamCpuPerGB] : [])),
    );
    return values.length > 0
      ? [`- ${contentLabel(content, s)}, ${PATH_LABEL[via]}: ${formatNumber(median(values))}`]
      : [];
  };
  const output = [
    '',
    `Proxy mode: Berth hosted vs Berth proxy namespace (cold, warm) over ${referenceVersion}, and that Distribution's own pulls — ${options.rounds} round(s)${options.quick ? ', --quick sizes' : ''}`,
    `${String(machine['cpu'])}, ${String(machine['cores'])} cores, Node ${process.version}, Berth ${String(machine['berth'])}`,
    "Medians of the rounds; ratios per round, then their median (min–max). Server CPU and RSS are Berth's, Distribution's in its column.",
    '',
    summary.length > 0 ? formatProxySummary(summary, s) : '(nothing measured)',
    '',
    'Upstream (Distribution) CPU meanwhile, CPU-s per GB pulled:',
    ...contents.flatMap((content) => [
      ...upstreamLine(content, 'cold'),
      ...upstreamLine(content, 'warm'),
    ]),
    '',
  ];
  const errors = rounds.flatMap((r) => r.errors.map((e) => `- ${e}`));
  if (errors.length > 0) output.push('Errors:', ...errors, '');

  const date = new Date().toISOString().replace(/:/g, '-').replace(/\..*$/, '');
  const file = path.join(ROOT, 'bench', 'results', `${date}-proxy.json`);
  await mkdir(path.dirname(file), { recursive: true });
  const record = {
    date: new Date().toISOString(),
    mode: 'proxy',
    machine,
    options: { ...options, only: options.only ? [...options.only] : null },
    sizes: s,
    summary,
    rounds,
  };
  await writeFile(file, `${JSON.stringify(record, null, 2)}\n`);
  output.push(`Results: ${path.relative(ROOT, file)}`);
  process.stdout.write(`${output.join('\n')}\n`);
  if (errors.length > 0) process.exitCode = 1;
}
