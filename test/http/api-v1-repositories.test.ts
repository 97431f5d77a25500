/**
 * Admin API content views for the web UI: overview, repositories (search, paging, visibility),
 * tags (sizes, platforms, who pushed), manifest details (config, history, referrers) and deleting
 * tags and manifests, which needs `delete` on the namespace whatever the UI shows.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, startServer, type TestServer } from '../helpers/server.js';
import {
  descriptor,
  OCI_CONFIG,
  OCI_INDEX,
  OCI_LAYER,
  OCI_MANIFEST,
  randomBlob,
  sha256,
} from '../helpers/oci.js';
import {
  adminSession,
  ApiClient,
  basicAuth,
  outcomeOf,
  userSession,
  type AuditBody,
} from './api-v1-helpers.js';
import { pushBlobAs, send } from './auth-helpers.js';

interface TagBody {
  name: string;
  digest: string;
  kind: string;
  artifactType: string | null;
  size: number;
  pushedAt: string;
  pushedBy: string | null;
  platforms: { os: string; architecture: string; variant: string | null; digest: string }[];
}
interface RepositoryBody {
  name: string;
  namespace: string;
  tags: number;
  manifests: number;
  actions: string[];
}
interface ManifestBody {
  digest: string;
  kind: string;
  artifactType: string | null;
  size: number;
  totalSize: number;
  pushedBy: string | null;
  tags: string[];
  annotations: Record<string, string> | null;
  subject: { digest: string } | null;
  layers: { digest: string; size: number }[];
  config: {
    env: string[];
    entrypoint: string[] | null;
    cmd: string[] | null;
    labels: Record<string, string>;
    exposedPorts: string[];
    history: { createdBy: string | null; emptyLayer: boolean }[];
    os: string | null;
    architecture: string | null;
  } | null;
  manifests: { digest: string; platform: { architecture: string } | null }[];
  referrers: { digest: string; artifactType: string | null }[];
  actions: string[];
}

const XSS = '<img src=x onerror=alert(1)>';
const enc = encodeURIComponent;

let server: TestServer;
let admin: ApiClient;
const adminCreds = basicAuth('admin', ADMIN_PASSWORD);

/** Pushes one manifest (and its blobs) as `admin`; returns the manifest's digest. */
async function push(
  repository: string,
  reference: string,
  manifest: Record<string, unknown>,
  blobs: (string | Buffer)[],
): Promise<string> {
  for (const blob of blobs) {
    expect((await pushBlobAs(server, repository, blob, adminCreds)).outcome).toBe('201');
  }
  const body = JSON.stringify(manifest);
  const res = await send(server, 'PUT', `/v2/${repository}/manifests/${reference}`, adminCreds, {
    body,
    headers: { 'content-type': String(manifest['mediaType']) },
  });
  expect(res.status).toBe(201);
  return sha256(body);
}

/** An image whose config has env, entrypoint, labels (one hostile) and history. */
async function pushImage(
  repository: string,
  tag: string,
  architecture = 'amd64',
  shared?: Buffer,
): Promise<{ digest: string; size: number; layers: Buffer[]; manifest: string }> {
  const config = JSON.stringify({
    architecture,
    os: 'linux',
    created: '2026-11-01T10:00:00Z',
    config: {
      Env: ['PATH=/usr/bin', 'MODE=prod'],
      Entrypoint: ['/app/server'],
      Cmd: ['--port', '8080'],
      ExposedPorts: { '8080/tcp': {} },
      Labels: { 'org.opencontainers.image.title': XSS, maintainer: 'ops' },
    },
    history: [
      { created: '2026-11-01T09:00:00Z', created_by: 'ADD rootfs.tar /' },
      { created: '2026-11-01T10:00:00Z', created_by: 'ENV MODE=prod', empty_layer: true },
    ],
    rootfs: { type: 'layers', diff_ids: [] },
    n: Math.random(),
  });
  const layers = [shared ?? randomBlob(2048), randomBlob(1000)];
  const manifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: descriptor(OCI_CONFIG, config),
    layers: layers.map((l) => descriptor(OCI_LAYER, l)),
  };
  const digest = await push(repository, tag, manifest, [config, ...layers]);
  const text = JSON.stringify(manifest);
  const size = Buffer.byteLength(text) + Buffer.byteLength(config) + 2048 + 1000;
  return { digest, size, layers, manifest: text };
}

