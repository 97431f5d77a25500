/**
 * kill -9 during garbage collection (the built CLI beside a running server), at each point the
 * collector's crash safety rests on (`BERTH_GC_CRASH_AT`, lifecycle/gc.ts):
 * - `manifest`: right after the first manifest delete, before any blob;
 * - `trash`: inside the first blob transaction, its file already in the trash: the transaction
 *   rolls back, the row stays, so the file must come back (the running server puts it back on the
 *   first GET: the self-heal);
 * - `commit`: after that transaction committed, before the trash is emptied: the row is gone, so
 *   the file must go (a server start settles it);
 * - and an external SIGKILL at a random point of a run over a store of 20,000 blobs.
 * After each: `berth fsck` is clean, and `berth gc --grace 0` finishes the job: every unreferenced
 * blob gone from disk, the trash empty, every kept image pulls intact.
 *
 * The scenarios run side by side, each on its own data directory. A killed run's heartbeat still
 * looks alive, but its pid is gone: the next run takes over at once.
 */
import { writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { buildGcStore } from '../../bench/lib/gc-store.js';
import {
  descriptor,
  OCI_CONFIG,
  OCI_INDEX,
  OCI_LAYER,
  OCI_MANIFEST,
  pushBlob,
  putManifest,
  randomBlob,
  sha256,
} from '../helpers/oci.js';
import { makeTempDir, startServerProcess, type ServerProcess } from '../helpers/server.js';
import {
  berth,
  blobFile,
  expectFsckClean,
  pullProblem,
  startBerth,
  trashed,
  type GcReport,
  type Image,
} from './gc-helpers.js';

/** Untagged manifests are garbage at once; no scheduled run of the server's own. */
const CONFIG = 'gc:\n  untaggedAfter: 1ms\n  schedule: "off"\n';

async function pushImage(
  url: string,
  repo: string,
  tag: string | null,
  layers: Buffer[],
): Promise<Image> {
  const config = JSON.stringify({ architecture: 'amd64', os: 'linux', n: Math.random() });
  await pushBlob(url, repo, config);
  for (const layer of layers) await pushBlob(url, repo, layer);
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: descriptor(OCI_CONFIG, config),
    layers: layers.map((l) => descriptor(OCI_LAYER, l)),
  });
  const digest = sha256(manifest);
  const res = await putManifest(url, repo, tag ?? digest, manifest);
  expect(res.status).toBe(201);
  return { repo, tag, manifest, digest, blobs: [sha256(config), ...layers.map((l) => sha256(l))] };
}

const layers = (n: number): Buffer[] => Array.from({ length: n }, () => randomBlob(1500));

interface Store {
  kept: Image[];
  /** Every blob that must go, and the repository it is linked in. */
  garbage: Map<string, string>;
}

/**
 * Deleted images with several layers, one sharing a layer with a kept image of its repository
 * and one with a kept image of another; an image whose tag was deleted; an untagged index over
 * two untagged children.
 */
async function buildGarbage(url: string): Promise<Store> {
  const [shared, elsewhere] = layers(2) as [Buffer, Buffer];
  const keep = await pushImage(url, 'library/app', 'keep', [...layers(1), shared]);
  const other = await pushImage(url, 'library/other', 'v1', [elsewhere, ...layers(1)]);
  const multiKept = await pushImage(url, 'library/multi', 'kept', layers(2));
  const garbage = new Map<string, string>();
  const deleted = await pushImage(url, 'library/app', 'old1', [shared, elsewhere, ...layers(2)]);
  const del = await fetch(`${url}/v2/library/app/manifests/${deleted.digest}`, {
    method: 'DELETE',
  });
  expect(del.status).toBe(202);
  const untagged = await pushImage(url, 'library/app', 'old2', layers(3));
  expect((await fetch(`${url}/v2/library/app/manifests/old2`, { method: 'DELETE' })).status).toBe(
    202,
  );
  const children = [
    await pushImage(url, 'library/multi', null, layers(2)),
    await pushImage(url, 'library/multi', null, layers(2)),
  ];
  const index = JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: children.map((c, i) => ({
      ...descriptor(OCI_MANIFEST, c.manifest),
      platform: { architecture: i === 0 ? 'amd64' : 'arm64', os: 'linux' },
    })),
  });
  expect((await putManifest(url, 'library/multi', sha256(index), index, OCI_INDEX)).status).toBe(
    201,
  );
  const kept = [keep, other, multiKept];
  const keptBlobs = new Set(kept.flatMap((i) => i.blobs));
  for (const image of [deleted, untagged, ...children]) {
    for (const blob of image.blobs) if (!keptBlobs.has(blob)) garbage.set(blob, image.repo);
  }
  return { kept, garbage };
}

