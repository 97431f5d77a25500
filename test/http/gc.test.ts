/**
 * Garbage collection over the reference graph: images sharing layers across repositories, a
 * multi-arch index with untagged children, a signature and an SBOM referring to an image, an
 * artifact referring to an index. After some deletes, GC removes exactly the unreferenced blobs
 * (checked on disk), a dry run predicts the real run, every kept image pulls back intact and every
 * removed blob answers 404 BLOB_UNKNOWN.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  descriptor,
  errorCode,
  OCI_EMPTY,
  OCI_INDEX,
  OCI_LAYER,
  OCI_MANIFEST,
  pullBlobHashed,
  pushBlob,
  pushImage,
  putManifest,
  randomBlob,
  sha256,
  type PushedImage,
} from '../helpers/oci.js';
import { startServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
let base: string;

interface GcRun {
  id: string;
  status: string;
  dryRun: boolean;
  report: {
    manifests: number;
    blobs: number;
    bytes: number;
    links: number;
    removed: { manifests: string[]; blobs: string[] };
  };
}

async function gc(query: string): Promise<GcRun> {
  const res = await fetch(`${base}/api/v1/gc?${query}`, { method: 'POST' });
  expect(res.status).toBe(200);
  return (await res.json()) as GcRun;
}

function blobFile(digest: string): string {
  const hex = digest.slice('sha256:'.length);
  return path.join(server.dataDir, 'blobs', 'sha256', hex.slice(0, 2), hex);
}

async function storedBytes(): Promise<number> {
  let total = 0;
  const root = path.join(server.dataDir, 'blobs');
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) total += (await stat(path.join(entry.parentPath, entry.name))).size;
  }
  return total;
}

/** An artifact manifest (empty config, one layer) referring to `subject`. */
async function pushReferrer(
  repo: string,
  subject: { digest: string; size: number; mediaType: string },
  artifactType: string,
): Promise<{ digest: string; layer: string }> {
  await pushBlob(base, repo, '{}');
  const layer = randomBlob(700);
  await pushBlob(base, repo, layer);
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType,
    config: descriptor(OCI_EMPTY, '{}'),
    layers: [descriptor(OCI_LAYER, layer)],
    subject,
  });
  const digest = sha256(manifest);
  const res = await putManifest(base, repo, digest, manifest);
  expect(res.status).toBe(201);
  return { digest, layer: sha256(layer) };
}

function subjectOf(image: PushedImage): { digest: string; size: number; mediaType: string } {
  return { digest: image.digest, size: Buffer.byteLength(image.manifest), mediaType: OCI_MANIFEST };
}

/** The blobs of an image: config and layers. */
function blobsOf(image: PushedImage): string[] {
  return [sha256(image.config), ...image.layers.map((l) => sha256(l))];
}

async function expectPullable(repo: string, reference: string, image: PushedImage): Promise<void> {
  const res = await fetch(`${base}/v2/${repo}/manifests/${reference}`, {
    headers: { accept: OCI_MANIFEST },
  });
  expect(res.status).toBe(200);
  expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(image.digest);
  for (const digest of blobsOf(image)) {
    const pulled = await pullBlobHashed(base, repo, digest);
    expect(pulled.status).toBe(200);
    expect(pulled.digest).toBe(digest);
  }
}

