/**
 * Admin API namespaces: listing shows what the caller may pull from with repository counts;
 * changes need `admin` on the namespace (the administrator, or a custom role on `team-*`); every
 * change is audited.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, startServer, type TestServer } from '../helpers/server.js';
import type { ApiClient } from './api-v1-helpers.js';
import {
  adminSession,
  basicAuth,
  outcomeOf,
  userSession,
  type AuditBody,
  type ErrorResponse,
  type NamespaceBody,
} from './api-v1-helpers.js';
import { pushImageAs } from './auth-helpers.js';

let server: TestServer;
let admin: ApiClient;

beforeAll(async () => {
  server = await startServer({ auth: true });
  admin = await adminSession(server);
  for (const ns of ['alpha', 'beta', 'team-a', 'team-b']) {
    expect((await admin.post('/namespaces', { name: ns })).status).toBe(201);
  }
  const creds = basicAuth('admin', ADMIN_PASSWORD);
  for (const repo of ['alpha/one', 'alpha/two', 'beta/one']) {
    expect((await pushImageAs(server, repo, 'v1', creds)).outcome).toBe('201');
  }
});
afterAll(async () => server.close());

async function auditOf(action: string, target: string): Promise<AuditBody[]> {
  const res = await admin.get<{ items: AuditBody[] }>(`/audit?action=${action}`);
  return res.body.items.filter((e) => e.target === target);
}

describe('listing', () => {
  it('shows the administrator every namespace with repository counts', async () => {
    const res = await admin.get<{ items: NamespaceBody[] }>('/namespaces');
    expect(res.status).toBe(200);
    const byName = new Map(res.body.items.map((n) => [n.name, n]));
    expect(byName.get('alpha')).toMatchObject({ repositories: 2, public: false });
    expect(byName.get('beta')).toMatchObject({ repositories: 1 });
    expect(byName.get('team-a')).toMatchObject({ repositories: 0 });
    expect(byName.get('alpha')?.actions).toEqual(['pull', 'push', 'delete', 'admin']);
  });

  it('shows a user only the namespaces they may pull from, plus public ones', async () => {
    expect((await admin.patch('/namespaces/beta', { public: true })).status).toBe(200);
    const { client } = await userSession(server, admin, [
      { role: 'developer', namespace: 'alpha' },
    ]);
    const res = await client.get<{ items: NamespaceBody[] }>('/namespaces');
    const names = res.body.items.map((n) => n.name).sort();
    expect(names).toEqual(['alpha', 'beta']);
    const alpha = res.body.items.find((n) => n.name === 'alpha');
    expect(alpha).toMatchObject({ repositories: 2, actions: ['pull', 'push'] });
    expect(outcomeOf(await client.get('/namespaces/team-a'))).toBe('403 DENIED');
    expect((await client.get('/namespaces/beta')).status).toBe(200);
    expect((await admin.patch('/namespaces/beta', { public: false })).status).toBe(200);
  });
});

describe('changes by the administrator', () => {
  it('creates a public namespace, makes it private, and audits both', async () => {
    const created = await admin.post<NamespaceBody>('/namespaces', {
      name: 'gamma',
      public: true,
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: 'gamma', public: true, repositories: 0 });
    const anonymousPull = await fetch(`${server.url}/v2/gamma/x/tags/list`);
    expect(anonymousPull.status).not.toBe(401);

    const patched = await admin.patch<NamespaceBody>('/namespaces/gamma', { public: false });
    expect(patched.body.public).toBe(false);
    expect((await fetch(`${server.url}/v2/gamma/x/tags/list`)).status).toBe(401);

    const [create] = await auditOf('namespace.create', 'gamma');
    expect(create).toMatchObject({ actor: 'admin', outcome: 'success', detail: { public: true } });
    const [update] = await auditOf('namespace.update', 'gamma');
    expect(update).toMatchObject({ actor: 'admin', detail: { public: false } });
  });

  it('refuses to delete a namespace with repositories unless forced', async () => {
    const res = await admin.delete('/namespaces/alpha');
    expect(outcomeOf(res)).toBe('409 CONFLICT');
    expect((await admin.get<NamespaceBody>('/namespaces/alpha')).body.repositories).toBe(2);
    expect((await admin.delete('/namespaces/alpha?force=true')).status).toBe(204);
    expect(outcomeOf(await admin.get('/namespaces/alpha'))).toBe('404 NOT_FOUND');
    const [deleted] = await auditOf('namespace.delete', 'alpha');
    expect(deleted).toMatchObject({ actor: 'admin', detail: { force: true } });
  });

  it('refuses to delete the default namespace, even empty, unless forced', async () => {
    const res = await admin.delete('/namespaces/library');
    expect(outcomeOf(res)).toBe('409 CONFLICT');
    expect((res.body as ErrorResponse).errors[0]?.message).toContain(
      'namespace "library" is the default namespace',
    );
    expect((await admin.get<NamespaceBody>('/namespaces/library')).status).toBe(200);
  });

  it('answers 409 for a duplicate, 400 for a bad name and 404 for an unknown namespace', async () => {
    expect(outcomeOf(await admin.post('/namespaces', { name: 'beta' }))).toBe('409 CONFLICT');
    expect(outcomeOf(await admin.post('/namespaces', { name: 'Not_Valid!' }))).toBe(
      '400 INVALID_REQUEST',
    );
    expect(outcomeOf(await admin.post('/namespaces', { name: 'a/b' }))).toBe('400 INVALID_REQUEST');
    expect(outcomeOf(await admin.post('/namespaces', { public: true }))).toBe(
      '400 INVALID_REQUEST',
    );
    expect(outcomeOf(await admin.patch('/namespaces/nope', { public: true }))).toBe(
      '404 NOT_FOUND',
    );
    expect(outcomeOf(await admin.patch('/namespaces/beta', { public: 'yes' }))).toBe(
      '400 INVALID_REQUEST',
    );
    expect(outcomeOf(await admin.delete('/namespaces/nope'))).toBe('404 NOT_FOUND');
  });
});

describe('changes by others', () => {
  it('refuses viewers and developers', async () => {
    for (const role of ['viewer', 'developer', 'maintainer']) {
      const { client } = await userSession(server, admin, [{ role }]);
      expect(outcomeOf(await client.post('/namespaces', { name: `by-${role}` }))).toBe(
        '403 DENIED',
      );
      expect(outcomeOf(await client.patch('/namespaces/beta', { public: true }))).toBe(
        '403 DENIED',
      );
      expect(outcomeOf(await client.delete('/namespaces/beta?force=true'))).toBe('403 DENIED');
    }
    expect((await admin.get<NamespaceBody>('/namespaces/beta')).body).toMatchObject({
      public: false,
      repositories: 1,
    });
  });

  it('lets a user with admin on team-* manage team namespaces and nothing else', async () => {
    const role = await admin.post('/roles', {
      name: 'team-lead',
      privileges: [{ pattern: 'team-*', actions: ['admin'] }],
    });
    expect(role.status).toBe(201);
    const { name, client } = await userSession(server, admin, [{ role: 'team-lead' }]);
    const created = await client.post<NamespaceBody>('/namespaces', { name: 'team-c' });
    expect(created.status).toBe(201);
    expect(created.body.actions).toEqual(['pull', 'push', 'delete', 'admin']);
    expect((await client.patch('/namespaces/team-a', { public: true })).status).toBe(200);
    expect((await client.delete('/namespaces/team-b')).status).toBe(204);
    expect(outcomeOf(await client.post('/namespaces', { name: 'other' }))).toBe('403 DENIED');
    expect(outcomeOf(await client.patch('/namespaces/beta', { public: true }))).toBe('403 DENIED');
    const listed = await client.get<{ items: NamespaceBody[] }>('/namespaces');
    expect(listed.body.items.map((n) => n.name).sort()).toEqual(['team-a', 'team-c']);
    const [audited] = await auditOf('namespace.create', 'team-c');
    expect(audited).toMatchObject({ actor: name, client: '127.0.0.1' });
  });
});
