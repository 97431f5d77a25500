/**
 * Admin API proxy and group namespaces: created, shown, listed and changed through
 * /api/v1/namespaces with the registry's validation as 400s; the upstream password is stored but
 * never answered or audited; a proxy's health reflects what the server last heard from a real
 * upstream (CNCF Distribution).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDistribution, type Distribution } from '../helpers/distribution.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { OCI_MANIFEST, pushImage, type PushedImage } from '../helpers/oci.js';
import { startServer, type TestServer } from '../helpers/server.js';
import type { ApiClient } from './api-v1-helpers.js';
import {
  adminSession,
  outcomeOf,
  userSession,
  type AuditBody,
  type ErrorResponse,
} from './api-v1-helpers.js';

interface Health {
  lastSuccessAt: string | null;
  lastFailureAt: string | null;
  lastFailure: string | null;
}

interface FederatedBody {
  name: string;
  kind: string;
  proxy: {
    url: string;
    username: string | null;
    ttl: string;
    health: Health;
  } | null;
  group: { members: string[]; pushTo: string | null } | null;
}

const UPSTREAM_PASSWORD = 'upstream-secret-7f3a';
const NEW_PASSWORD = 'upstream-secret-rotated-91c2';

let server: TestServer;
let admin: ApiClient;
let upstream: Distribution;

beforeAll(async () => {
  upstream = await startDistribution({ label: 'berth-api-federation' });
  server = await startServer({ auth: true });
  admin = await adminSession(server);
  for (const name of ['dev', 'releases']) {
    expect((await admin.post('/namespaces', { name })).status).toBe(201);
  }
});
afterAll(async () => {
  await server.close();
  await upstream.stop();
});

const messageOf = (res: { body: unknown }): string =>
  (res.body as ErrorResponse).errors[0]?.message ?? '';

async function auditOf(action: string, target: string): Promise<AuditBody[]> {
  const res = await admin.get<{ items: AuditBody[] }>(`/audit?action=${action}`);
  return res.body.items.filter((e) => e.target === target);
}

describe('a proxy namespace', () => {
  it('is created with credentials and a TTL, shown and listed without the password', async () => {
    const created = await admin.post<FederatedBody>('/namespaces', {
      name: 'hub',
      proxy: {
        url: 'https://registry-1.docker.io/',
        username: 'mirror',
        password: UPSTREAM_PASSWORD,
        ttl: '2h',
      },
    });
    expect(created.status).toBe(201);
    const expected = {
      name: 'hub',
      kind: 'proxy',
      proxy: {
        url: 'https://registry-1.docker.io',
        username: 'mirror',
        ttl: '2h',
        health: { lastSuccessAt: null, lastFailureAt: null, lastFailure: null },
      },
      group: null,
    };
    expect(created.body).toMatchObject(expected);
    const shown = await admin.get<FederatedBody>('/namespaces/hub');
    expect(shown.body).toMatchObject(expected);
    const listed = await admin.get<{ items: FederatedBody[] }>('/namespaces');
    expect(listed.body.items.find((n) => n.name === 'hub')).toMatchObject(expected);
    expect(listed.body.items.find((n) => n.name === 'dev')).toMatchObject({
      kind: 'hosted',
      proxy: null,
      group: null,
    });
    for (const body of [created.body, shown.body, listed.body])
      expect(JSON.stringify(body)).not.toContain(UPSTREAM_PASSWORD);
    const [audited] = await auditOf('namespace.create', 'hub');
    expect(audited?.detail).toMatchObject({
      kind: 'proxy',
      proxy: { username: 'mirror', ttl: '2h' },
    });
    expect(JSON.stringify(audited)).not.toContain(UPSTREAM_PASSWORD);
  });

  it('changes its TTL, password and credentials; the audit log says the password changed, not what to', async () => {
    const ttl = await admin.patch<FederatedBody>('/namespaces/hub', { proxy: { ttl: '30m' } });
    expect(ttl.status).toBe(200);
    expect(ttl.body.proxy).toMatchObject({
      ttl: '30m',
      username: 'mirror',
      url: 'https://registry-1.docker.io',
    });

    const rotated = await admin.patch<FederatedBody>('/namespaces/hub', {
      proxy: { password: NEW_PASSWORD },
    });
    expect(rotated.status).toBe(200);
    expect(JSON.stringify(rotated.body)).not.toContain(NEW_PASSWORD);
    const updates = await auditOf('namespace.update', 'hub');
    const rotation = updates.find(
      (e) =>
        e.detail?.['proxy'] !== undefined && JSON.stringify(e.detail).includes('passwordChanged'),
    );
    expect(rotation?.detail).toEqual({ proxy: { passwordChanged: true } });
    for (const event of updates) expect(JSON.stringify(event)).not.toContain(NEW_PASSWORD);

    const anonymous = await admin.patch<FederatedBody>('/namespaces/hub', {
      proxy: { username: null },
    });
    expect(anonymous.status).toBe(200);
    expect(anonymous.body.proxy).toMatchObject({ username: null, ttl: '30m' });
  });

  it('refuses a bad URL, a bad TTL, a username without a password (or the reverse), and settings of the other kind', async () => {
    const refusals: [unknown, string][] = [
      [{ name: 'p1', proxy: { url: 'not a url' } }, 'is not a URL'],
      [{ name: 'p1', proxy: { url: 'ftp://example.com' } }, 'must be http:// or https://'],
      [
        { name: 'p1', proxy: { url: 'https://example.com/some/path' } },
        "must be the registry's origin",
      ],
      [{ name: 'p1', proxy: { url: 'https://example.com', ttl: 'soon' } }, 'proxy TTL "soon"'],
      [{ name: 'p1', proxy: { url: 'https://example.com', username: 'u' } }, 'needs a password'],
      [{ name: 'p1', proxy: { url: 'https://example.com', password: 'p' } }, 'needs a username'],
      [
        { name: 'p1', proxy: { url: 'https://example.com' }, group: { members: ['dev'] } },
        'a proxy or a group, not both',
      ],
    ];
    for (const [body, message] of refusals) {
      const res = await admin.post('/namespaces', body);
      expect(outcomeOf(res)).toBe('400 INVALID_REQUEST');
      expect(messageOf(res)).toContain(message);
    }
    expect(outcomeOf(await admin.get('/namespaces/p1'))).toBe('404 NOT_FOUND');

    const bad = await admin.patch('/namespaces/hub', { proxy: { url: 'https://x.example/v3/' } });
    expect(outcomeOf(bad)).toBe('400 INVALID_REQUEST');
    expect((await admin.get<FederatedBody>('/namespaces/hub')).body.proxy?.url).toBe(
      'https://registry-1.docker.io',
    );
    const toGroup = await admin.patch('/namespaces/hub', { group: { members: ['dev'] } });
    expect(outcomeOf(toGroup)).toBe('400 INVALID_REQUEST');
    expect(messageOf(toGroup)).toContain('a namespace keeps its kind');
  });

  it('is not something a hosted namespace can become', async () => {
    const res = await admin.patch('/namespaces/dev', { proxy: { url: 'https://example.com' } });
    expect(outcomeOf(res)).toBe('400 INVALID_REQUEST');
    expect(messageOf(res)).toContain('namespace "dev" is hosted');
    expect((await admin.get<FederatedBody>('/namespaces/dev')).body).toMatchObject({
      kind: 'hosted',
      proxy: null,
    });
  });
});

describe('a group namespace', () => {
  it('is created with members in order and a push member, shown and listed', async () => {
    const created = await admin.post<FederatedBody>('/namespaces', {
      name: 'all',
      group: { members: ['releases', 'hub', 'dev'], pushTo: 'dev' },
    });
    expect(created.status).toBe(201);
    const expected = {
      kind: 'group',
      proxy: null,
      group: { members: ['releases', 'hub', 'dev'], pushTo: 'dev' },
    };
    expect(created.body).toMatchObject(expected);
    expect((await admin.get('/namespaces/all')).body).toMatchObject(expected);
    const listed = await admin.get<{ items: FederatedBody[] }>('/namespaces');
    expect(listed.body.items.find((n) => n.name === 'all')).toMatchObject(expected);
    const [audited] = await auditOf('namespace.create', 'all');
    expect(audited?.detail).toEqual({ public: false, kind: 'group', group: expected.group });
  });

  it('changes its members and push member', async () => {
    const reordered = await admin.patch<FederatedBody>('/namespaces/all', {
      group: { members: ['dev', 'releases'] },
    });
    expect(reordered.status).toBe(200);
    expect(reordered.body.group).toEqual({ members: ['dev', 'releases'], pushTo: 'dev' });
    const noPush = await admin.patch<FederatedBody>('/namespaces/all', { group: { pushTo: null } });
    expect(noPush.body.group).toEqual({ members: ['dev', 'releases'], pushTo: null });
    const pushes = await admin.patch<FederatedBody>('/namespaces/all', {
      group: { pushTo: 'releases' },
    });
    expect(pushes.body.group).toEqual({ members: ['dev', 'releases'], pushTo: 'releases' });
  });

  it('refuses an unknown member, a group as member, a push member outside it or not hosted', async () => {
    const refusals: [unknown, string][] = [
      [
        { name: 'g1', group: { members: ['dev', 'nosuch'] } },
        'group member "nosuch" is not an existing namespace',
      ],
      [{ name: 'g1', group: { members: ['dev', 'all'] } }, 'group member "all" is a group itself'],
      [
        { name: 'g1', group: { members: ['dev'], pushTo: 'releases' } },
        "must be one of the group's members",
      ],
      [
        { name: 'g1', group: { members: ['dev', 'hub'], pushTo: 'hub' } },
        'must be a hosted namespace',
      ],
    ];
    for (const [body, message] of refusals) {
      const res = await admin.post('/namespaces', body);
      expect(outcomeOf(res)).toBe('400 INVALID_REQUEST');
      expect(messageOf(res)).toContain(message);
    }
    expect(outcomeOf(await admin.post('/namespaces', { name: 'g1', group: { members: [] } }))).toBe(
      '400 INVALID_REQUEST',
    );
    expect(outcomeOf(await admin.get('/namespaces/g1'))).toBe('404 NOT_FOUND');
    const bad = await admin.patch('/namespaces/all', { group: { pushTo: 'hub' } });
    expect(outcomeOf(bad)).toBe('400 INVALID_REQUEST');
    expect((await admin.get<FederatedBody>('/namespaces/all')).body.group?.pushTo).toBe('releases');
  });

  it('needs admin on every member, not only on the group', async () => {
    const role = await admin.post('/roles', {
      name: 'crew-lead',
      privileges: [
        { pattern: 'crew-*', actions: ['admin'] },
        { pattern: 'releases', actions: ['pull'] },
      ],
    });
    expect(role.status).toBe(201);
    const { client } = await userSession(server, admin, [{ role: 'crew-lead' }]);
    expect((await client.post('/namespaces', { name: 'crew-a' })).status).toBe(201);
    // Pulling from releases is not enough: the group could be made public.
    const leak = await client.post('/namespaces', {
      name: 'crew-all',
      group: { members: ['crew-a', 'releases'] },
    });
    expect(outcomeOf(leak)).toBe('403 DENIED');
    expect(messageOf(leak)).toContain('"releases"');
    const own = await client.post<FederatedBody>('/namespaces', {
      name: 'crew-all',
      group: { members: ['crew-a'], pushTo: 'crew-a' },
    });
    expect(own.status).toBe(201);
    const widen = await client.patch('/namespaces/crew-all', {
      group: { members: ['crew-a', 'releases'] },
    });
    expect(outcomeOf(widen)).toBe('403 DENIED');
    expect((await admin.get<FederatedBody>('/namespaces/crew-all')).body.group?.members).toEqual([
      'crew-a',
    ]);
  });

  it('leaves proxies to the registry administrator: a namespace admin cannot aim Berth at a URL', async () => {
    const role = await admin.post('/roles', {
      name: 'fleet-lead',
      privileges: [{ pattern: 'fleet-*', actions: ['admin'] }],
    });
    expect(role.status).toBe(201);
    const { client } = await userSession(server, admin, [{ role: 'fleet-lead' }]);
    const ssrf = await client.post('/namespaces', {
      name: 'fleet-cache',
      proxy: { url: 'http://169.254.169.254' },
    });
    expect(outcomeOf(ssrf)).toBe('403 DENIED');
    expect(messageOf(ssrf)).toContain('registry administrator');
    const made = await admin.post('/namespaces', {
      name: 'fleet-hub',
      proxy: { url: 'https://registry.example' },
    });
    expect(made.status).toBe(201);
    const retarget = await client.patch('/namespaces/fleet-hub', {
      proxy: { url: 'http://10.0.0.1:8080' },
    });
    expect(outcomeOf(retarget)).toBe('403 DENIED');
    expect((await admin.get<FederatedBody>('/namespaces/fleet-hub')).body.proxy?.url).toBe(
      'https://registry.example',
    );
    // What is not a proxy setting stays theirs.
    expect((await client.patch('/namespaces/fleet-hub', { public: true })).status).toBe(200);
  });
});

describe('upstream health', () => {
  let faults: FaultProxy;
  let image: PushedImage;
  const pull = async (tag: string): Promise<Response> => {
    const res = await fetch(`${server.url}/v2/mirror/team/app/manifests/${tag}`, {
      headers: { accept: OCI_MANIFEST },
    });
    await res.arrayBuffer();
    return res;
  };
  const health = async (): Promise<Health | undefined> =>
    (await admin.get<FederatedBody>('/namespaces/mirror')).body.proxy?.health;

  beforeAll(async () => {
    faults = await startFaultProxy(upstream.url);
    image = await pushImage(upstream.url, 'team/app', 'v1');
    await pushImage(upstream.url, 'team/app', 'v2');
    const created = await admin.post<FederatedBody>('/namespaces', {
      name: 'mirror',
      public: true,
      proxy: { url: faults.url },
    });
    expect(created.body.proxy?.health).toEqual({
      lastSuccessAt: null,
      lastFailureAt: null,
      lastFailure: null,
    });
  });
  afterAll(async () => faults.stop());

  it('shows the last success after a pull through the proxy', async () => {
    const before = Date.now();
    const pulled = await fetch(`${server.url}/v2/mirror/team/app/manifests/v1`, {
      headers: { accept: OCI_MANIFEST },
    });
    expect(pulled.status).toBe(200);
    expect(await pulled.text()).toBe(image.manifest);
    const healthy = await health();
    expect(Date.parse(healthy?.lastSuccessAt ?? '')).toBeGreaterThanOrEqual(before - 1000);
    expect(healthy).toMatchObject({ lastFailureAt: null, lastFailure: null });
  });

  it('shows the last failure when the upstream answers 503', async () => {
    const healthy = await health();
    faults.inject({ path: /\/manifests\/v2$/, times: 1, fault: { status: 503 } });
    // v2 was never pulled: nothing cached answers for it, so the upstream is asked.
    expect((await pull('v2')).status).toBeGreaterThanOrEqual(400);
    const sick = await health();
    expect(sick?.lastFailure).toContain('503');
    expect(Date.parse(sick?.lastFailureAt ?? '')).toBeGreaterThanOrEqual(
      Date.parse(healthy?.lastSuccessAt ?? ''),
    );
    expect(sick?.lastSuccessAt).toBe(healthy?.lastSuccessAt);
  });

  it('shows the last failure once the upstream is stopped', async () => {
    const before = await health();
    await upstream.stop();
    // Never pulled, so the upstream is asked (and cannot be reached).
    expect((await pull('v3')).status).toBeGreaterThanOrEqual(400);
    const sick = await health();
    expect(sick?.lastFailure).toMatch(/did not answer/);
    expect(sick?.lastFailureAt).not.toBe(before?.lastFailureAt);
  });
});