describe('garbage collection over the reference graph', () => {
  const kept = new Set<string>();
  const collected = new Set<string>();
  let a1: PushedImage;
  let b1: PushedImage;
  let shared: Buffer;
  let indexDigest: string;

  beforeAll(async () => {
    server = await startServer({
      configure: (c) => {
        c.gc.untaggedAfter = '1ms';
        c.gc.schedule = 'off';
      },
    });
    base = server.url;
    await server.app.registry.namespaces.create('gc', { public: false });

    // Two repositories share a layer; a third image in `a` gets deleted.
    shared = randomBlob(2048);
    const withShared = async (repo: string): Promise<PushedImage> => {
      await pushBlob(base, repo, shared);
      const image = await pushImage(base, repo, 'v1', { layers: 1 });
      const manifest = JSON.parse(image.manifest) as { layers: unknown[] };
      manifest.layers.push(descriptor(OCI_LAYER, shared));
      const text = JSON.stringify(manifest);
      expect((await putManifest(base, repo, 'v1', text)).status).toBe(201);
      return { ...image, manifest: text, digest: sha256(text), layers: [...image.layers, shared] };
    };
    a1 = await withShared('gc/a');
    b1 = await withShared('gc/b');
    for (const image of [a1, b1]) for (const d of blobsOf(image)) kept.add(d);

    const a2 = await pushImage(base, 'gc/a', 'v2', { layers: 2 });
    for (const d of blobsOf(a2)) collected.add(d);
    // A signature of the kept image stays; a signature and an SBOM of a2 go with it.
    const keptSignature = await pushReferrer('gc/a', subjectOf(a1), 'application/vnd.dev.cosign');
    kept.add(keptSignature.layer);
    kept.add(sha256('{}'));
    for (const type of ['application/vnd.dev.cosign', 'application/spdx+json']) {
      const referrer = await pushReferrer('gc/a', subjectOf(a2), type);
      collected.add(referrer.layer);
    }
    expect(
      (await fetch(`${base}/v2/gc/a/manifests/${a2.digest}`, { method: 'DELETE' })).status,
    ).toBe(202);

    // A multi-arch index with untagged children and an artifact referring to it: once its tag
    // is gone, all of it goes.
    const children = [];
    for (const [i, arch] of ['amd64', 'arm64'].entries()) {
      const child = await pushImage(base, 'gc/multi', `tmp${i}`, { layers: 1 });
      expect(
        (await fetch(`${base}/v2/gc/multi/manifests/tmp${i}`, { method: 'DELETE' })).status,
      ).toBe(202);
      for (const d of blobsOf(child)) collected.add(d);
      children.push({ ...subjectOf(child), platform: { os: 'linux', architecture: arch } });
    }
    const index = JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: children });
    indexDigest = sha256(index);
    expect((await putManifest(base, 'gc/multi', 'latest', index, OCI_INDEX)).status).toBe(201);
    const artifact = await pushReferrer(
      'gc/multi',
      { digest: indexDigest, size: Buffer.byteLength(index), mediaType: OCI_INDEX },
      'application/vnd.example.report',
    );
    collected.add(artifact.layer);
    expect((await fetch(`${base}/v2/gc/multi/manifests/latest`, { method: 'DELETE' })).status).toBe(
      202,
    );

    // A layer uploaded and never used by a manifest.
    const stray = randomBlob(512);
    await pushBlob(base, 'gc/b', stray);
    collected.add(sha256(stray));
  }, 60_000);

  afterAll(async () => {
    await server.close();
  });

  it('a dry run reports what the real run then removes, byte for byte on disk', async () => {
    for (const d of [...kept, ...collected]) expect(existsSync(blobFile(d))).toBe(true);
    const before = await storedBytes();

    const dry = await gc('dryRun=true&grace=0');
    expect(dry.dryRun).toBe(true);
    expect(new Set(dry.report.removed.blobs)).toEqual(collected);
    // The signature and SBOM of a2, the index, its two children, the artifact, and the first
    // manifests of a1 and b1 (their tag moved to the version with the shared layer).
    expect(dry.report.manifests).toBe(8);
    for (const d of collected) expect(existsSync(blobFile(d))).toBe(true);

    const real = await gc('grace=0');
    expect(real.status).toBe('done');
    expect(new Set(real.report.removed.blobs)).toEqual(collected);
    expect(new Set(real.report.removed.manifests)).toEqual(new Set(dry.report.removed.manifests));
    expect(real.report.bytes).toBe(dry.report.bytes);
    expect(before - (await storedBytes())).toBe(real.report.bytes);
    for (const d of collected) expect(existsSync(blobFile(d))).toBe(false);
    for (const d of kept) expect(existsSync(blobFile(d))).toBe(true);
  });

  it('keeps every kept image pullable by tag and digest; removed content is unknown', async () => {
    await expectPullable('gc/a', 'v1', a1);
    await expectPullable('gc/a', a1.digest, a1);
    await expectPullable('gc/b', 'v1', b1);
    const referrers = await fetch(`${base}/v2/gc/a/referrers/${a1.digest}`);
    expect(((await referrers.json()) as { manifests: unknown[] }).manifests).toHaveLength(1);

    for (const d of collected) {
      for (const repo of ['gc/a', 'gc/b', 'gc/multi']) {
        const res = await fetch(`${base}/v2/${repo}/blobs/${d}`);
        expect(res.status).toBe(404);
        expect(await errorCode(res)).toBe('BLOB_UNKNOWN');
      }
    }
    const index = await fetch(`${base}/v2/gc/multi/manifests/${indexDigest}`);
    expect(index.status).toBe(404);
    // The emptied repository has left the catalog.
    const catalog = (await (await fetch(`${base}/v2/_catalog`)).json()) as {
      repositories: string[];
    };
    expect(catalog.repositories).toEqual(['gc/a', 'gc/b']);
  });

  it('a second run finds nothing; the runs are listed newest first', async () => {
    const again = await gc('grace=0');
    expect(again.report.blobs).toBe(0);
    expect(again.report.manifests).toBe(0);
    const res = await fetch(`${base}/api/v1/gc`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { running: unknown; runs: GcRun[] };
    expect(body.running).toBeNull();
    expect(body.runs.map((r) => r.dryRun)).toEqual([false, false, true]);
    expect(body.runs[0]?.id).toBe(again.id);
  });

  it('the default grace keeps what was just pushed, even unreferenced', async () => {
    const stray = randomBlob(300);
    const digest = await pushBlob(base, 'gc/b', stray);
    const run = await gc('');
    expect(run.report.removed.blobs).not.toContain(digest);
    expect(existsSync(blobFile(digest))).toBe(true);
  });

  it('a push that finds an old unreferenced layer with HEAD restarts its grace', async () => {
    const found = await pushBlob(base, 'gc/b', randomBlob(400));
    const forgotten = await pushBlob(base, 'gc/b', randomBlob(400));
    // Both links last used long ago (as if uploaded yesterday and never referenced).
    const db = new Database(path.join(server.dataDir, 'meta.sqlite'));
    try {
      db.prepare(
        "UPDATE repository_blobs SET used_at = '2000-01-01T00:00:00.000Z' WHERE digest IN (?, ?)",
      ).run(found, forgotten);
    } finally {
      db.close();
    }
    // A client about to push an image that uses `found` checks it, and skips its upload.
    expect((await fetch(`${base}/v2/gc/b/blobs/${found}`, { method: 'HEAD' })).status).toBe(200);
    const run = await gc('grace=1m');
    expect(run.report.removed.blobs).toContain(forgotten);
    expect(run.report.removed.blobs).not.toContain(found);
    expect(existsSync(blobFile(found))).toBe(true);
  });

  it('refuses a bad grace with 400', async () => {
    const res = await fetch(`${base}/api/v1/gc?grace=soon`, { method: 'POST' });
    expect(res.status).toBe(400);
  });
});

