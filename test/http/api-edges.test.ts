/**
 * Distribution API behaviour beyond the conformance suite: hostile input, namespaces, pagination,
 * content negotiation, upload ownership, limits, and headers on every response.
 */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.js';
import {
  DOCKER_LIST,
  DOCKER_MANIFEST,
  OCI_CONFIG,
  OCI_INDEX,
  OCI_LAYER,
  OCI_MANIFEST,
  descriptor,
  errorCode,
  pushBlob,
  pushImage,
  putManifest,
  randomBlob,
  sha256,
  sha512,
} from '../helpers/oci.js';

let server: TestServer;
let base: string;

beforeAll(async () => {
  server = await startServer();
  base = server.url;
  await server.app.registry.namespaces.create('team');
});
afterAll(async () => server.close());

/** A GET whose path goes out byte for byte (fetch would resolve `..` and `%2e%2e` first). */
function rawGet(path: string): Promise<{ status: number; body: string; type: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}/`, { path, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body, type: res.headers['content-type'] }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

const codeOf = (body: string): string | undefined =>
  (JSON.parse(body) as { errors?: { code?: string }[] }).errors?.[0]?.code;

describe('every response', () => {
  it.each([
    ['GET', '/v2/'],
    ['GET', '/v2/library/none/manifests/latest'],
    ['GET', '/v2/UPPER/tags/list'],
    ['GET', '/nope'],
    ['DELETE', '/v2/_catalog'],
  ])('%s %s carries Docker-Distribution-API-Version', async (method, path) => {
    const res = await fetch(`${base}${path}`, { method });
    expect(res.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
  });

  it('GET /v2/ answers 200 with a JSON body', async () => {
    const res = await fetch(`${base}/v2/`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({});
  });

  it('an unsupported method on a known endpoint is 405 UNSUPPORTED', async () => {
    const res = await fetch(`${base}/v2/_catalog`, { method: 'DELETE' });
    expect(res.status).toBe(405);
    expect(await errorCode(res)).toBe('UNSUPPORTED');
  });
});

describe('names, references and digests are validated before use', () => {
  it.each([
    '/v2/Library/app/tags/list',
    '/v2/library/app-/tags/list',
    '/v2/library//app/tags/list',
    '/v2/library/../etc/tags/list',
    '/v2/library/%2e%2e/etc/tags/list',
    '/v2/library%2Fapp/tags/list',
    `/v2/${'a'.repeat(256)}/tags/list`,
  ])('%s → 400 NAME_INVALID', async (path) => {
    const res = await rawGet(path);
    expect(res.status).toBe(400);
    expect(codeOf(res.body)).toBe('NAME_INVALID');
  });

  it.each([
    'sha256:abc',
    'sha256:' + 'A'.repeat(64),
    'md5:d41d8cd98f00b204e9800998ecf8427e',
    'sha256:%2e%2e%2fetc',
  ])('GET blob %s → 400 DIGEST_INVALID', async (digest) => {
    const res = await rawGet(`/v2/library/app/blobs/${digest}`);
    expect(res.status).toBe(400);
    expect(codeOf(res.body)).toBe('DIGEST_INVALID');
  });

  it('a path escaping the blobs route is refused, never served from disk', async () => {
    for (const path of [
      '/v2/library/app/blobs/..%2f..%2fmeta.sqlite',
      '/v2/library/app/blobs/../../meta.sqlite',
    ]) {
      const res = await rawGet(path);
      expect([400, 404]).toContain(res.status);
      expect(res.type).toContain('application/json');
      expect(res.body).not.toContain('SQLite');
    }
  });

  it('upload ids that are not ours are unknown', async () => {
    for (const id of [
      '..%2f..%2fmeta.sqlite',
      'not-a-uuid',
      '00000000-0000-0000-0000-000000000000',
    ]) {
      const res = await fetch(`${base}/v2/library/app/blobs/uploads/${id}`);
      expect(res.status).toBe(404);
      expect(await errorCode(res)).toBe('BLOB_UPLOAD_UNKNOWN');
    }
  });

  it('a tag longer than 128 characters is refused on PUT with TAG_INVALID', async () => {
    const res = await putManifest(base, 'library/app', 'a'.repeat(129), '{}');
    expect(res.status).toBe(400);
    expect(await errorCode(res)).toBe('TAG_INVALID');
  });

  it('an invalid tag on GET is simply unknown (404)', async () => {
    const res = await fetch(`${base}/v2/library/app/manifests/.INVALID`);
    expect(res.status).toBe(404);
    expect(await errorCode(res)).toBe('MANIFEST_UNKNOWN');
  });
});

describe('namespaces', () => {
  it('a push into an unknown namespace fails with how to create it', async () => {
    const res = await fetch(`${base}/v2/nosuchns/app/blobs/uploads/`, { method: 'POST' });
    expect(res.status).toBe(404);
    const body = (await res.json()) as { errors: { code: string; message: string }[] };
    expect(body.errors[0]?.code).toBe('NAME_UNKNOWN');
    expect(body.errors[0]?.message).toContain('berth namespace create nosuchns');
  });

  it('a single-segment name lives in the default namespace (library)', async () => {
    const img = await pushImage(base, 'solo', 'v1');
    const res = await fetch(`${base}/v2/library/solo/manifests/v1`);
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-content-digest')).toBe(img.digest);
    const tags = (await (await fetch(`${base}/v2/solo/tags/list`)).json()) as {
      name: string;
      tags: string[];
    };
    expect(tags).toEqual({ name: 'solo', tags: ['v1'] });
  });

  it('a namespace created at run time accepts pushes at once', async () => {
    const before = await fetch(`${base}/v2/later/app/blobs/uploads/`, { method: 'POST' });
    expect(before.status).toBe(404);
    await server.app.registry.namespaces.create('later');
    const after = await fetch(`${base}/v2/later/app/blobs/uploads/`, { method: 'POST' });
    expect(after.status).toBe(202);
  });
});

describe('uploads', () => {
  it('an upload session is bound to its repository', async () => {
    const post = await fetch(`${base}/v2/team/one/blobs/uploads/`, { method: 'POST' });
    const id = post.headers.get('docker-upload-uuid') ?? '';
    const other = await fetch(`${base}/v2/team/two/blobs/uploads/${id}`, {
      method: 'PATCH',
      body: 'x',
    });
    expect(other.status).toBe(404);
    expect(await errorCode(other)).toBe('BLOB_UPLOAD_UNKNOWN');
    const own = await fetch(`${base}/v2/team/one/blobs/uploads/${id}`);
    expect(own.status).toBe(204);
    expect(own.headers.get('range')).toBe('0-0');
  });

  it('digest-algorithm=sha512 hashes the stream with sha512', async () => {
    const data = randomBlob(4096);
    const post = await fetch(`${base}/v2/team/sha/blobs/uploads/?digest-algorithm=sha512`, {
      method: 'POST',
    });
    expect(post.status).toBe(202);
    const put = await fetch(`${base}${post.headers.get('location') ?? ''}?digest=${sha512(data)}`, {
      method: 'PUT',
      body: data,
    });
    expect(put.status).toBe(201);
    expect(put.headers.get('docker-content-digest')).toBe(sha512(data));
    const get = await fetch(`${base}/v2/team/sha/blobs/${sha512(data)}`);
    expect(Buffer.from(await get.arrayBuffer()).equals(data)).toBe(true);
  });

  it('an unknown digest-algorithm is refused', async () => {
    const res = await fetch(`${base}/v2/team/sha/blobs/uploads/?digest-algorithm=md5`, {
      method: 'POST',
    });
    expect(res.status).toBe(400);
    expect(await errorCode(res)).toBe('DIGEST_INVALID');
  });

  it('PUT without ?digest= is DIGEST_INVALID and keeps the session', async () => {
    const post = await fetch(`${base}/v2/team/nodigest/blobs/uploads/`, { method: 'POST' });
    const location = post.headers.get('location') ?? '';
    const put = await fetch(`${base}${location}`, { method: 'PUT' });
    expect(put.status).toBe(400);
    expect(await errorCode(put)).toBe('DIGEST_INVALID');
    expect((await fetch(`${base}${location}`)).status).toBe(204);
  });

  it('a chunk whose body is shorter than its Content-Range is refused and not kept', async () => {
    const post = await fetch(`${base}/v2/team/short/blobs/uploads/`, { method: 'POST' });
    const location = post.headers.get('location') ?? '';
    const stream = new ReadableStream({
      start(c) {
        c.enqueue(new Uint8Array(10));
        c.close();
      },
    });
    const res = await fetch(`${base}${location}`, {
      method: 'PATCH',
      headers: { 'content-range': '0-19' },
      body: stream,
      duplex: 'half',
    });
    expect(res.status).toBe(400);
    expect(await errorCode(res)).toBe('SIZE_INVALID');
    const status = await fetch(`${base}${location}`);
    expect(status.headers.get('range')).toBe('0-0');
  });

  it('a malformed Content-Range is BLOB_UPLOAD_INVALID', async () => {
    const post = await fetch(`${base}/v2/team/badrange/blobs/uploads/`, { method: 'POST' });
    const res = await fetch(`${base}${post.headers.get('location') ?? ''}`, {
      method: 'PATCH',
      headers: { 'content-range': 'nonsense' },
      body: 'abc',
    });
    expect(res.status).toBe(400);
    expect(await errorCode(res)).toBe('BLOB_UPLOAD_INVALID');
  });

  it('stale sessions are purged with their bytes', async () => {
    const post = await fetch(`${base}/v2/team/stale/blobs/uploads/`, { method: 'POST' });
    const location = post.headers.get('location') ?? '';
    await fetch(`${base}${location}`, { method: 'PATCH', body: 'some bytes' });
    const purged = await server.app.registry.uploads.purgeStale(new Date(Date.now() + 1000));
    expect(purged).toBeGreaterThanOrEqual(1);
    expect((await fetch(`${base}${location}`)).status).toBe(404);
  });

  it('a mount of a blob the source repository does not have starts an upload (202)', async () => {
    const digest = await pushBlob(base, 'team/src', 'mount me');
    const res = await fetch(
      `${base}/v2/team/dst/blobs/uploads/?mount=${digest}&from=team/elsewhere`,
      { method: 'POST' },
    );
    expect(res.status).toBe(202);
    expect(res.headers.get('location')).toMatch(/^\/v2\/team\/dst\/blobs\/uploads\/[0-9a-f-]{36}$/);
    const mounted = await fetch(
      `${base}/v2/team/dst/blobs/uploads/?mount=${digest}&from=team/src`,
      { method: 'POST' },
    );
    expect(mounted.status).toBe(201);
    expect(mounted.headers.get('location')).toBe(`/v2/team/dst/blobs/${digest}`);
  });
});

describe('manifests', () => {
  it('refuses a manifest whose layer was never pushed (MANIFEST_BLOB_UNKNOWN) and leaves no tag', async () => {
    const config = '{"a":1}';
    await pushBlob(base, 'team/strict', config);
    const missing = randomBlob(100);
    const res = await putManifest(base, 'team/strict', 'v1', {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: descriptor(OCI_CONFIG, config),
      layers: [descriptor(OCI_LAYER, missing)],
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as {
      errors: { code: string; detail: { missing: string[] } }[];
    };
    expect(body.errors[0]?.code).toBe('MANIFEST_BLOB_UNKNOWN');
    expect(body.errors[0]?.detail.missing).toEqual([sha256(missing)]);
    expect((await fetch(`${base}/v2/team/strict/manifests/v1`)).status).toBe(404);
  });

  it('refuses an index whose child manifest is missing', async () => {
    const child = descriptor(OCI_MANIFEST, '{"never":"pushed"}');
    const res = await putManifest(
      base,
      'team/strict',
      'idx',
      { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [child] },
      OCI_INDEX,
    );
    expect(res.status).toBe(400);
    expect(await errorCode(res)).toBe('MANIFEST_BLOB_UNKNOWN');
  });

  it('refuses Docker schema 1 with a message that says what to do', async () => {
    const res = await putManifest(
      base,
      'team/old',
      'v1',
      { schemaVersion: 1, name: 'x', tag: 'v1', fsLayers: [] },
      'application/vnd.docker.distribution.manifest.v1+prettyjws',
    );
    expect(res.status).toBe(400);
    const body = (await res.json()) as { errors: { code: string; message: string }[] };
    expect(body.errors[0]?.code).toBe('MANIFEST_INVALID');
    expect(body.errors[0]?.message).toMatch(/schema 1 is not supported.*skopeo copy --format v2s2/);
  });

  it.each([
    ['not JSON', 'nope{'],
    ['a JSON array', '[]'],
    ['schemaVersion 3', JSON.stringify({ schemaVersion: 3, mediaType: OCI_MANIFEST })],
    [
      'a bad config digest',
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: OCI_CONFIG, digest: 'sha256:zz', size: 1 },
        layers: [],
      }),
    ],
    [
      'a negative size',
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: OCI_CONFIG, digest: sha256('x'), size: -1 },
        layers: [],
      }),
    ],
    [
      'an unknown media type',
      JSON.stringify({ schemaVersion: 2, mediaType: 'application/x-nope', layers: [] }),
    ],
  ])('refuses %s with MANIFEST_INVALID', async (_what, body) => {
    const res = await putManifest(base, 'team/bad', 'v1', body);
    expect(res.status).toBe(400);
    expect(await errorCode(res)).toBe('MANIFEST_INVALID');
  });

  it('refuses a Content-Type that contradicts the mediaType field', async () => {
    const img = await pushImage(base, 'team/ct', 'v1');
    const res = await putManifest(base, 'team/ct', 'v2', img.manifest, DOCKER_MANIFEST);
    expect(res.status).toBe(400);
    expect(await errorCode(res)).toBe('MANIFEST_INVALID');
  });

  it('accepts a manifest of exactly 4 MiB and refuses a larger one with 413', async () => {
    const limit = 4 * 1024 * 1024;
    const img = await pushImage(base, 'team/big', 'seed');
    const doc = JSON.parse(img.manifest) as Record<string, unknown>;
    const skeleton = JSON.stringify({ ...doc, annotations: { pad: '' } });
    const fits = JSON.stringify({
      ...doc,
      annotations: { pad: 'x'.repeat(limit - skeleton.length) },
    });
    expect(Buffer.byteLength(fits)).toBe(limit);
    const ok = await putManifest(base, 'team/big', 'fits', fits);
    expect(ok.status).toBe(201);
    const tooBig = JSON.stringify({
      ...doc,
      annotations: { pad: 'x'.repeat(limit - skeleton.length + 1) },
    });
    const res = await putManifest(base, 'team/big', 'toobig', tooBig);
    expect(res.status).toBe(413);
    expect(await errorCode(res)).toBe('SIZE_INVALID');
    expect((await fetch(`${base}/v2/team/big/manifests/toobig`)).status).toBe(404);
  });

  it('serves the exact bytes pushed, with its media type and digest', async () => {
    const img = await pushImage(base, 'team/exact', 'v1', { mediaTypes: 'docker' });
    const spaced = JSON.stringify(JSON.parse(img.manifest), null, 3);
    const put = await putManifest(base, 'team/exact', 'spaced', spaced, DOCKER_MANIFEST);
    expect(put.status).toBe(201);
    const res = await fetch(`${base}/v2/team/exact/manifests/spaced`, {
      headers: { accept: DOCKER_MANIFEST },
    });
    expect(await res.text()).toBe(spaced);
    expect(res.headers.get('content-type')).toBe(DOCKER_MANIFEST);
    expect(res.headers.get('docker-content-digest')).toBe(sha256(spaced));
  });

  it('negotiates on Accept: a type the client does not accept is 404 naming the stored type', async () => {
    const img = await pushImage(base, 'team/neg', 'v1', { mediaTypes: 'docker' });
    const refused = await fetch(`${base}/v2/team/neg/manifests/v1`, {
      headers: { accept: OCI_MANIFEST },
    });
    expect(refused.status).toBe(404);
    const body = (await refused.json()) as { errors: { code: string; message: string }[] };
    expect(body.errors[0]?.message).toContain(DOCKER_MANIFEST);
    for (const accept of [`${OCI_MANIFEST}, ${DOCKER_MANIFEST}`, '*/*', 'application/json', '']) {
      const res = await fetch(`${base}/v2/team/neg/manifests/v1`, {
        headers: accept ? { accept } : {},
      });
      expect(res.status, accept).toBe(200);
      expect(res.headers.get('docker-content-digest')).toBe(img.digest);
    }
  });

  it('a tag can move between media types', async () => {
    const oci = await pushImage(base, 'team/move', 'v1');
    const docker = await pushImage(base, 'team/move', 'v1', { mediaTypes: 'docker' });
    const res = await fetch(`${base}/v2/team/move/manifests/v1`, { method: 'HEAD' });
    expect(res.headers.get('docker-content-digest')).toBe(docker.digest);
    expect(res.headers.get('content-type')).toBe(DOCKER_MANIFEST);
    expect(
      (await fetch(`${base}/v2/team/move/manifests/${oci.digest}`, { method: 'HEAD' })).status,
    ).toBe(200);
  });

  it('accepts a Docker manifest list over pushed children', async () => {
    const a = await pushImage(base, 'team/list', 'a', { mediaTypes: 'docker' });
    const b = await pushImage(base, 'team/list', 'b', { mediaTypes: 'docker' });
    const list = JSON.stringify({
      schemaVersion: 2,
      mediaType: DOCKER_LIST,
      manifests: [
        {
          ...descriptor(DOCKER_MANIFEST, a.manifest),
          platform: { architecture: 'amd64', os: 'linux' },
        },
        {
          ...descriptor(DOCKER_MANIFEST, b.manifest),
          platform: { architecture: 'arm64', os: 'linux' },
        },
      ],
    });
    const res = await putManifest(base, 'team/list', 'multi', list, DOCKER_LIST);
    expect(res.status).toBe(201);
    const get = await fetch(`${base}/v2/team/list/manifests/multi`, {
      headers: { accept: DOCKER_LIST },
    });
    expect(get.headers.get('content-type')).toBe(DOCKER_LIST);
    expect(await get.text()).toBe(list);
  });
});

describe('listings', () => {
  beforeAll(async () => {
    const img = await pushImage(base, 'team/many', 'seed');
    for (const tag of ['b', 'a', 'C', '1', 'a-b', 'a_b', 'a.b']) {
      const res = await putManifest(base, 'team/many', tag, img.manifest);
      expect(res.status).toBe(201);
    }
  });

  it('lists tags in byte order', async () => {
    const body = (await (await fetch(`${base}/v2/team/many/tags/list`)).json()) as {
      tags: string[];
    };
    expect(body.tags).toEqual(['1', 'C', 'a', 'a-b', 'a.b', 'a_b', 'b', 'seed']);
  });

  it('paginates with n and last, with a Link only when more remain', async () => {
    const first = await fetch(`${base}/v2/team/many/tags/list?n=3`);
    expect(((await first.json()) as { tags: string[] }).tags).toEqual(['1', 'C', 'a']);
    expect(first.headers.get('link')).toBe('</v2/team/many/tags/list?n=3&last=a>; rel="next"');
    const last = await fetch(`${base}/v2/team/many/tags/list?n=5&last=a`);
    expect(((await last.json()) as { tags: string[] }).tags).toEqual([
      'a-b',
      'a.b',
      'a_b',
      'b',
      'seed',
    ]);
    expect(last.headers.get('link')).toBeNull();
  });

  it('n=0 is an empty list without Link', async () => {
    const res = await fetch(`${base}/v2/team/many/tags/list?n=0`);
    expect(((await res.json()) as { tags: string[] }).tags).toEqual([]);
    expect(res.headers.get('link')).toBeNull();
  });

  it('a bad n is PAGINATION_NUMBER_INVALID', async () => {
    for (const n of ['-1', 'abc', '1.5']) {
      const res = await fetch(`${base}/v2/team/many/tags/list?n=${n}`);
      expect(res.status).toBe(400);
      expect(await errorCode(res)).toBe('PAGINATION_NUMBER_INVALID');
    }
  });

  it('tags of an unknown repository are NAME_UNKNOWN', async () => {
    const res = await fetch(`${base}/v2/team/never/tags/list`);
    expect(res.status).toBe(404);
    expect(await errorCode(res)).toBe('NAME_UNKNOWN');
  });

  it('the catalog lists repositories in order and pages with Link', async () => {
    const all = (await (await fetch(`${base}/v2/_catalog`)).json()) as { repositories: string[] };
    expect(all.repositories).toContain('team/many');
    expect(all.repositories).toContain('library/solo');
    expect([...all.repositories].sort()).toEqual(all.repositories);
    const page = await fetch(`${base}/v2/_catalog?n=2`);
    const names = ((await page.json()) as { repositories: string[] }).repositories;
    expect(names).toEqual(all.repositories.slice(0, 2));
    expect(page.headers.get('link')).toBe(
      `</v2/_catalog?n=2&last=${encodeURIComponent(names[1] ?? '')}>; rel="next"`,
    );
    const next = (await (
      await fetch(`${base}/v2/_catalog?n=100&last=${names[1] ?? ''}`)
    ).json()) as { repositories: string[] };
    expect(next.repositories).toEqual(all.repositories.slice(2));
  });
});

describe('deletes', () => {
  it('deleting a blob unlinks it from that repository only', async () => {
    const digest = await pushBlob(base, 'team/del-a', 'shared bytes');
    const mount = await fetch(
      `${base}/v2/team/del-b/blobs/uploads/?mount=${digest}&from=team/del-a`,
      { method: 'POST' },
    );
    expect(mount.status).toBe(201);
    const del = await fetch(`${base}/v2/team/del-a/blobs/${digest}`, { method: 'DELETE' });
    expect(del.status).toBe(202);
    const gone = await fetch(`${base}/v2/team/del-a/blobs/${digest}`, { method: 'HEAD' });
    expect(gone.status).toBe(404);
    expect(await (await fetch(`${base}/v2/team/del-b/blobs/${digest}`)).text()).toBe(
      'shared bytes',
    );
    const again = await fetch(`${base}/v2/team/del-a/blobs/${digest}`, { method: 'DELETE' });
    expect(again.status).toBe(404);
    expect(await errorCode(again)).toBe('BLOB_UNKNOWN');
  });

  it('deleting a manifest by digest removes its tags; deleting a tag keeps the manifest', async () => {
    const img = await pushImage(base, 'team/del-m', 'one');
    await putManifest(base, 'team/del-m', 'two', img.manifest);
    expect((await fetch(`${base}/v2/team/del-m/manifests/one`, { method: 'DELETE' })).status).toBe(
      202,
    );
    expect((await fetch(`${base}/v2/team/del-m/manifests/one`, { method: 'HEAD' })).status).toBe(
      404,
    );
    expect((await fetch(`${base}/v2/team/del-m/manifests/two`, { method: 'HEAD' })).status).toBe(
      200,
    );
    expect(
      (await fetch(`${base}/v2/team/del-m/manifests/${img.digest}`, { method: 'DELETE' })).status,
    ).toBe(202);
    expect((await fetch(`${base}/v2/team/del-m/manifests/two`, { method: 'HEAD' })).status).toBe(
      404,
    );
    const tags = (await (await fetch(`${base}/v2/team/del-m/tags/list`)).json()) as {
      tags: string[];
    };
    expect(tags.tags).toEqual([]);
  });
});
