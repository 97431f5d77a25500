/**
 * `berth gc` (the built CLI) over a large store: 30,000 blobs in 1000 repositories, a tenth
 * unreferenced (bench/lib/gc-store.ts, the store `bench/gc-scale.ts` measures at 100,000). The dry
 * run and the real run count exactly the unreferenced blobs, links and bytes; on disk exactly
 * those files go (the blob files' bytes drop by the reported bytes) and every other stays; the
 * peak RSS stays bounded.
 */
import { existsSync } from 'node:fs';
import { readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { buildGcStore, initRegistry, runGcCli } from '../../bench/lib/gc-store.js';
import { CLI, makeTempDir } from '../helpers/server.js';

const BLOBS = 30_000;
/**
 * The CLI process alone peaks at about 85 MB (Node, SQLite, the registry modules); GC holds one
 * repository's manifests and 500 links at a time, so the store's size must not show. Measured at
 * 100,000 blobs: 101 MB (dry run), 115 MB (real run). 150 MB leaves room for the garbage V8 keeps
 * between its collections on a busy machine, and fails a collector that holds the store.
 */
const MAX_RSS_BYTES = 150 * 1024 * 1024;

let dir: string | undefined;
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

function blobFile(dataDir: string, digest: string): string {
  const hex = digest.slice('sha256:'.length);
  return path.join(dataDir, 'blobs', 'sha256', hex.slice(0, 2), hex);
}

/** The files under a folder (none when it does not exist). */
async function filesUnder(root: string): Promise<string[]> {
  if (!existsSync(root)) return [];
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
}

/** The bytes of every file under blobs/ (`du -sb` without the folders). */
async function blobBytes(dataDir: string): Promise<number> {
  let total = 0;
  for (const file of await filesUnder(path.join(dataDir, 'blobs')))
    total += (await stat(file)).size;
  return total;
}

it(`collects exactly the unreferenced blobs of ${BLOBS} with bounded memory`, async () => {
  dir = await makeTempDir('berth-gc-scale-');
  const data = path.join(dir, 'data');
  await initRegistry(CLI, data);
  const store = await buildGcStore(data, { blobs: BLOBS, unreferencedShare: 0.1 });
  expect(store.blobs).toBe(BLOBS);
  expect(store.repositories).toBe(1000);
  const expected = {
    manifests: 0,
    blobs: store.garbage.blobs,
    bytes: store.garbage.bytes,
    links: store.garbage.links,
  };
  const before = await blobBytes(data);
  expect(before).toBe(store.bytes);

  const dry = await runGcCli(CLI, data, ['--dry-run']);
  expect(dry.report.error).toBeUndefined();
  expect(dry.report).toMatchObject(expected);
  expect(dry.report.maxRssBytes).toBeLessThan(MAX_RSS_BYTES);
  // A dry run changes nothing.
  expect(await blobBytes(data)).toBe(before);

  const real = await runGcCli(CLI, data, []);
  expect(real.report.error).toBeUndefined();
  expect(real.report).toMatchObject(expected);
  expect(real.report.maxRssBytes).toBeLessThan(MAX_RSS_BYTES);
  expect(await blobBytes(data)).toBe(before - store.garbage.bytes);
  expect(store.garbage.digests.filter((d) => existsSync(blobFile(data, d)))).toEqual([]);
  expect(store.kept.filter((d) => !existsSync(blobFile(data, d)))).toEqual([]);
  expect(await filesUnder(path.join(data, 'trash'))).toEqual([]);

  // Nothing left to collect.
  const again = await runGcCli(CLI, data, []);
  expect(again.report).toMatchObject({ manifests: 0, blobs: 0, links: 0, bytes: 0 });
});