async function writeConfig(): Promise<string> {
  const file = path.join(await makeTempDir('berth-gc-crash-config-'), 'berth.yaml');
  await writeFile(file, CONFIG);
  return file;
}

/**
 * `berth gc --grace 0` right after the crash: the killed run's heartbeat is still fresh, but its
 * pid is gone on this host, so it is taken over at once (not after ALIVE_MS).
 */
async function gcAfterCrash(dataArgs: readonly string[]): Promise<GcReport> {
  const result = await berth(['gc', '--grace', '0', '--json', ...dataArgs]);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as GcReport;
}

/** Kills `berth gc --grace 0` at `point` (BERTH_GC_CRASH_AT) and checks it died by SIGKILL. */
async function gcKilledAt(point: string, dataArgs: readonly string[]): Promise<void> {
  const result = await berth(['gc', '--grace', '0', '--json', ...dataArgs], {
    BERTH_GC_CRASH_AT: point,
  });
  expect(result.signal, result.stderr).toBe('SIGKILL');
  expect(result.stdout).toBe('');
}

/** GC finished the job: the garbage is gone from disk and answers 404, the rest pulls intact. */
async function expectCollected(server: ServerProcess, store: Store): Promise<void> {
  const { dataDir, url } = server;
  expect([...store.garbage.keys()].filter((d) => existsSync(blobFile(dataDir, d)))).toEqual([]);
  expect(await trashed(dataDir)).toEqual([]);
  for (const [digest, repo] of store.garbage) {
    const head = await fetch(`${url}/v2/${repo}/blobs/${digest}`, { method: 'HEAD' });
    expect(head.status).toBe(404);
  }
  for (const image of store.kept) expect(await pullProblem(url, image)).toBeNull();
}

