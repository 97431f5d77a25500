/**
 * `npm run bench`: Berth side by side with the reference registry (CNCF Distribution), in one run,
 * on this machine. See bench/README.md for what each figure means.
 *
 *   npm run bench -- [--rounds N] [--quick] [--only a,b] [--candidate-only] [--engines s3] [--proxy]
 *
 * Each round starts each registry on an empty data directory, runs the selected scenarios against
 * it and stops it; the order alternates between rounds. The machine's limits are measured once,
 * before the first round. `--engines s3` runs the scale-out mode instead (scale-out.ts), `--proxy`
 * the pull-through cache against hosted pulls (proxy.ts).
 */
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BlobFactory, MiB } from './lib/blobs.js';
import { measureLimits, type Limit } from './lib/limits.js';
import { cleanupAll, installCleanupHandlers } from './lib/procs.js';
import type { RegistryClient } from './lib/registry-client.js';
import { formatLimits, formatSummary, summarize, type RoundResult } from './lib/report.js';
import { scenarioContext, type Figure, type Scenario, type Sizes } from './lib/scenario.js';
import {
  berthBuilt,
  ensureReference,
  ROLE_LABEL,
  ROOT,
  startRegistry,
  type Role,
} from './lib/servers.js';
import { sleep } from './lib/stats.js';
import { pull } from './scenarios/blob-pull.js';
import { chunked, pushLarge, pushSmall, singlePost, streamed } from './scenarios/blob-push.js';
import { concurrent } from './scenarios/concurrent.js';
import { catalog, tags } from './scenarios/listings.js';
import { manifestGet, manifestHead, manifestPush } from './scenarios/manifests.js';
import { startup } from './scenarios/startup.js';
import { token } from './scenarios/token.js';
import { PROXY_NAMES, runProxy } from './proxy.js';
import { runScaleOut, SCALE_OUT_NAMES } from './scale-out.js';

const SCENARIOS: Scenario[] = [
  startup,
  pushSmall,
  pushLarge,
  singlePost,
  chunked,
  streamed,
  pull,
  concurrent,
  manifestPush,
  manifestGet,
  manifestHead,
  tags,
  catalog,
  token,
];
const LIMITS = 'limits';

const FULL: Sizes = {
  idleMs: 1000,
  smallBlob: MiB,
  smallCount: 200,
  largeBlob: 256 * MiB,
  largeCount: 3,
  chunk: 8 * MiB,
  pullCount: 3,
  concurrentClients: 16,
  concurrentBlobs: 8,
  concurrentBlob: 16 * MiB,
  manifestPushes: 500,
  loadConnections: 64,
  tokenConnections: 16,
  loadMs: 10_000,
  warmupMs: 2000,
  tagCounts: [500, 10_000],
  catalogRepos: 100,
  listingMinRequests: 100,
  listingMs: 3000,
  limitBytes: 1024 * MiB,
};

const QUICK: Sizes = {
  ...FULL,
  smallCount: 50,
  largeBlob: 64 * MiB,
  largeCount: 2,
  pullCount: 2,
  concurrentBlobs: 2,
  concurrentBlob: 8 * MiB,
  manifestPushes: 100,
  loadMs: 3000,
  warmupMs: 1000,
  tagCounts: [500, 2000],
  catalogRepos: 30,
  listingMinRequests: 20,
  listingMs: 1000,
  limitBytes: 256 * MiB,
};

interface Options {
  rounds: number;
  quick: boolean;
  only: Set<string> | null;
  candidateOnly: boolean;
  /** `embedded` (SQLite + files, the default) or `s3` (scale-out mode: PostgreSQL + Ceph RGW). */
  engines: 'embedded' | 's3';
  /** Proxy mode: pulls through a proxy namespace (cold, warm) against hosted pulls. */
  proxy: boolean;
}