beforeAll(async () => {
  server = await startServer({ auth: true });
  admin = await adminSession(server);
  for (const ns of ['apps', 'tools']) {
    expect((await admin.post('/namespaces', { name: ns })).status).toBe(201);
  }
});
afterAll(async () => server.close());

describe('repositories and tags', () => {
  it('lists repositories with search, namespace filter and paging', async () => {
    for (const name of ['apps/web', 'apps/worker', 'apps/web-admin', 'tools/cli', 'hello']) {
      await pushImage(name, 'v1');
    }
    const all = await admin.get<{ items: RepositoryBody[]; total: number }>('/repositories');
    expect(all.status).toBe(200);
    expect(all.body.items.map((r) => r.name)).toEqual([
      'apps/web',
      'apps/web-admin',
      'apps/worker',
      'library/hello',
      'tools/cli',
    ]);
    expect(all.body.items[0]).toMatchObject({ namespace: 'apps', tags: 1, manifests: 1 });
    expect(all.body.items[0]?.actions).toEqual(['pull', 'push', 'delete', 'admin']);

    const web = await admin.get<{ items: RepositoryBody[]; total: number }>('/repositories?q=WEB');
    expect(web.body.items.map((r) => r.name)).toEqual(['apps/web', 'apps/web-admin']);
    const wildcard = await admin.get<{ total: number }>('/repositories?q=%25');
    expect(wildcard.body.total).toBe(0);
    const tools = await admin.get<{ items: RepositoryBody[] }>('/repositories?namespace=tools');
    expect(tools.body.items.map((r) => r.name)).toEqual(['tools/cli']);

    const page = await admin.get<{ items: RepositoryBody[]; total: number }>(
      '/repositories?limit=2&offset=2',
    );
    expect(page.body.total).toBe(5);
    expect(page.body.items.map((r) => r.name)).toEqual(['apps/worker', 'library/hello']);
    expect(outcomeOf(await admin.get('/repositories?limit=0'))).toBe('400 INVALID_REQUEST');
  });

  it('lists tags newest first with total size, who pushed them and platforms of an index', async () => {
    const shared = randomBlob(2048);
    const amd = await pushImage('apps/multi', 'amd64-only', 'amd64', shared);
    const arm = await pushImage('apps/multi', 'arm64-only', 'arm64', shared);
    const attestation = randomBlob(300);
    const attestationConfig = '{}';
    const attestationDigest = await push(
      'apps/multi',
      sha256(JSON.stringify({ a: 1 }))
        .replace('sha256:', 'att-')
        .slice(0, 20),
      {
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: descriptor(OCI_CONFIG, attestationConfig),
        layers: [descriptor('application/vnd.in-toto+json', attestation)],
      },
      [attestationConfig, attestation],
    );
    const index = {
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [
        {
          ...descriptor(OCI_MANIFEST, amd.manifest),
          platform: { os: 'linux', architecture: 'amd64' },
        },
        {
          ...descriptor(OCI_MANIFEST, arm.manifest),
          platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
        },
        {
          mediaType: OCI_MANIFEST,
          digest: attestationDigest,
          size: 10,
          platform: { os: 'unknown', architecture: 'unknown' },
        },
      ],
    };
    const indexDigest = await push('apps/multi', 'latest', index, []);

    const res = await admin.get<{ items: TagBody[]; total: number }>(
      `/repositories/${enc('apps/multi')}/tags`,
    );
    expect(res.status).toBe(200);
    expect(res.body.total).toBe(4);
    const latest = res.body.items[0];
    expect(latest).toMatchObject({
      name: 'latest',
      digest: indexDigest,
      kind: 'index',
      pushedBy: 'admin',
    });
    expect(latest?.platforms).toEqual([
      { os: 'linux', architecture: 'amd64', variant: null, digest: amd.digest },
      { os: 'linux', architecture: 'arm64', variant: 'v8', digest: arm.digest },
    ]);
    // Both images and the attestation, the shared layer once, plus the index itself.
    const attestationSize = 10 + Buffer.byteLength(attestationConfig) + attestation.length; // descriptor size as declared
    const expected =
      Buffer.byteLength(JSON.stringify(index)) + amd.size + arm.size - 2048 + attestationSize;
    expect(latest?.size).toBe(expected);
    const single = res.body.items.find((t) => t.name === 'amd64-only');
    expect(single).toMatchObject({ kind: 'image', size: amd.size, platforms: [] });

    const filtered = await admin.get<{ items: TagBody[] }>(
      `/repositories/${enc('apps/multi')}/tags?q=only&limit=1`,
    );
    expect(filtered.body.items).toHaveLength(1);
    expect(filtered.body.items[0]?.name).toMatch(/-only$/);
  });

  it('answers one repository, and NOT_FOUND or INVALID_REQUEST for others', async () => {
    const repo = await admin.get<RepositoryBody>(`/repositories/${enc('apps/multi')}`);
    expect(repo.body).toMatchObject({ name: 'apps/multi', namespace: 'apps', tags: 4 });
    // A single-segment name lives in the default namespace, as on /v2.
    const hello = await admin.get<RepositoryBody>('/repositories/hello');
    expect(hello.body.name).toBe('library/hello');
    expect(outcomeOf(await admin.get(`/repositories/${enc('apps/none')}`))).toBe('404 NOT_FOUND');
    expect(outcomeOf(await admin.get(`/repositories/${enc('apps/../../etc')}/tags`))).toBe(
      '400 INVALID_REQUEST',
    );
    expect(outcomeOf(await admin.get(`/repositories/${enc('Apps/UPPER')}`))).toBe(
      '400 INVALID_REQUEST',
    );
  });
});