describe.concurrent('kill -9 during garbage collection', () => {
  it('after the first manifest delete: nothing is in the trash, a rerun finishes', async () => {
    const config = await writeConfig();
    const server = await startServerProcess({ args: ['--config', config] });
    const data = ['--config', config, '--data', server.dataDir];
    const store = await buildGarbage(server.url);

    await gcKilledAt('manifest', data);
    // Killed before any blob: every file is where it was.
    expect(await trashed(server.dataDir)).toEqual([]);
    for (const digest of [...store.garbage.keys(), ...store.kept.flatMap((i) => i.blobs)])
      expect(existsSync(blobFile(server.dataDir, digest))).toBe(true);
    await expectFsckClean(data);

    const report = await gcAfterCrash(data);
    expect(report.blobs).toBe(store.garbage.size);
    await expectCollected(server, store);
    await server.stop();
  });

  it('inside a blob transaction: the file comes back, on a GET at once (server self-heal)', async () => {
    const config = await writeConfig();
    const server = await startServerProcess({ args: ['--config', config] });
    const data = ['--config', config, '--data', server.dataDir];
    const store = await buildGarbage(server.url);

    await gcKilledAt('trash', data);
    // The transaction rolled back: the blob's row and link stay, its file sits in the trash.
    const [inTrash, ...more] = await trashed(server.dataDir);
    expect(more).toEqual([]);
    if (inTrash === undefined) throw new Error('the killed run left nothing in the trash');
    const repo = store.garbage.get(inTrash);
    expect(repo, 'the trashed blob is one that must go').toBeDefined();
    expect(existsSync(blobFile(server.dataDir, inTrash))).toBe(false);
    const pulled = await fetch(`${server.url}/v2/${repo ?? ''}/blobs/${inTrash}`);
    expect(pulled.status).toBe(200);
    expect(sha256(Buffer.from(await pulled.arrayBuffer()))).toBe(inTrash);
    expect(existsSync(blobFile(server.dataDir, inTrash))).toBe(true);
    expect(await trashed(server.dataDir)).toEqual([]);

    // Restarted after a crash of its own: the data directory opens and serves as before.
    await server.kill();
    const restarted = await startServerProcess({
      dataDir: server.dataDir,
      args: ['--config', config],
    });
    await expectFsckClean(data);
    const report = await gcAfterCrash(data);
    expect(report.blobs).toBe(store.garbage.size);
    await expectCollected(restarted, store);
    await restarted.stop();
  });

  it('after a blob transaction committed: the trashed file goes at the next server start', async () => {
    const config = await writeConfig();
    const server = await startServerProcess({ args: ['--config', config] });
    const data = ['--config', config, '--data', server.dataDir];
    const store = await buildGarbage(server.url);

    await gcKilledAt('commit', data);
    const inTrash = await trashed(server.dataDir);
    expect(inTrash.length).toBeGreaterThan(0);
    for (const digest of inTrash) {
      // Committed: the row is gone, so the file is garbage and the blob unknown.
      const repo = store.garbage.get(digest);
      expect(repo, 'the trashed blob is one that must go').toBeDefined();
      const head = await fetch(`${server.url}/v2/${repo ?? ''}/blobs/${digest}`, {
        method: 'HEAD',
      });
      expect(head.status).toBe(404);
    }
    await server.stop();
    const restarted = await startServerProcess({
      dataDir: server.dataDir,
      args: ['--config', config],
    });
    await restarted.waitFor('settled the trash of a garbage collection that did not finish');
    expect(await trashed(server.dataDir)).toEqual([]);
    await expectFsckClean(data);

    const report = await gcAfterCrash(data);
    // What the killed run removed before it died no longer counts.
    expect(report.blobs).toBe(store.garbage.size - inTrash.length);
    await expectCollected(restarted, store);
    await restarted.stop();
  });

  it('at a random point of a run over 20,000 blobs', async () => {
    const dir = await makeTempDir('berth-gc-crash-');
    const dataDir = path.join(dir, 'data');
    const data = ['--data', dataDir];
    expect((await berth(['namespace', 'list', ...data])).code).toBe(0);
    const store = await buildGcStore(dataDir, { blobs: 20_000, unreferencedShare: 0.5 });
    const garbage = store.garbage.blobs;

    // Killed once a random share (10–90 %) of the garbage is gone: somewhere mid-run, whatever
    // the machine's speed.
    const killAfter = Math.floor(garbage * (0.1 + 0.8 * Math.random()));
    const run = startBerth(['gc', '--grace', '0', '--json', ...data]);
    const db = new Database(path.join(dataDir, 'meta.sqlite'), { readonly: true });
    try {
      const count = db.prepare('SELECT count(*) AS n FROM blobs');
      const removed = (): number => store.blobs - (count.get() as { n: number }).n;
      let exited = false;
      void run.done.then(() => (exited = true));
      while (removed() < killAfter) {
        expect(exited, `gc finished before ${killAfter} blobs were removed`).toBe(false);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    } finally {
      db.close();
    }
    run.child.kill('SIGKILL');
    expect((await run.done).signal).toBe('SIGKILL');

    await expectFsckClean(data);
    const report = await gcAfterCrash(data);
    expect(report.blobs).toBeGreaterThan(0);
    expect(store.garbage.digests.filter((d) => existsSync(blobFile(dataDir, d)))).toEqual([]);
    expect(store.kept.filter((d) => !existsSync(blobFile(dataDir, d)))).toEqual([]);
    expect(await trashed(dataDir)).toEqual([]);
    await expectFsckClean(data);
  });
});
