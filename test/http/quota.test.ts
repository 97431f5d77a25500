/**
 * Namespace quotas (issue 11, item 3), over HTTP to a real server:
 * - usage: the distinct blobs its manifests reference plus those a push still in its GC grace has
 *   uploaded; a blob two repositories share counts once; a deleted image stops counting at once
 *   (its links are older than the grace), an upload in progress counts at once;
 * - refusals are 403 DENIED with "quota exceeded: namespace N uses X of Y": an upload session
 *   starting at or over the quota, an upload or mount that would take the namespace over it (the
 *   session and its bytes are discarded), a manifest that would (checked in its transaction: of
 *   concurrent pushes exactly as many as fit get in); a re-tag adds nothing and always passes;
 * - the admin API: PATCH quotaBytes and retention (validated, audited), GET usedBytes.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  OCI_CONFIG,
  OCI_LAYER,
  OCI_MANIFEST,
  descriptor,
  putManifest,
  randomBlob,
  sha256,
} from '../helpers/oci.js';
import { startServer, type TestServer } from '../helpers/server.js';

const KiB = 1024;

interface ErrorBody {
  errors: { code: string; message: string; detail?: Record<string, unknown> }[];
}

interface NamespaceBody {
  name: string;
  quotaBytes: number | null;
  usedBytes: number;
  retention: Record<string, unknown> | null;
}

/** Status, first error code, message and detail of a response. */
async function outcome(res: Response): Promise<{
  status: number;
  code?: string | undefined;
  message?: string | undefined;
  detail?: Record<string, unknown> | undefined;
}> {
  if (res.status < 400) {
    await res.arrayBuffer();
    return { status: res.status };
  }
  const body = (await res.json()) as ErrorBody;
  const [first] = body.errors;
  return { status: res.status, code: first?.code, message: first?.message, detail: first?.detail };
}

function api(server: TestServer) {
  const call = async (method: string, url: string, body?: unknown): Promise<Response> =>
    fetch(`${server.url}/api/v1${url}`, {
      method,
      ...(body !== undefined
        ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }
        : {}),
    });
  return {
    patch: (name: string, body: unknown) => call('PATCH', `/namespaces/${name}`, body),
    async namespace(name: string): Promise<NamespaceBody> {
      const res = await call('GET', `/namespaces/${name}`);
      expect(res.status).toBe(200);
      return (await res.json()) as NamespaceBody;
    },
    async used(name: string): Promise<number> {
      return (await this.namespace(name)).usedBytes;
    },
    async setQuota(name: string, quotaBytes: number | null): Promise<void> {
      expect((await call('PATCH', `/namespaces/${name}`, { quotaBytes })).status).toBe(200);
    },
    async audit(target: string): Promise<{ action: string; detail?: Record<string, unknown> }[]> {
      const res = await call('GET', '/audit?action=namespace.update');
      const body = (await res.json()) as {
        items: { action: string; target: string; detail?: Record<string, unknown> }[];
      };
      return body.items.filter((e) => e.target === target);
    },
    deleteManifest: (repo: string, digest: string) =>
      fetch(`${server.url}/v2/${repo}/manifests/${digest}`, { method: 'DELETE' }),
  };
}