describe('the schedule', () => {
  let scheduled: TestServer;

  beforeAll(async () => {
    scheduled = await startServer({ configure: (c) => (c.gc.schedule = '1s') });
  });

  afterAll(async () => {
    await scheduled.close();
  });

  it('runs on gc.schedule, recorded as trigger "schedule"', async () => {
    const deadline = Date.now() + 20_000;
    let runs: { trigger: string; status: string }[] = [];
    while (Date.now() < deadline) {
      const res = await fetch(`${scheduled.url}/api/v1/gc`);
      runs = ((await res.json()) as { runs: typeof runs }).runs;
      if (runs.some((r) => r.trigger === 'schedule' && r.status === 'done')) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(runs.some((r) => r.trigger === 'schedule' && r.status === 'done')).toBe(true);
  });
});

describe('one real collection at a time', () => {
  let single: TestServer;

  beforeAll(async () => {
    single = await startServer({ configure: (c) => (c.gc.schedule = 'off') });
  });

  afterAll(async () => {
    await single.close();
  });

  it('refuses a second real run while another process runs one (409), takes over a dead one', async () => {
    const meta = single.app.dataDir.meta;
    const at = new Date().toISOString();
    // Another process's run, alive: its heartbeat is fresh.
    const other = await meta.startGcRun({
      id: 'other-process-run',
      trigger: 'cli',
      dryRun: false,
      at,
      aliveAfter: at,
      owner: 'another-host:4242',
      ownerGone: () => false,
    });
    expect(other.ok).toBe(true);
    const refused = await fetch(`${single.url}/api/v1/gc`, { method: 'POST' });
    expect(refused.status).toBe(409);
    const body = (await refused.json()) as { errors: { code: string; message: string }[] };
    expect(body.errors[0]?.code).toBe('CONFLICT');
    expect(body.errors[0]?.message).toContain('other-process-run');
    // A dry run does not wait for it.
    expect((await fetch(`${single.url}/api/v1/gc?dryRun=true`, { method: 'POST' })).status).toBe(
      200,
    );
    // Its process died: the heartbeat grows old, and the next run marks it abandoned.
    await meta.heartbeatGcRun('other-process-run', '2000-01-01T00:00:00.000Z');
    const next = await fetch(`${single.url}/api/v1/gc`, { method: 'POST' });
    expect(next.status).toBe(200);
    const listed = (await (await fetch(`${single.url}/api/v1/gc`)).json()) as {
      runs: { id: string; status: string }[];
    };
    expect(listed.runs.find((r) => r.id === 'other-process-run')?.status).toBe('abandoned');
  });

  it('takes over at once from a run whose process on this host has died (kill -9)', async () => {
    const meta = single.app.dataDir.meta;
    const child = spawn(process.execPath, ['-e', '']);
    const pid = child.pid ?? 0;
    await new Promise((resolve) => child.once('close', resolve));
    const at = new Date().toISOString();
    // Its heartbeat is fresh, but its pid is gone.
    expect(
      (
        await meta.startGcRun({
          id: 'killed-run',
          trigger: 'cli',
          dryRun: false,
          at,
          aliveAfter: at,
          owner: `${hostname()}:${pid}`,
          ownerGone: () => false,
        })
      ).ok,
    ).toBe(true);
    expect((await fetch(`${single.url}/api/v1/gc`, { method: 'POST' })).status).toBe(200);
    const listed = (await (await fetch(`${single.url}/api/v1/gc`)).json()) as {
      runs: { id: string; status: string }[];
    };
    expect(listed.runs.find((r) => r.id === 'killed-run')?.status).toBe('abandoned');
  });
});

describe('retention runs first', () => {
  let kept: TestServer;

  beforeAll(async () => {
    kept = await startServer({ configure: (c) => (c.gc.schedule = 'off') });
    await kept.app.registry.namespaces.create('ret', { public: false });
    await kept.app.dataDir.meta.setNamespacePolicy('ret', { retention: { keepLast: 1 } });
  });

  afterAll(async () => {
    await kept.close();
  });

  it('a dry run counts what retention would remove and the blobs that frees; the real run matches', async () => {
    const images: PushedImage[] = [];
    for (const tag of ['one', 'two', 'three']) {
      images.push(await pushImage(kept.url, 'ret/app', tag, { layers: 2 }));
    }
    const run = async (query: string): Promise<GcRun & { report: { retention: unknown } }> => {
      const res = await fetch(`${kept.url}/api/v1/gc?${query}`, { method: 'POST' });
      expect(res.status).toBe(200);
      return (await res.json()) as GcRun & { report: { retention: unknown } };
    };
    const dry = await run('dryRun=true&grace=0');
    // keep-last=1 keeps `three`; `one` and `two` go, with their configs and layers.
    expect(dry.report.retention).toEqual({ tags: 2, manifests: 2 });
    const freed = new Set(images.slice(0, 2).flatMap(blobsOf));
    expect(new Set(dry.report.removed.blobs)).toEqual(freed);
    const real = await run('grace=0');
    expect(real.report.retention).toEqual({ tags: 2, manifests: 2 });
    expect(new Set(real.report.removed.blobs)).toEqual(freed);
    const tags = (await (await fetch(`${kept.url}/v2/ret/app/tags/list`)).json()) as {
      tags: string[];
    };
    expect(tags.tags).toEqual(['three']);
  });
});
