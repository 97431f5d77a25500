/**
 * Garbage collection over a large store: `npx tsx bench/gc-scale.ts [--blobs N] [--share S]`.
 * Builds a data directory of N blobs (default 100,000) in up to 1000 repositories, a share S
 * (default 0.1) unreferenced (bench/lib/gc-store.ts), then times `berth gc --dry-run --json` and
 * `berth gc --json` with the built CLI (`npm run build` first) and prints each run's duration,
 * peak RSS and what it removed, and `du` of the data directory before and after. The directory
 * is removed at the end (also on Ctrl-C).
 */
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import path from 'node:path';
import { buildGcStore, initRegistry, runGcCli, type GcCliReport } from './lib/gc-store.js';
import { cleanupAll, installCleanupHandlers, makeTempDir, removeTempDir } from './lib/procs.js';
import { berthBuilt, ROOT } from './lib/servers.js';

const CLI = path.join(ROOT, 'dist/cli/main.js');
const MB = 1e6;

const { values } = parseArgs({
  options: {
    blobs: { type: 'string', default: '100000' },
    share: { type: 'string', default: '0.1' },
  },
});
const blobs = Number(values.blobs);
const share = Number(values.share);
if (!Number.isInteger(blobs) || blobs < 100) throw new Error('--blobs wants a whole number ≥ 100');
if (!(share >= 0 && share < 1)) throw new Error('--share wants a number from 0 to below 1');
if (!berthBuilt()) throw new Error(`${CLI} is missing: run \`npm run build\` first`);

/** `du` of the directory: apparent bytes (-b) and disk usage in KiB blocks (-k). */
function du(dir: string): { apparent: number; disk: number } {
  const size = (flag: string): number =>
    Number(execFileSync('du', ['-s', flag, dir], { encoding: 'utf8' }).split('\t')[0]);
  return { apparent: size('-b'), disk: size('-k') * 1024 };
}

function line(label: string, r: GcCliReport, wallMs: number): string {
  return (
    `${label.padEnd(10)} ${(r.durationMs / 1000).toFixed(1).padStart(6)} s ` +
    `(process ${(wallMs / 1000).toFixed(1)} s)  peak RSS ${(r.maxRssBytes / MB).toFixed(0)} MB  ` +
    `blobs ${r.blobs}  bytes ${r.bytes}  links ${r.links}  manifests ${r.manifests}`
  );
}

installCleanupHandlers();
const dir = await makeTempDir('berth-gc-scale-');
try {
  const data = path.join(dir, 'data');
  // The CLI makes the schema and the layout; the builder fills them.
  await initRegistry(CLI, data);
  const started = performance.now();
  const store = await buildGcStore(data, { blobs, unreferencedShare: share });
  const buildMs = performance.now() - started;
  process.stdout.write(
    `store: ${store.blobs} blobs (${(store.bytes / MB).toFixed(1)} MB), ${store.manifests} manifests ` +
      `in ${store.repositories} repositories, built in ${(buildMs / 1000).toFixed(1)} s; ` +
      `garbage: ${store.garbage.blobs} blobs (${store.garbage.bytes} bytes), ${store.garbage.links} links\n`,
  );
  const blobsDir = path.join(data, 'blobs');
  const before = { all: du(data), blobs: du(blobsDir) };
  const dry = await runGcCli(CLI, data, ['--dry-run']);
  const real = await runGcCli(CLI, data, []);
  const after = { all: du(data), blobs: du(blobsDir) };
  process.stdout.write(`${line('dry run', dry.report, dry.wallMs)}\n`);
  process.stdout.write(`${line('gc', real.report, real.wallMs)}\n`);
  // The data directory's own figure also moves with the database (its WAL grows on deletes).
  for (const [label, b, a] of [
    ['data dir', before.all, after.all],
    ['blobs/', before.blobs, after.blobs],
  ] as const) {
    process.stdout.write(
      `du ${label.padEnd(8)}: -sb ${b.apparent} → ${a.apparent} (−${b.apparent - a.apparent}), ` +
        `-sk ${(b.disk / MB).toFixed(1)} → ${(a.disk / MB).toFixed(1)} MB\n`,
    );
  }
  const expected = store.garbage;
  for (const [label, r] of [
    ['dry run', dry.report],
    ['gc', real.report],
  ] as const) {
    if (r.blobs !== expected.blobs || r.bytes !== expected.bytes || r.links !== expected.links) {
      process.stdout.write(
        `MISMATCH ${label}: expected blobs ${expected.blobs}, bytes ${expected.bytes}, links ${expected.links}\n`,
      );
      process.exitCode = 1;
    }
  }
} finally {
  await removeTempDir(dir);
  await cleanupAll();
}