async function startUpload(server: TestServer, repo: string): Promise<Response> {
  return fetch(`${server.url}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
}

/** A monolithic upload (POST, then PUT with the bytes); the PUT's response, or the POST's refusal. */
async function upload(server: TestServer, repo: string, data: Buffer): Promise<Response> {
  const post = await startUpload(server, repo);
  if (post.status !== 202) return post;
  const location = post.headers.get('location') ?? '';
  return fetch(new URL(`${location}?digest=${sha256(data)}`, server.url), {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream' },
    body: new Uint8Array(data),
  });
}

/** An image of a config and the given layers, not yet pushed. */
function image(layers: Buffer[]): { blobs: Buffer[]; manifest: string; size: number } {
  // Of one length: images of the same layer sizes are of the same size.
  const config = Buffer.from(JSON.stringify({ os: 'linux', n: randomBlob(8).toString('hex') }));
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: descriptor(OCI_CONFIG, config),
    layers: layers.map((l) => descriptor(OCI_LAYER, l)),
  });
  const blobs = [config, ...layers];
  return { blobs, manifest, size: blobs.reduce((n, b) => n + b.length, 0) };
}

async function uploadAll(server: TestServer, repo: string, blobs: Buffer[]): Promise<void> {
  for (const blob of blobs) expect((await upload(server, repo, blob)).status).toBe(201);
}

/** Uploads the image's blobs and PUTs its manifest under `tag`; the manifest's digest. */
async function push(
  server: TestServer,
  repo: string,
  tag: string,
  img: ReturnType<typeof image>,
): Promise<string> {
  await uploadAll(server, repo, img.blobs);
  expect((await putManifest(server.url, repo, tag, img.manifest)).status).toBe(201);
  return sha256(img.manifest);
}

const exceeded = (message: string) => ({ status: 403, code: 'DENIED', message });

describe('with the default grace: uploads count at once', () => {
  let server: TestServer;
  let admin: ReturnType<typeof api>;

  beforeAll(async () => {
    server = await startServer();
    admin = api(server);
    for (const ns of ['up', 'full', 'mnt', 'other'])
      await server.app.registry.namespaces.create(ns);
  });
  afterAll(async () => server.close());

  it('counts an upload without its manifest yet (a push in progress)', async () => {
    expect(await admin.used('up')).toBe(0);
    expect((await upload(server, 'up/app', randomBlob(3000))).status).toBe(201);
    expect(await admin.used('up')).toBe(3000);
  });

  it('keeps counting a deleted image within the grace, until GC collects it', async () => {
    await server.app.registry.namespaces.create('gone');
    const img = image([randomBlob(2000)]);
    const digest = await push(server, 'gone/app', 'v1', img);
    expect(await admin.used('gone')).toBe(img.size);
    // Its links were used just now: a push could still reference them, so they still count.
    expect((await admin.deleteManifest('gone/app', digest)).status).toBe(202);
    expect(await admin.used('gone')).toBe(img.size);
    const gc = await fetch(`${server.url}/api/v1/gc?grace=0`, { method: 'POST' });
    expect(gc.status).toBe(200);
    expect(await admin.used('gone')).toBe(0);
  });

  it('refuses an upload session once the namespace holds its quota', async () => {
    await admin.setQuota('full', 4 * KiB);
    expect((await upload(server, 'full/app', randomBlob(4 * KiB))).status).toBe(201);
    expect(await outcome(await startUpload(server, 'full/app'))).toMatchObject({
      ...exceeded('quota exceeded: namespace full uses 4 KiB of 4 KiB'),
      detail: { namespace: 'full', usedBytes: 4 * KiB, quotaBytes: 4 * KiB },
    });
    // Another namespace is not affected.
    expect((await upload(server, 'other/app', randomBlob(10 * KiB))).status).toBe(201);
  });

  it('refuses a completed upload that would exceed it and keeps nothing of it', async () => {
    await admin.setQuota('full', 6 * KiB);
    const post = await startUpload(server, 'full/app');
    expect(post.status).toBe(202);
    const location = new URL(post.headers.get('location') ?? '', server.url);
    const id = location.pathname.split('/').at(-1) ?? '';
    const data = randomBlob(3 * KiB);
    const put = await fetch(`${location.href}?digest=${sha256(data)}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream' },
      body: new Uint8Array(data),
    });
    expect(await outcome(put)).toEqual({
      ...exceeded('quota exceeded: namespace full uses 4 KiB of 6 KiB; this push needs 3 KiB more'),
      detail: {
        namespace: 'full',
        usedBytes: 4 * KiB,
        quotaBytes: 6 * KiB,
        addingBytes: 3 * KiB,
        reason: 'quota',
      },
    });
    // The session and its bytes are gone; the blob was never stored.
    expect((await outcome(await fetch(location))).code).toBe('BLOB_UPLOAD_UNKNOWN');
    expect(await readdir(path.join(server.dataDir, 'uploads'))).not.toContain(id);
    const head = await fetch(`${server.url}/v2/full/app/blobs/${sha256(data)}`, { method: 'HEAD' });
    expect(head.status).toBe(404);
    expect(await server.app.dataDir.meta.getBlob(sha256(data))).toBeNull();
    expect(await admin.used('full')).toBe(4 * KiB);
    // What still fits is accepted.
    expect((await upload(server, 'full/app', randomBlob(2 * KiB))).status).toBe(201);
  });

  it('lets a namespace at its quota mount a blob it holds, not one it does not', async () => {
    const held = randomBlob(2 * KiB);
    const foreign = randomBlob(KiB);
    expect((await upload(server, 'mnt/a', held)).status).toBe(201);
    expect((await upload(server, 'other/x', foreign)).status).toBe(201);
    await admin.setQuota('mnt', 2 * KiB);
    const mount = (digest: string, from: string) =>
      fetch(`${server.url}/v2/mnt/b/blobs/uploads/?mount=${digest}&from=${from}`, {
        method: 'POST',
      });
    expect((await mount(sha256(held), 'mnt/a')).status).toBe(201);
    expect(await outcome(await mount(sha256(foreign), 'other/x'))).toMatchObject(
      exceeded('quota exceeded: namespace mnt uses 2 KiB of 2 KiB'),
    );
    expect(await admin.used('mnt')).toBe(2 * KiB);
  });
});