describe('manifest detail', () => {
  it('shows layers, the image configuration, history and tags, untrusted text as is', async () => {
    const image = await pushImage('apps/detail', 'v1');
    const byTag = await admin.get<ManifestBody>(`/repositories/${enc('apps/detail')}/manifests/v1`);
    expect(byTag.status).toBe(200);
    const m = byTag.body;
    expect(m).toMatchObject({
      digest: image.digest,
      kind: 'image',
      artifactType: null,
      size: Buffer.byteLength(image.manifest),
      totalSize: image.size,
      pushedBy: 'admin',
      tags: ['v1'],
    });
    expect(m.layers.map((l) => l.size)).toEqual([2048, 1000]);
    expect(m.config).toMatchObject({
      os: 'linux',
      architecture: 'amd64',
      env: ['PATH=/usr/bin', 'MODE=prod'],
      entrypoint: ['/app/server'],
      cmd: ['--port', '8080'],
      exposedPorts: ['8080/tcp'],
      labels: { 'org.opencontainers.image.title': XSS, maintainer: 'ops' },
    });
    expect(m.config?.history).toEqual([
      {
        created: '2026-11-01T09:00:00Z',
        createdBy: 'ADD rootfs.tar /',
        comment: null,
        emptyLayer: false,
      },
      {
        created: '2026-11-01T10:00:00Z',
        createdBy: 'ENV MODE=prod',
        comment: null,
        emptyLayer: true,
      },
    ]);

    const byDigest = await admin.get<ManifestBody>(
      `/repositories/${enc('apps/detail')}/manifests/${enc(image.digest)}`,
    );
    expect(byDigest.body.digest).toBe(image.digest);
    expect(outcomeOf(await admin.get(`/repositories/${enc('apps/detail')}/manifests/nope`))).toBe(
      '404 NOT_FOUND',
    );
    expect(
      outcomeOf(await admin.get(`/repositories/${enc('apps/detail')}/manifests/sha256:zz`)),
    ).toBe('404 NOT_FOUND');
  });

  it('lists referrers of an image and describes the artifact that refers to it', async () => {
    const image = await pushImage('apps/signed', 'v1');
    const signature = randomBlob(120);
    const artifact = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: 'application/vnd.dev.cosign.signature',
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256('{}'), size: 2 },
      layers: [descriptor('application/octet-stream', signature)],
      subject: {
        mediaType: OCI_MANIFEST,
        digest: image.digest,
        size: Buffer.byteLength(image.manifest),
      },
      annotations: { 'org.example.note': XSS },
    };
    const artifactDigest = await push('apps/signed', sha256(JSON.stringify(artifact)), artifact, [
      '{}',
      signature,
    ]);
    const detail = await admin.get<ManifestBody>(
      `/repositories/${enc('apps/signed')}/manifests/v1`,
    );
    expect(detail.body.referrers).toEqual([
      expect.objectContaining({
        digest: artifactDigest,
        artifactType: 'application/vnd.dev.cosign.signature',
      }),
    ]);
    const art = await admin.get<ManifestBody>(
      `/repositories/${enc('apps/signed')}/manifests/${artifactDigest}`,
    );
    expect(art.body).toMatchObject({
      kind: 'artifact',
      artifactType: 'application/vnd.dev.cosign.signature',
      config: null,
      subject: { digest: image.digest },
      annotations: { 'org.example.note': XSS },
      tags: [],
    });
  });
});

