/**
 * Deleting content never leaves a tag pointing at missing content, and an emptied repository goes:
 * - a manifest that an index of the same repository lists cannot be deleted by digest (409 with a
 *   spec error code and the index named), on /v2 and on the admin API; index first, then child;
 *   nor can a blob that a manifest of the repository lists;
 * - `DELETE /api/v1/repositories/:name` removes a repository with everything in it;
 * - a repository whose last manifest, blob link and upload session go leaves the catalog.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, startServer, type TestServer } from '../helpers/server.js';
import { OCI_INDEX, OCI_MANIFEST, sha256 } from '../helpers/oci.js';
import {
  addUser,
  basic,
  deleteAs,
  outcome,
  pullAs,
  pushBlobAs,
  pushImageAs,
  send,
} from './auth-helpers.js';

let server: TestServer;
const admin = basic('admin', ADMIN_PASSWORD);
const enc = encodeURIComponent;

interface ErrorBody {
  errors: { code: string; message: string; detail?: { referencedBy?: string[] } }[];
}

/** Two platform images and an index over them, tagged `multi`. */
async function pushIndex(
  repository: string,
): Promise<{ index: string; children: [string, string] }> {
  const children: string[] = [];
  for (const arch of ['amd64', 'arm64']) {
    const pushed = await pushImageAs(server, repository, arch, admin);
    expect(pushed.outcome).toBe('201');
    children.push(pushed.digest);
  }
  const manifests = await Promise.all(
    children.map(async (digest, i) => {
      const res = await send(server, 'GET', `/v2/${repository}/manifests/${digest}`, admin, {
        headers: { accept: OCI_MANIFEST },
      });
      return {
        mediaType: OCI_MANIFEST,
        digest,
        size: (await res.arrayBuffer()).byteLength,
        platform: { os: 'linux', architecture: i === 0 ? 'amd64' : 'arm64' },
      };
    }),
  );
  const body = JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests });
  const put = await send(server, 'PUT', `/v2/${repository}/manifests/multi`, admin, {
    body,
    headers: { 'content-type': OCI_INDEX },
  });
  expect(put.status).toBe(201);
  const [first = '', second = ''] = children;
  return { index: sha256(body), children: [first, second] };
}

/** GET of a manifest or index by tag or digest: its outcome. */
async function pull(repository: string, reference: string): Promise<string> {
  return outcome(
    await send(server, 'GET', `/v2/${repository}/manifests/${reference}`, admin, {
      headers: { accept: `${OCI_MANIFEST}, ${OCI_INDEX}` },
    }),
  );
}

async function catalog(): Promise<string[]> {
  const res = await send(server, 'GET', '/v2/_catalog', admin);
  expect(res.status).toBe(200);
  return ((await res.json()) as { repositories: string[] }).repositories;
}

beforeAll(async () => {
  server = await startServer({ auth: true });
});

afterAll(async () => {
  await server.close();
});

describe('DELETE of a manifest that an index lists', () => {
  it('/v2 by digest → 409 DENIED naming the index; the tag stays pullable', async () => {
    const { index, children } = await pushIndex('library/multi-v2');
    const res = await send(
      server,
      'DELETE',
      `/v2/library/multi-v2/manifests/${children[0]}`,
      admin,
    );
    expect(res.status).toBe(409);
    const body = (await res.json()) as ErrorBody;
    expect(body.errors[0]?.code).toBe('DENIED');
    expect(body.errors[0]?.message).toContain(index);
    expect(body.errors[0]?.detail?.referencedBy).toEqual([index]);

    expect(await pull('library/multi-v2', 'multi')).toBe('200');
    for (const child of children) {
      expect(await pullAs(server, 'library/multi-v2', child, admin)).toBe('200');
    }
  });

  it('the admin API → 409 CONFLICT naming the index', async () => {
    const { index, children } = await pushIndex('library/multi-api');
    const res = await send(
      server,
      'DELETE',
      `/api/v1/repositories/${enc('library/multi-api')}/manifests/${children[1]}`,
      admin,
    );
    expect(res.status).toBe(409);
    const body = (await res.json()) as ErrorBody;
    expect(body.errors[0]?.code).toBe('CONFLICT');
    expect(body.errors[0]?.message).toContain(index);
    expect(await pullAs(server, 'library/multi-api', children[1], admin)).toBe('200');
  });

  it('deleting the tag leaves the index, so the child stays protected; index first, then child', async () => {
    const repository = 'library/multi-order';
    const { index, children } = await pushIndex(repository);
    expect(await deleteAs(server, repository, 'multi', admin)).toBe('202');
    expect(await deleteAs(server, repository, children[0], admin)).toBe('409 DENIED');
    expect(await deleteAs(server, repository, index, admin)).toBe('202');
    expect(await deleteAs(server, repository, children[0], admin)).toBe('202');
    expect(await pullAs(server, repository, children[0], admin)).toBe('404 MANIFEST_UNKNOWN');
    expect(await pullAs(server, repository, children[1], admin)).toBe('200');
  });

  it('an index in another repository does not hold it', async () => {
    const { children } = await pushIndex('library/multi-holder');
    const single = (await pushImageAs(server, 'library/multi-free', 'v1', admin)).digest;
    expect(children).not.toContain(single);
    expect(await deleteAs(server, 'library/multi-free', single, admin)).toBe('202');
  });
});