const USAGE = `usage: npm run bench -- [--rounds N] [--quick] [--only a,b,...] [--candidate-only]
                           [--engines s3 | --proxy]
  --rounds N         rounds, each registry once per round, order alternating (default 3; --quick: 1)
  --quick            a smoke run of a few minutes: 1 round, smaller sizes, shorter loads
  --only LIST        comma-separated, from: ${[LIMITS, ...SCENARIOS.map((s) => s.name)].join(', ')}
  --candidate-only   measure Berth alone (no reference, no ratios)
  --engines s3       scale-out mode: Berth on PostgreSQL + Ceph RGW vs Distribution on Ceph RGW,
                     then 1-3 Berth replicas behind nginx; --only from: ${SCALE_OUT_NAMES.join(', ')}
  --proxy            proxy mode: pulls through a Berth proxy namespace of a Distribution upstream,
                     cold and warm, against hosted pulls; --only from: ${PROXY_NAMES.join(', ')}`;

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      rounds: { type: 'string' },
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      'candidate-only': { type: 'boolean', default: false },
      engines: { type: 'string', default: 'embedded' },
      proxy: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const rounds = values.rounds !== undefined ? Number(values.rounds) : values.quick ? 1 : 3;
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 50) {
    throw new Error(`--rounds must be an integer from 1 to 50\n${USAGE}`);
  }
  const engines = values.engines;
  if (engines !== 'embedded' && engines !== 's3') {
    throw new Error(`--engines must be embedded or s3\n${USAGE}`);
  }
  const proxy = values.proxy;
  if (proxy && (engines !== 'embedded' || values['candidate-only'])) {
    throw new Error(`--proxy takes neither --engines s3 nor --candidate-only\n${USAGE}`);
  }
  let only: Set<string> | null = null;
  if (values.only !== undefined) {
    only = new Set(
      values.only
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== ''),
    );
    const known = new Set<string>(
      proxy
        ? PROXY_NAMES
        : engines === 's3'
          ? SCALE_OUT_NAMES
          : [LIMITS, ...SCENARIOS.map((s) => s.name)],
    );
    const unknown = [...only].filter((name) => !known.has(name));
    if (unknown.length > 0) throw new Error(`unknown scenario ${unknown.join(', ')}\n${USAGE}`);
  }
  return {
    rounds,
    quick: values.quick,
    only,
    candidateOnly: values['candidate-only'],
    engines,
    proxy,
  };
}

const started = performance.now();
function log(message: string): void {
  const s = ((performance.now() - started) / 1000).toFixed(0).padStart(4);
  process.stderr.write(`[bench ${s}s] ${message}\n`);
}

/**
 * Runs the selected scenarios for `role`: those without authentication against one fresh server,
 * then those that need it against another fresh Berth with authentication on (the reference,
 * which has no token realm, reports them as unsupported).
 */
async function runRole(
  role: Role,
  scenarios: Scenario[],
  blobs: BlobFactory,
  sizes: Sizes,
  errors: RoundResult['errors'],
): Promise<Figure[]> {
  const plain = scenarios.filter((s) => !s.auth);
  const authed = scenarios.filter((s) => s.auth);
  const figures: Figure[] = [];
  if (plain.length > 0) figures.push(...(await runRegistry(role, plain, blobs, sizes, errors)));
  if (authed.length > 0) {
    if (role === 'candidate') {
      figures.push(...(await runRegistry(role, authed, blobs, sizes, errors, { auth: true })));
    } else {
      for (const scenario of authed) figures.push(...(scenario.auth?.unsupported(sizes) ?? []));
    }
  }
  return figures;
}