describe('who may see and delete', () => {
  it('shows a user only repositories in namespaces they may pull from', async () => {
    const { client } = await userSession(server, admin, [{ role: 'viewer', namespace: 'tools' }]);
    const list = await client.get<{ items: RepositoryBody[]; total: number }>('/repositories');
    expect(list.body.items.map((r) => r.name)).toEqual(['tools/cli']);
    expect(list.body.items[0]?.actions).toEqual(['pull']);
    expect(outcomeOf(await client.get(`/repositories/${enc('apps/web')}/tags`))).toBe('403 DENIED');
    // The same answer whether the repository exists or not.
    expect(outcomeOf(await client.get(`/repositories/${enc('apps/nothing')}`))).toBe('403 DENIED');
    const overview = await client.get<{ repositories: number; namespaces: number }>('/overview');
    expect(overview.body).toMatchObject({ namespaces: 1, repositories: 1 });
  });

  it('shows anonymous callers public namespaces only', async () => {
    const anonymous = new ApiClient(server);
    expect((await anonymous.get<{ total: number }>('/repositories')).body.total).toBe(0);
    expect((await admin.patch('/namespaces/tools', { public: true })).status).toBe(200);
    const list = await anonymous.get<{ items: RepositoryBody[] }>('/repositories');
    expect(list.body.items.map((r) => r.name)).toEqual(['tools/cli']);
    expect(outcomeOf(await anonymous.delete(`/repositories/${enc('tools/cli')}/tags/v1`))).toBe(
      '401 UNAUTHORIZED',
    );
    expect((await admin.patch('/namespaces/tools', { public: false })).status).toBe(200);
  });

  it('refuses deletes without the delete action, whatever the UI shows', async () => {
    const { client: viewer } = await userSession(server, admin, [
      { role: 'viewer', namespace: 'apps' },
    ]);
    const { client: developer } = await userSession(server, admin, [
      { role: 'developer', namespace: 'apps' },
    ]);
    const path = `/repositories/${enc('apps/web')}/tags/v1`;
    expect(outcomeOf(await viewer.delete(path))).toBe('403 DENIED');
    expect(outcomeOf(await developer.delete(path))).toBe('403 DENIED');
    const manifest = await send(server, 'GET', '/v2/apps/web/manifests/v1', adminCreds, {
      headers: { accept: OCI_MANIFEST },
    });
    expect(manifest.status).toBe(200);
  });

  it('deletes a tag (the manifest stays) and then the manifest, both audited', async () => {
    const image = await pushImage('apps/cleanup', 'old');
    await push('apps/cleanup', 'keep', JSON.parse(image.manifest) as Record<string, unknown>, []);
    const base = `/repositories/${enc('apps/cleanup')}`;
    expect(outcomeOf(await admin.delete(`${base}/tags/old`, { csrf: false }))).toBe('403 DENIED');
    expect(outcomeOf(await admin.delete(`${base}/tags/${enc(image.digest)}`))).toBe(
      '400 INVALID_REQUEST',
    );
    expect((await admin.delete(`${base}/tags/old`)).status).toBe(204);
    expect(outcomeOf(await admin.delete(`${base}/tags/old`))).toBe('404 NOT_FOUND');
    const v2 = (ref: string) =>
      send(server, 'GET', `/v2/apps/cleanup/manifests/${ref}`, adminCreds, {
        headers: { accept: OCI_MANIFEST },
      });
    expect((await v2('old')).status).toBe(404);
    expect((await v2('keep')).status).toBe(200);

    expect(outcomeOf(await admin.delete(`${base}/manifests/keep`))).toBe('400 INVALID_REQUEST');
    expect((await admin.delete(`${base}/manifests/${enc(image.digest)}`)).status).toBe(204);
    expect((await v2(image.digest)).status).toBe(404);
    expect((await v2('keep')).status).toBe(404);

    const audit = await admin.get<{ items: AuditBody[] }>('/audit?action=delete');
    const targets = audit.body.items.map((e) => e.target);
    expect(targets).toContain('apps/cleanup:old');
    expect(targets).toContain(`apps/cleanup@${image.digest}`);
  });
});