describe('DELETE of a blob that a manifest lists', () => {
  it('→ 409 DENIED naming the manifest; the blob stays; after the manifest, it goes', async () => {
    const repository = 'library/layered';
    const { digest } = await pushImageAs(server, repository, 'v1', admin);
    const manifest = (await (
      await send(server, 'GET', `/v2/${repository}/manifests/${digest}`, admin, {
        headers: { accept: OCI_MANIFEST },
      })
    ).json()) as { layers: { digest: string }[] };
    const layer = manifest.layers[0]?.digest ?? '';
    const blobUrl = `/v2/${repository}/blobs/${layer}`;

    const refused = await send(server, 'DELETE', blobUrl, admin);
    expect(refused.status).toBe(409);
    const body = (await refused.json()) as ErrorBody;
    expect(body.errors[0]?.code).toBe('DENIED');
    expect(body.errors[0]?.message).toContain(digest);
    expect(await outcome(await send(server, 'GET', blobUrl, admin))).toBe('200');
    expect(await pull(repository, 'v1')).toBe('200');

    expect(await deleteAs(server, repository, digest, admin)).toBe('202');
    expect(await outcome(await send(server, 'DELETE', blobUrl, admin))).toBe('202');
    expect(await outcome(await send(server, 'GET', blobUrl, admin))).toBe('404 BLOB_UNKNOWN');
  });
});

describe('DELETE /api/v1/repositories/:name', () => {
  const url = (name: string): string => `/api/v1/repositories/${enc(name)}`;

  it('deletes tags, manifests, blob links and uploads; audited; then unknown', async () => {
    const repository = 'library/doomed';
    await pushIndex(repository);
    const post = await send(server, 'POST', `/v2/${repository}/blobs/uploads/`, admin);
    expect(post.status).toBe(202);
    const upload = post.headers.get('location') ?? '';
    const uploadId = upload.split('/').at(-1) ?? '';
    const patch = await send(server, 'PATCH', upload, admin, {
      body: 'half a blob',
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(patch.status).toBe(202);
    const uploadsDir = path.join(server.dataDir, 'uploads');
    expect(await readdir(uploadsDir)).toContain(uploadId);

    const developer = await addUser(server, 'doomed-dev', [{ role: 'developer' }]);
    expect(await outcome(await send(server, 'DELETE', url(repository), developer))).toBe(
      '403 DENIED',
    );
    expect(await outcome(await send(server, 'DELETE', url(repository), admin))).toBe('204');

    expect(await catalog()).not.toContain(repository);
    expect(await pull(repository, 'multi')).toBe('404 MANIFEST_UNKNOWN');
    expect(await outcome(await send(server, 'GET', `/v2/${repository}/tags/list`, admin))).toBe(
      '404 NAME_UNKNOWN',
    );
    expect(await outcome(await send(server, 'GET', upload, admin))).toBe('404 BLOB_UPLOAD_UNKNOWN');
    expect(await readdir(uploadsDir)).not.toContain(uploadId);

    const audit = await send(server, 'GET', '/api/v1/audit?action=delete', admin);
    const events = ((await audit.json()) as { items: { actor: string; target: string }[] }).items;
    expect(events).toContainEqual(expect.objectContaining({ actor: 'admin', target: repository }));

    expect(await outcome(await send(server, 'DELETE', url(repository), admin))).toBe(
      '404 NOT_FOUND',
    );
  });

  it('is in the OpenAPI document', async () => {
    const doc = (await (await send(server, 'GET', '/api/v1/openapi.json')).json()) as {
      paths: Record<string, Record<string, { operationId: string; security: unknown[] }>>;
    };
    const operation = doc.paths['/api/v1/repositories/{name}']?.['delete'];
    expect(operation?.operationId).toBe('deleteRepository');
    expect(operation?.security.length).toBeGreaterThan(0);
  });
});

describe('an emptied repository leaves the catalog', () => {
  it('after its last blob link goes', async () => {
    const { digest } = await pushBlobAs(server, 'library/blob-only', 'some bytes', admin);
    expect(await catalog()).toContain('library/blob-only');
    expect(
      await outcome(await send(server, 'DELETE', `/v2/library/blob-only/blobs/${digest}`, admin)),
    ).toBe('202');
    expect(await catalog()).not.toContain('library/blob-only');
  });

  it('after its last manifest, blob link and upload session go, not before', async () => {
    const repository = 'library/emptied';
    const { digest } = await pushImageAs(server, repository, 'v1', admin);
    const manifest = (await (
      await send(server, 'GET', `/v2/${repository}/manifests/${digest}`, admin, {
        headers: { accept: OCI_MANIFEST },
      })
    ).json()) as { config: { digest: string }; layers: { digest: string }[] };
    const post = await send(server, 'POST', `/v2/${repository}/blobs/uploads/`, admin);
    expect(post.status).toBe(202);
    const upload = post.headers.get('location') ?? '';

    expect(await deleteAs(server, repository, digest, admin)).toBe('202');
    for (const blob of [manifest.config, ...manifest.layers]) {
      expect(await catalog()).toContain(repository);
      const res = await send(server, 'DELETE', `/v2/${repository}/blobs/${blob.digest}`, admin);
      expect(await outcome(res)).toBe('202');
    }
    // Only the upload session is left.
    expect(await catalog()).toContain(repository);
    expect(await outcome(await send(server, 'DELETE', upload, admin))).toBe('204');
    expect(await catalog()).not.toContain(repository);
  });
});