/** Runs `scenarios` against a fresh server of `role`. */
async function runRegistry(
  role: Role,
  scenarios: Scenario[],
  blobs: BlobFactory,
  sizes: Sizes,
  errors: RoundResult['errors'],
  start: { auth?: boolean } = {},
): Promise<Figure[]> {
  const name = ROLE_LABEL[role];
  const registry = await startRegistry(role, start);
  log(
    `${name}${start.auth === true ? ' (authentication on)' : ''} ready in ${registry.readyMs.toFixed(0)} ms on ${registry.url} (pid ${registry.pid})`,
  );
  const figures: Figure[] = [];
  try {
    for (const scenario of scenarios) {
      const clients: RegistryClient[] = [];
      const ctx = scenarioContext({
        registry,
        blobs,
        sizes,
        clients,
        log: (message) => log(`${name} ${scenario.name}: ${message}`),
      });
      log(`${name}: ${scenario.name}`);
      try {
        figures.push(...(await scenario.run(ctx)));
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        log(`${name} ${scenario.name} FAILED: ${message}`);
        errors.push({ role, scenario: scenario.name, message });
        if (registry.pid <= 0 || !isAlive(registry.pid)) {
          throw new Error(`${name} died during ${scenario.name}:\n${registry.output()}`);
        }
      } finally {
        for (const client of clients) client.close();
      }
    }
  } finally {
    await registry.stop();
  }
  return figures;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function commandOutput(command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

async function machineInfo(referenceVersion: string | null): Promise<Record<string, unknown>> {
  const pkg = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as {
    version?: string;
  };
  return {
    host: os.hostname(),
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.availableParallelism(),
    memoryGB: Math.round(os.totalmem() / 1e9),
    kernel: os.release(),
    node: process.version,
    berth: `${pkg.version ?? '?'} (${commandOutput('git', ['rev-parse', '--short', 'HEAD'])}${
      commandOutput('git', ['status', '--porcelain', '--', 'src']) === '' ? '' : ', modified'
    })`,
    reference: referenceVersion,
  };
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  installCleanupHandlers();
  if (!berthBuilt()) throw new Error('dist/ is missing: run `npm run build` first');
  const referenceVersion = options.candidateOnly ? null : ensureReference();
  const sizes = options.quick ? QUICK : FULL;
  const selected = SCENARIOS.filter((s) => options.only?.has(s.name) ?? true);
  const roles: Role[] = options.candidateOnly ? ['candidate'] : ['candidate', 'reference'];
  const machine = await machineInfo(referenceVersion);
  log(`machine: ${JSON.stringify(machine)}`);

  const blobs = new BlobFactory();
  log('computing the digests of the test blobs');
  if (options.engines === 's3') {
    await runScaleOut(options, sizes, blobs, machine, referenceVersion, log);
    return;
  }
  if (options.proxy) {
    await runProxy(options, blobs, machine, referenceVersion ?? '', log);
    return;
  }
  for (const scenario of selected) scenario.prepare?.(blobs, sizes);

  let limits: Limit[] = [];
  if (options.only?.has(LIMITS) ?? true) {
    log('measuring the machine limits');
    limits = await measureLimits(blobs, sizes, (m) => log(`limit: ${m}`));
  }

  const rounds: RoundResult[] = [];
  for (let round = 1; round <= options.rounds; round++) {
    const order = round % 2 === 1 ? roles : [...roles].reverse();
    const result: RoundResult = {
      round,
      order,
      figures: { candidate: [], reference: [] },
      errors: [],
    };
    for (const role of order) {
      log(`round ${round}/${options.rounds}: ${ROLE_LABEL[role]}`);
      try {
        result.figures[role] = await runRole(role, selected, blobs, sizes, result.errors);
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        log(`${ROLE_LABEL[role]} FAILED: ${message}`);
        result.errors.push({ role, scenario: '(server)', message });
      }
      await sleep(1000); // Let the disk settle between registries.
    }
    rounds.push(result);
  }

  const summary = summarize(rounds);
  const withReference = !options.candidateOnly;
  const output = [
    '',
    `Berth vs ${referenceVersion ?? 'no reference'} — ${options.rounds} round(s)${options.quick ? ', --quick sizes' : ''}`,
    `${String(machine['cpu'])}, ${String(machine['cores'])} cores, Node ${process.version}, Berth ${String(machine['berth'])}`,
    withReference
      ? 'ratio = Berth / Distribution, median of the per-round ratios; "better" says which way is good.'
      : '',
    '',
    summary.length > 0 ? formatSummary(summary, withReference) : '(no scenarios)',
    '',
    ...(limits.length > 0 ? [formatLimits(limits), ''] : []),
  ];
  const errors = rounds.flatMap((r) =>
    r.errors.map((e) => `- round ${r.round}, ${ROLE_LABEL[e.role]}, ${e.scenario}: ${e.message}`),
  );
  if (errors.length > 0) output.push('Errors:', ...errors, '');

  const date = new Date().toISOString().replace(/:/g, '-').replace(/\..*$/, '');
  const file = path.join(ROOT, 'bench', 'results', `${date}.json`);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(
    file,
    `${JSON.stringify({ date: new Date().toISOString(), machine, options: { ...options, only: options.only ? [...options.only] : null }, sizes, limits, summary, rounds }, null, 2)}\n`,
  );
  output.push(`Results: ${path.relative(ROOT, file)}`);
  process.stdout.write(`${output.join('\n')}\n`);
  if (errors.length > 0) process.exitCode = 1;
}

main()
  .catch((err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  })
  .finally(() => cleanupAll());