describe('overview and system', () => {
  it('counts content and storage per namespace and lists the newest pushes', async () => {
    const before = await admin.get<{
      storage: { bytes: number; blobs: number };
      byNamespace: { namespace: string; bytes: number }[];
    }>('/overview');
    const image = await pushImage('tools/fresh', 'new');
    const res = await admin.get<{
      namespaces: number;
      tags: number;
      storage: { bytes: number; blobs: number };
      byNamespace: { namespace: string; bytes: number; repositories: number }[];
      recentPushes: { repository: string; tag: string; digest: string; pushedBy: string }[];
    }>('/overview');
    expect(res.body.namespaces).toBe(3);
    expect(res.body.storage.blobs).toBe(before.body.storage.blobs + 3);
    const toolsBefore = before.body.byNamespace.find((n) => n.namespace === 'tools')?.bytes ?? 0;
    const tools = res.body.byNamespace.find((n) => n.namespace === 'tools');
    expect(tools?.repositories).toBe(2);
    expect((tools?.bytes ?? 0) - toolsBefore).toBe(image.size - Buffer.byteLength(image.manifest));
    const bytes = res.body.byNamespace.map((n) => n.bytes);
    expect(bytes).toEqual([...bytes].sort((a, b) => b - a));
    expect(res.body.recentPushes[0]).toMatchObject({
      repository: 'tools/fresh',
      tag: 'new',
      digest: image.digest,
      pushedBy: 'admin',
    });
  });

  it('reports storage used and plain HTTP on the system page', async () => {
    const res = await admin.get<{
      storage: { backend: string; bytes: number; blobs: number };
      tls: { enabled: boolean; caAvailable: boolean; certificate: unknown };
    }>('/system');
    expect(res.body.storage.backend).toBe('filesystem');
    expect(res.body.storage.bytes).toBeGreaterThan(0);
    expect(res.body.tls).toMatchObject({ enabled: false, caAvailable: false, certificate: null });
  });
});