describe('with no grace: only manifests hold bytes', () => {
  let server: TestServer;
  let admin: ReturnType<typeof api>;

  beforeAll(async () => {
    // gc.grace 0: an upload counts only once a manifest references it, so the manifest PUT is
    // where a push is weighed (as for layers uploaded longer ago than the grace).
    server = await startServer({ configure: (c) => (c.gc.grace = '0') });
    admin = api(server);
    for (const ns of ['usage', 'man', 'retag', 'race'])
      await server.app.registry.namespaces.create(ns);
  });
  afterAll(async () => server.close());

  it('counts a blob shared by two repositories once, and frees a deleted image at once', async () => {
    const shared = randomBlob(5000);
    const a = image([shared, randomBlob(1000)]);
    const b = image([shared, randomBlob(700)]);
    const digestA = await push(server, 'usage/a', 'v1', a);
    const digestB = await push(server, 'usage/b', 'v1', b);
    expect(await admin.used('usage')).toBe(a.size + b.size - shared.length);
    expect((await admin.deleteManifest('usage/a', digestA)).status).toBe(202);
    expect(await admin.used('usage')).toBe(b.size);
    expect((await admin.deleteManifest('usage/b', digestB)).status).toBe(202);
    expect(await admin.used('usage')).toBe(0);
    // The listing agrees with the single namespace.
    const list = (await (await fetch(`${server.url}/api/v1/namespaces`)).json()) as {
      items: NamespaceBody[];
    };
    expect(list.items.find((n) => n.name === 'usage')?.usedBytes).toBe(0);
  });

  it('refuses a manifest that would exceed the quota; nothing of it is tagged', async () => {
    const first = image([randomBlob(3 * KiB)]);
    await push(server, 'man/app', 'v1', first);
    await admin.setQuota('man', first.size + 2 * KiB);
    // Each blob fits, the image does not.
    const second = image([randomBlob(1.5 * KiB), randomBlob(1.5 * KiB)]);
    await uploadAll(server, 'man/app', second.blobs);
    const res = await putManifest(server.url, 'man/app', 'v2', second.manifest);
    expect(await outcome(res)).toMatchObject({
      status: 403,
      code: 'DENIED',
      detail: { namespace: 'man', usedBytes: first.size, addingBytes: second.size },
    });
    const tag = await fetch(`${server.url}/v2/man/app/manifests/v2`, {
      headers: { accept: OCI_MANIFEST },
    });
    expect(tag.status).toBe(404);
    expect(await admin.used('man')).toBe(first.size);
  });

  it('passes a re-tag and a copy over a lowered quota, refuses anything new', async () => {
    const img = image([randomBlob(2 * KiB)]);
    await push(server, 'retag/app', 'v1', img);
    await admin.setQuota('retag', KiB);
    const overQuota = exceeded(
      `quota exceeded: namespace retag uses ${Math.floor((img.size / KiB) * 10) / 10} KiB of 1 KiB`,
    );
    expect((await putManifest(server.url, 'retag/app', 'latest', img.manifest)).status).toBe(201);
    // The same image into another repository of the namespace (mounted, as docker does): the
    // namespace holds nothing more.
    for (const blob of img.blobs) {
      const mount = await fetch(
        `${server.url}/v2/retag/copy/blobs/uploads/?mount=${sha256(blob)}&from=retag/app`,
        { method: 'POST' },
      );
      expect(mount.status).toBe(201);
    }
    expect((await putManifest(server.url, 'retag/copy', 'v1', img.manifest)).status).toBe(201);
    expect(await admin.used('retag')).toBe(img.size);
    expect(await outcome(await startUpload(server, 'retag/app'))).toMatchObject(overQuota);
  });

  it('lets exactly as many concurrent pushes in as fit', async () => {
    const images = Array.from({ length: 8 }, () => image([randomBlob(3 * KiB)]));
    const size = images[0]?.size ?? 0;
    for (const img of images) expect(img.size).toBe(size);
    // Room for three, and a little more: not enough for a fourth.
    await admin.setQuota('race', 3 * size + Math.floor(size / 2));
    for (const [i, img] of images.entries()) await uploadAll(server, `race/app${i}`, img.blobs);
    const results = await Promise.all(
      images.map((img, i) => putManifest(server.url, `race/app${i}`, 'v1', img.manifest)),
    );
    const statuses = await Promise.all(results.map(async (r) => (await outcome(r)).status));
    expect(statuses.filter((s) => s === 201)).toHaveLength(3);
    expect(statuses.filter((s) => s === 403)).toHaveLength(5);
    expect(await admin.used('race')).toBe(3 * size);
  });
});

