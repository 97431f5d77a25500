/**
 * `npm run bench -- --engines s3`: the scale-out mode. Berth on PostgreSQL + Ceph RGW side by side
 * with CNCF Distribution 2.8 on the same kind of Ceph RGW (its `s3` driver), then Berth's scaling
 * curve: 1, 2 and 3 replicas behind nginx. See bench/README.md, "Scale-out mode".
 *
 * Each scenario of each registry gets a fresh Ceph cluster (`lib/engines.ts`) and a bucket of its
 * own; Berth gets a database of its own on one PostgreSQL cluster started for the whole run. A counting
 * proxy (`lib/s3-counter.ts`) sits between each registry and its gateway, so the bytes and
 * requests each push sends to S3 are counted the same way for both.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { BlobFactory } from './lib/blobs.js';
import { MiB } from './lib/blobs.js';
import {
  startBalancer,
  startCeph,
  startPostgres,
  type Ceph,
  type Postgres,
} from './lib/engines.js';
import { runLoad, type LoadResult } from './lib/loadgen.js';
import { cpuSeconds, machineBusySeconds, reapedChildrenCpuSeconds } from './lib/proc-stats.js';
import { imageManifest, MANIFEST_ACCEPT, RegistryClient } from './lib/registry-client.js';
import { formatNumber, formatSummary, summarize, type RoundResult } from './lib/report.js';
import { countsSince, startS3Counter, type S3Counter, type S3Counts } from './lib/s3-counter.js';
import {
  figure,
  MB,
  type Figure,
  type Scenario,
  scenarioContext,
  type Sizes,
} from './lib/scenario.js';
import {
  ROLE_LABEL,
  ROOT,
  startCandidate,
  startRegistry,
  type RunningRegistry,
  type Role,
} from './lib/servers.js';
import { sleep } from './lib/stats.js';
import { pull } from './scenarios/blob-pull.js';
import { pushLarge, pushSmall } from './scenarios/blob-push.js';
import { concurrent } from './scenarios/concurrent.js';
import { manifestGet } from './scenarios/manifests.js';

/** ENGINES.md §5: what this mode can and cannot claim. */
export const ENGINES_LABEL =
  'real engines: Ceph RGW 16.2 (1 memstore OSD, 2 gateways), PostgreSQL 15, nginx 1.22; single host, loopback; AWS S3 untested';

export const SCALE_OUT_SCENARIOS: Scenario[] = [
  pushSmall,
  pushLarge,
  pull,
  concurrent,
  manifestGet,
];
export const SCALING = 'scaling';
export const SCALE_OUT_NAMES = [...SCALE_OUT_SCENARIOS.map((s) => s.name), SCALING];

/**
 * The default sizes, with less data a scenario (at most 512 MiB of blobs): the OSD holds every
 * object in memory (2 GiB cap), and what a registry deletes (Distribution's upload objects, after
 * its copy) stays there until RGW's garbage collection, a minute or two later.
 */
export function scaleOutSizes(base: Sizes): Sizes {
  return {
    ...base,
    largeCount: Math.min(base.largeCount, 2),
    concurrentBlobs: Math.min(base.concurrentBlobs, 2),
  };
}

/** What the pushing scenarios push: the divisor of the bytes and requests sent to S3. */
const PUSHED: Record<string, (s: Sizes) => { blobs: number; bytes: number }> = {
  'push-small': (s) => ({ blobs: s.smallCount, bytes: s.smallCount * s.smallBlob }),
  'push-large': (s) => ({ blobs: s.largeCount, bytes: s.largeCount * s.largeBlob }),
  concurrent: (s) => {
    const blobs = s.concurrentClients * s.concurrentBlobs;
    return { blobs, bytes: blobs * s.concurrentBlob };
  },
};

function copies(counts: S3Counts): number {
  return (counts.kinds['PUT copy'] ?? 0) + (counts.kinds['PUT part-copy'] ?? 0);
}

function s3Figures(scenario: string, sizes: Sizes, counts: S3Counts): Figure[] {
  const pushed = PUSHED[scenario]?.(sizes);
  if (!pushed) return [];
  return [
    figure(
      scenario,
      's3.bytes',
      `${scenario}: bytes sent to S3 ÷ blob bytes`,
      '×',
      'lower',
      counts.bytes / pushed.bytes,
    ),
    figure(
      scenario,
      's3.requests',
      `${scenario}: S3 requests per blob`,
      'req',
      'lower',
      counts.requests / pushed.blobs,
    ),
    figure(
      scenario,
      's3.copies',
      `${scenario}: server-side copies per blob`,
      'req',
      'lower',
      copies(counts) / pushed.blobs,
    ),
  ];
}

export interface ScaleOutOptions {
  rounds: number;
  only: Set<string> | null;
  candidateOnly: boolean;
  quick: boolean;
}

type Log = (message: string) => void;

interface S3Record {
  round: number;
  role: Role;
  scenario: string;
  counts: S3Counts;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * One scenario against one registry on a fresh Ceph cluster, in a new bucket (and Berth on a new
 * database). Fresh per scenario, not per registry run: the OSD keeps objects in memory (2 GiB
 * cap) and RGW frees deleted objects a minute or two later, so the scenarios of one run, with
 * Distribution's upload-then-copy, filled it up and its writes stalled (a 1 KiB PUT timed out).
 */
async function runScenarioOnEngines(
  role: Role,
  round: number,
  pg: Postgres,
  scenario: Scenario,
  blobs: BlobFactory,
  sizes: Sizes,
  result: RoundResult,
  s3: S3Record[],
  log: Log,
): Promise<Figure[]> {
  const name = ROLE_LABEL[role];
  const ceph = await startCeph();
  let counter: S3Counter | undefined;
  let registry: RunningRegistry | undefined;
  const clients: RegistryClient[] = [];
  try {
    const bucket = `bench-${role}`;
    await ceph.bucket(bucket);
    counter = await startS3Counter(ceph.endpoints[0] ?? '');
    const metaUrl = role === 'candidate' ? await pg.database('bench') : '';
    const engines = {
      s3Endpoint: counter.endpoint,
      bucket,
      accessKey: ceph.accessKey,
      secretKey: ceph.secretKey,
      metaUrl,
    };
    registry = await startRegistry(role, { engines });
    const running = registry;
    log(
      `${name}: ${scenario.name} (Ceph ready in ${ceph.readyMs} ms, ${name} in ${running.readyMs.toFixed(0)} ms, pid ${running.pid})`,
    );
    const ctx = scenarioContext({
      registry: running,
      blobs,
      sizes,
      clients,
      log: (message) => log(`${name} ${scenario.name}: ${message}`),
    });
    const before = counter.counts();
    try {
      const figures = await scenario.run(ctx);
      const sent = countsSince(before, counter.counts());
      s3.push({ round, role, scenario: scenario.name, counts: sent });
      return [...figures, ...s3Figures(scenario.name, sizes, sent)];
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const died = isAlive(running.pid) ? '' : ` (${name} died:\n${running.output()})`;
      log(`${name} ${scenario.name} FAILED: ${message}${died}`);
      result.errors.push({ role, scenario: scenario.name, message: `${message}${died}` });
      return [];
    }
  } finally {
    for (const client of clients) client.close();
    log(`${name}: Ceph daemons' RSS at the end ${Math.round(ceph.rss() / MB)} MB`);
    await registry?.stop();
    await counter?.close();
    await ceph.stop();
  }
}

// ---- Scaling: 1, 2, 3 replicas behind nginx ----

const REPLICAS = 3;
const SCALE_REPO = 'library/scale';

interface ScalingSizes {
  blob: number;
  manifestConnections: number;
  pullConnections: number;
  loadMs: number;
  warmupMs: number;
}

/** CPU use of each process group during one load, in cores (CPU seconds per wall second). */
type Cores = Record<string, number>;

export interface ScalingPoint {
  replicas: number;
  manifestGet: LoadResult & { cores: Cores };
  blobPull: LoadResult & { mbps: number; cores: Cores };
}

/** Per group, the CPU seconds of each PID now (PIDs looked up now: backends come and go). */
function cpuByPid(groups: Record<string, () => number[]>): Map<string, Map<number, number>> {
  const out = new Map<string, Map<number, number>>();
  for (const [group, pids] of Object.entries(groups)) {
    const byPid = new Map<number, number>();
    for (const pid of pids()) {
      try {
        byPid.set(pid, cpuSeconds(pid));
      } catch {
        // Gone.
      }
    }
    out.set(group, byPid);
  }
  return out;
}

async function withCores<T extends { requests: number }>(
  groups: Record<string, () => number[]>,
  work: () => Promise<T>,
): Promise<{ result: T; cores: Cores; wallSeconds: number }> {
  const before = cpuByPid(groups);
  const machine0 = machineBusySeconds();
  const reaped0 = reapedChildrenCpuSeconds();
  const self0 = process.cpuUsage();
  const t0 = performance.now();
  const result = await work();
  const wallSeconds = (performance.now() - t0) / 1000;
  const after = cpuByPid(groups);
  const self = process.cpuUsage(self0);
  // The load generator is a child that ends with its load: its CPU is in our reaped children's.
  const loadgen = reapedChildrenCpuSeconds() - reaped0;
  const bench = (self.user + self.system) / 1e6;
  const cores: Cores = {};
  let known = 0;
  for (const [group, byPid] of after) {
    let sum = 0;
    for (const [pid, cpu] of byPid) sum += cpu - (before.get(group)?.get(pid) ?? 0);
    cores[group] = sum / wallSeconds;
    known += sum;
  }
  cores['load generator'] = loadgen / wallSeconds;
  cores['bench'] = bench / wallSeconds;
  const machine = machineBusySeconds() - machine0;
  cores['machine'] = machine / wallSeconds;
  // Whatever else runs on the machine (other users' work).
  cores['other'] = (machine - known - loadgen - bench) / wallSeconds;
  return { result, cores, wallSeconds };
}

async function runScaling(
  pg: Postgres,
  blobs: BlobFactory,
  s: ScalingSizes,
  log: Log,
): Promise<ScalingPoint[]> {
  const ceph: Ceph = await startCeph();
  const replicas: RunningRegistry[] = [];
  const points: ScalingPoint[] = [];
  try {
    await ceph.bucket('bench-scaling');
    const metaUrl = await pg.database('bench_scaling');
    // Half the replicas on each gateway: the gateway tier is several nodes too (ENGINES.md §5).
    for (let i = 0; i < REPLICAS; i++) {
      const endpoint = ceph.endpoints[i % ceph.endpoints.length] ?? '';
      const engines = {
        s3Endpoint: endpoint,
        bucket: 'bench-scaling',
        accessKey: ceph.accessKey,
        secretKey: ceph.secretKey,
        metaUrl,
      };
      replicas.push(await startCandidate({ engines }));
    }
    log(`scaling: ${REPLICAS} replicas up (pids ${replicas.map((r) => r.pid).join(', ')})`);
    const first = replicas[0];
    if (!first) throw new Error('no replica');
    const layer = blobs.blob('scale-pull', s.blob);
    const config = blobs.blob('scale-config', 1024);
    const client = new RegistryClient(first.url, blobs);
    try {
      await client.pushMonolithic(SCALE_REPO, config);
      await client.pushMonolithic(SCALE_REPO, layer);
      await client.putManifest(SCALE_REPO, 'latest', imageManifest(config, layer, 'latest'));
    } finally {
      client.close();
    }
    for (let n = 1; n <= REPLICAS; n++) {
      const serving = replicas.slice(0, n);
      const lb = await startBalancer(serving.map((r) => new URL(r.url).host));
      try {
        const groups: Record<string, () => number[]> = {};
        serving.forEach((r, i) => (groups[`replica ${i + 1}`] = () => [r.pid]));
        groups['nginx'] = () => lb.pids();
        groups['rgw'] = () => ceph.gatewayPids();
        groups['osd+mon'] = () => ceph.storePids();
        groups['postgres'] = () => pg.pids();
        const manifest = {
          url: `${lb.url}/v2/${SCALE_REPO}/manifests/latest`,
          method: 'GET' as const,
          headers: { Accept: MANIFEST_ACCEPT },
          connections: s.manifestConnections,
        };
        const blob = {
          url: `${lb.url}/v2/${SCALE_REPO}/blobs/${layer.digest}`,
          method: 'GET' as const,
          connections: s.pullConnections,
        };
        log(`scaling: ${n} replica(s), manifest GET`);
        await runLoad({ ...manifest, durationMs: s.warmupMs });
        const m = await withCores(groups, () => runLoad({ ...manifest, durationMs: s.loadMs }));
        log(`scaling: ${n} replica(s), blob pull`);
        await runLoad({ ...blob, durationMs: s.warmupMs });
        const b = await withCores(groups, () => runLoad({ ...blob, durationMs: s.loadMs }));
        for (const [what, r] of [
          ['manifest GET', m.result],
          ['blob GET', b.result],
        ] as const) {
          if (r.errors + r.non2xx > 0)
            throw new Error(
              `${what} through nginx, ${n} replica(s): ${r.non2xx} non-2xx, ${r.errors} errors`,
            );
        }
        points.push({
          replicas: n,
          manifestGet: { ...m.result, cores: m.cores },
          blobPull: {
            ...b.result,
            mbps: (b.result.requests * layer.size) / MB / b.wallSeconds,
            cores: b.cores,
          },
        });
      } finally {
        await lb.stop();
      }
    }
  } finally {
    for (const replica of replicas) await replica.stop();
    await ceph.stop();
  }
  return points;
}

function formatCores(cores: Cores): string {
  return Object.entries(cores)
    .map(([group, c]) => `${group} ${c.toFixed(2)}`)
    .join(', ');
}

function formatScaling(points: ScalingPoint[], s: ScalingSizes): string {
  const base = points[0];
  const rel = (v: number, b: number | undefined): string =>
    b === undefined || b === 0 ? '—' : `${(v / b).toFixed(2)}×`;
  const lines = [
    `Scaling: Berth replicas behind nginx (round robin), manifest GET by tag from ${s.manifestConnections} connections, ` +
      `blob GET of ${Math.round(s.blob / MiB)} MiB from ${s.pullConnections} connections (client discards), ${s.loadMs / 1000} s each`,
    '',
    '| replicas | manifest GET req/s | vs 1 | p99 ms | blob pull MB/s | vs 1 |',
    '|---|---|---|---|---|---|',
    ...points.map(
      (p) =>
        `| ${p.replicas} | ${formatNumber(p.manifestGet.requestsPerSecond)} | ${rel(p.manifestGet.requestsPerSecond, base?.manifestGet.requestsPerSecond)} | ${formatNumber(p.manifestGet.p99Ms)} | ${formatNumber(p.blobPull.mbps)} | ${rel(p.blobPull.mbps, base?.blobPull.mbps)} |`,
    ),
    '',
    'CPU in cores (CPU-s per wall-s; "machine" = all of it, "other" = processes not started by the bench):',
    ...points.flatMap((p) => [
      `- ${p.replicas} replica(s), manifest GET: ${formatCores(p.manifestGet.cores)}`,
      `- ${p.replicas} replica(s), blob pull: ${formatCores(p.blobPull.cores)}`,
    ]),
  ];
  return lines.join('\n');
}

export async function runScaleOut(
  options: ScaleOutOptions,
  baseSizes: Sizes,
  blobs: BlobFactory,
  machine: Record<string, unknown>,
  referenceVersion: string | null,
  log: Log,
): Promise<void> {
  const sizes = scaleOutSizes(baseSizes);
  const selected = SCALE_OUT_SCENARIOS.filter((s) => options.only?.has(s.name) ?? true);
  const scaling: ScalingSizes = {
    blob: options.quick ? 16 * MiB : 32 * MiB,
    manifestConnections: sizes.loadConnections,
    pullConnections: 8,
    loadMs: sizes.loadMs,
    warmupMs: sizes.warmupMs,
  };
  for (const scenario of selected) scenario.prepare?.(blobs, sizes);
  const roles: Role[] = options.candidateOnly ? ['candidate'] : ['candidate', 'reference'];
  log(`scale-out mode: ${ENGINES_LABEL}`);
  const pg = await startPostgres();
  const rounds: RoundResult[] = [];
  const s3: S3Record[] = [];
  let points: ScalingPoint[] = [];
  const errors: string[] = [];
  try {
    if (selected.length > 0) {
      for (let round = 1; round <= options.rounds; round++) {
        const order = round % 2 === 1 ? roles : [...roles].reverse();
        const result: RoundResult = {
          round,
          order,
          figures: { candidate: [], reference: [] },
          errors: [],
        };
        for (const role of order) {
          log(`round ${round}/${options.rounds}: ${ROLE_LABEL[role]} on Ceph RGW`);
          // A registry or cluster that does not start fails its scenario, not the round's others.
          for (const scenario of selected) {
            try {
              result.figures[role].push(
                ...(await runScenarioOnEngines(
                  role,
                  round,
                  pg,
                  scenario,
                  blobs,
                  sizes,
                  result,
                  s3,
                  log,
                )),
              );
            } catch (err) {
              const message = err instanceof Error ? err.message : String(err);
              log(`${ROLE_LABEL[role]} ${scenario.name} FAILED: ${message}`);
              result.errors.push({ role, scenario: `${scenario.name} (start)`, message });
            }
          }
          await sleep(1000);
        }
        rounds.push(result);
      }
    }
    if (options.only?.has(SCALING) ?? true) {
      try {
        points = await runScaling(pg, blobs, scaling, log);
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        log(`scaling FAILED: ${message}`);
        errors.push(`- scaling: ${message}`);
      }
    }
  } finally {
    await pg.stop();
  }

  const summary = summarize(rounds);
  const withReference = !options.candidateOnly;
  const output = [
    '',
    `Scale-out mode: Berth (PostgreSQL + S3) vs ${referenceVersion ?? 'no reference'} (S3) — ${options.rounds} round(s)${options.quick ? ', --quick sizes' : ''}`,
    ENGINES_LABEL,
    `${String(machine['cpu'])}, ${String(machine['cores'])} cores, Node ${process.version}, Berth ${String(machine['berth'])}`,
    '',
    summary.length > 0 ? formatSummary(summary, withReference) : '(no side-by-side scenarios)',
    '',
    ...(points.length > 0 ? [formatScaling(points, scaling), ''] : []),
  ];
  errors.unshift(
    ...rounds.flatMap((r) =>
      r.errors.map((e) => `- round ${r.round}, ${ROLE_LABEL[e.role]}, ${e.scenario}: ${e.message}`),
    ),
  );
  if (errors.length > 0) output.push('Errors:', ...errors, '');

  const date = new Date().toISOString().replace(/:/g, '-').replace(/\..*$/, '');
  const file = path.join(ROOT, 'bench', 'results', `${date}-s3.json`);
  await mkdir(path.dirname(file), { recursive: true });
  const record = {
    date: new Date().toISOString(),
    mode: 'engines=s3',
    engines: ENGINES_LABEL,
    machine,
    options: { ...options, only: options.only ? [...options.only] : null },
    sizes,
    scalingSizes: scaling,
    summary,
    rounds,
    s3Requests: s3,
    scaling: points,
  };
  await writeFile(file, `${JSON.stringify(record, null, 2)}\n`);
  output.push(`Results: ${path.relative(ROOT, file)}`);
  process.stdout.write(`${output.join('\n')}\n`);
  if (errors.length > 0) process.exitCode = 1;
}