describe('the admin API', () => {
  let server: TestServer;
  let admin: ReturnType<typeof api>;

  beforeAll(async () => {
    server = await startServer();
    admin = api(server);
    await server.app.registry.namespaces.create('rules');
  });
  afterAll(async () => server.close());

  it('sets, shows, audits and clears a quota and a retention policy', async () => {
    expect(await admin.namespace('rules')).toMatchObject({
      quotaBytes: null,
      usedBytes: 0,
      retention: null,
    });
    const retention = { keepLast: 10, keepDays: 30, keepTags: '^v\\d', untaggedDays: 7 };
    const res = await admin.patch('rules', { quotaBytes: 10 * 1024 ** 3, retention });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ quotaBytes: 10 * 1024 ** 3, usedBytes: 0, retention });
    expect(await admin.namespace('rules')).toMatchObject({ quotaBytes: 10 * 1024 ** 3, retention });
    // 0 is a quota (nothing more may be pushed), not "none".
    expect((await admin.patch('rules', { quotaBytes: 0 })).status).toBe(200);
    expect((await admin.namespace('rules')).quotaBytes).toBe(0);
    expect((await admin.patch('rules', { quotaBytes: null, retention: null })).status).toBe(200);
    expect(await admin.namespace('rules')).toMatchObject({ quotaBytes: null, retention: null });

    const audited = (await admin.audit('rules')).map((e) => e.detail);
    expect(audited).toEqual(
      expect.arrayContaining([
        { quotaBytes: 10 * 1024 ** 3, retention },
        { quotaBytes: 0 },
        { quotaBytes: null, retention: null },
      ]),
    );
  });

  it.each([
    [{ quotaBytes: -1 }, undefined],
    [{ quotaBytes: 1.5 }, undefined],
    [{ quotaBytes: '10GiB' }, undefined],
    [{ retention: {} }, 'a retention policy needs at least one rule'],
    [{ retention: { keepLast: 0 } }, 'retention keep-last must be a whole number from 1'],
    [{ retention: { keepTags: '(' } }, 'retention keep-tags is not a regular expression'],
    [{ retention: { keepLast: 1, keepTag: '^v' } }, 'retention has no rule "keepTag"'],
    [{ retention: 'keep-last=1' }, undefined],
  ])('refuses %j with 400 and changes nothing', async (body, message) => {
    await admin.setQuota('rules', 1000);
    const res = await admin.patch('rules', body);
    const refused = await outcome(res);
    expect(refused).toMatchObject({ status: 400, code: 'INVALID_REQUEST' });
    if (message !== undefined) expect(refused.message).toContain(message);
    expect(await admin.namespace('rules')).toMatchObject({ quotaBytes: 1000, retention: null });
  });

  it('describes the fields in the OpenAPI document', async () => {
    const doc = JSON.stringify(await (await fetch(`${server.url}/api/v1/openapi.json`)).json());
    for (const field of ['quotaBytes', 'usedBytes', 'retention', 'keepTags', 'untaggedDays'])
      expect(doc).toContain(`"${field}"`);
  });
});
