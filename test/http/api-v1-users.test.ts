/**
 * Admin API users, role bindings and roles: the administrator's happy paths, what viewers and
 * developers are refused, validation errors, and a user changing their own password (which needs
 * the current one).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.js';
import {
  adminSession,
  ApiClient,
  basicAuth,
  outcomeOf,
  passwordFor,
  uniqueName,
  userSession,
  type UserBody,
} from './api-v1-helpers.js';

let server: TestServer;
let admin: ApiClient;
let viewer: { name: string; client: ApiClient };
let developer: { name: string; client: ApiClient };

beforeAll(async () => {
  server = await startServer({ auth: true });
  admin = await adminSession(server);
  viewer = await userSession(server, admin, [{ role: 'viewer' }], 'viewer');
  developer = await userSession(server, admin, [{ role: 'developer' }], 'developer');
});
afterAll(async () => server.close());

interface RoleBody {
  name: string;
  description: string;
  builtin: boolean;
  privileges: { pattern: string; actions: string[] }[];
}

describe('users (administrator)', () => {
  it('creates a user with role bindings who can then push where bound', async () => {
    const name = uniqueName('alice');
    const res = await admin.post<UserBody>('/users', {
      name,
      password: passwordFor(name),
      roles: [{ role: 'developer', namespace: 'library' }, { role: 'viewer' }],
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ name, disabled: false });
    expect(res.body.roles).toEqual(
      expect.arrayContaining([
        { role: 'developer', namespace: 'library' },
        { role: 'viewer', namespace: null },
      ]),
    );
    const upload = await fetch(`${server.url}/v2/library/app/blobs/uploads/`, {
      method: 'POST',
      headers: { authorization: basicAuth(name, passwordFor(name)) },
    });
    expect(upload.status).toBe(202);
  });

  it('never returns a password or its hash', async () => {
    const name = uniqueName('secretive');
    const password = passwordFor(name);
    const created = await admin.post('/users', { name, password });
    const listed = await admin.get('/users');
    const one = await admin.get(`/users/${name}`);
    for (const res of [created, listed, one]) {
      const text = JSON.stringify(res.body);
      expect(text).not.toContain(password);
      expect(text).not.toContain('argon2');
      expect(text).not.toMatch(/hash/i);
    }
  });

  it('lists users and reads one', async () => {
    const list = await admin.get<{ items: UserBody[] }>('/users');
    expect(list.status).toBe(200);
    const names = list.body.items.map((u) => u.name);
    expect(names).toEqual(expect.arrayContaining(['admin', viewer.name, developer.name]));
    const one = await admin.get<UserBody>(`/users/${viewer.name}`);
    expect(one.body).toMatchObject({ name: viewer.name, roles: [{ role: 'viewer' }] });
  });

  it('answers 404 for an unknown user and 409 for a duplicate', async () => {
    expect(outcomeOf(await admin.get('/users/nobody-here'))).toBe('404 NOT_FOUND');
    const dup = await admin.post('/users', { name: viewer.name, password: 'long-enough-pw' });
    expect(outcomeOf(dup)).toBe('409 CONFLICT');
  });

  it('sets another user’s password without knowing the current one', async () => {
    const { name } = await userSession(server, admin, [{ role: 'viewer' }]);
    const res = await admin.put(`/users/${name}/password`, { password: 'set-by-the-admin' });
    expect(res.status).toBe(204);
    expect((await new ApiClient(server).login(name, 'set-by-the-admin')).status).toBe(200);
    expect(outcomeOf(await new ApiClient(server).login(name, passwordFor(name)))).toBe(
      '401 UNAUTHORIZED',
    );
  });

  it('disables and enables a user', async () => {
    const { name } = await userSession(server, admin, [{ role: 'viewer' }]);
    const off = await admin.patch<UserBody>(`/users/${name}`, { disabled: true });
    expect(off.body.disabled).toBe(true);
    expect(outcomeOf(await new ApiClient(server).login(name, passwordFor(name)))).toBe(
      '401 UNAUTHORIZED',
    );
    const on = await admin.patch<UserBody>(`/users/${name}`, { disabled: false });
    expect(on.body.disabled).toBe(false);
    expect((await new ApiClient(server).login(name, passwordFor(name))).status).toBe(200);
  });

  it('deletes a user, who can then no longer sign in', async () => {
    const { name, client } = await userSession(server, admin, [{ role: 'viewer' }]);
    expect((await admin.delete(`/users/${name}`)).status).toBe(204);
    expect(outcomeOf(await admin.get(`/users/${name}`))).toBe('404 NOT_FOUND');
    expect(outcomeOf(await client.get('/session'))).toBe('401 UNAUTHORIZED');
    expect(outcomeOf(await admin.delete(`/users/${name}`))).toBe('404 NOT_FOUND');
  });

  it('refuses to disable or delete the caller’s own account', async () => {
    expect(outcomeOf(await admin.patch('/users/admin', { disabled: true }))).toBe('409 CONFLICT');
    expect(outcomeOf(await admin.delete('/users/admin'))).toBe('409 CONFLICT');
    expect((await admin.get('/session')).status).toBe(200);
  });

  it('adds and removes role bindings, global and per namespace', async () => {
    const { name } = await userSession(server, admin, []);
    const added = await admin.post<UserBody>(`/users/${name}/roles`, {
      role: 'maintainer',
      namespace: 'library',
    });
    expect(added.status).toBe(200);
    expect(added.body.roles).toEqual([{ role: 'maintainer', namespace: 'library' }]);
    const global = await admin.post<UserBody>(`/users/${name}/roles`, { role: 'viewer' });
    expect(global.body.roles).toHaveLength(2);
    const removed = await admin.delete<UserBody>(
      `/users/${name}/roles/maintainer?namespace=library`,
    );
    expect(removed.status).toBe(200);
    expect(removed.body.roles).toEqual([{ role: 'viewer', namespace: null }]);
    const again = await admin.delete(`/users/${name}/roles/maintainer?namespace=library`);
    expect(outcomeOf(again)).toBe('404 NOT_FOUND');
    expect(outcomeOf(await admin.post(`/users/${name}/roles`, { role: 'no-such-role' }))).toBe(
      '404 NOT_FOUND',
    );
  });
});

describe('validation', () => {
  it.each([
    ['a missing password', { name: 'valid-name' }],
    ['a short password', { name: 'valid-name', password: 'short' }],
    ['a name with a slash', { name: 'a/b', password: 'long-enough-pw' }],
    ['a wrongly typed role list', { name: 'valid-name', password: 'long-enough-pw', roles: 'x' }],
    ['an unknown role', { name: 'valid-name', password: 'long-enough-pw', roles: [{ role: 'x' }] }],
  ])('answers 400 INVALID_REQUEST to a user with %s', async (_what, body) => {
    const res = await admin.post('/users', body);
    expect(outcomeOf(res)).toBe('400 INVALID_REQUEST');
    expect(res.body).toMatchObject({ errors: [{ message: expect.any(String) as unknown }] });
    expect(outcomeOf(await admin.get('/users/valid-name'))).toBe('404 NOT_FOUND');
  });

  it('answers 400 INVALID_REQUEST to malformed JSON without echoing it', async () => {
    const res = await admin.request('POST', '/users', {
      raw: '{"name":"x","password":"hunter2-secret"',
    });
    expect(outcomeOf(res)).toBe('400 INVALID_REQUEST');
    expect(JSON.stringify(res.body)).not.toContain('hunter2');
  });

  it('does not echo a rejected password in the validation error', async () => {
    const res = await admin.post('/users', { name: 'valid-name', password: 'tiny' });
    expect(outcomeOf(res)).toBe('400 INVALID_REQUEST');
    expect(JSON.stringify(res.body)).not.toContain('tiny');
  });

  it('answers 413 to a body over 64 KiB', async () => {
    const res = await admin.post('/users', { name: 'big', password: 'x'.repeat(70 * 1024) });
    expect(res.status).toBe(413);
  });

  it('answers 404 NOT_FOUND JSON for an unknown API route', async () => {
    const res = await admin.get('/no-such-thing');
    expect(outcomeOf(res)).toBe('404 NOT_FOUND');
  });
});

describe('changing one’s own password', () => {
  it('needs the current password', async () => {
    const { name, client } = await userSession(server, admin, [{ role: 'viewer' }]);
    const missing = await client.put(`/users/${name}/password`, { password: 'next-password-1' });
    expect(outcomeOf(missing)).toBe('400 INVALID_REQUEST');
    const wrong = await client.put(`/users/${name}/password`, {
      password: 'next-password-1',
      currentPassword: 'not-my-password',
    });
    expect(outcomeOf(wrong)).toBe('403 DENIED');
    expect((await new ApiClient(server).login(name, passwordFor(name))).status).toBe(200);
    const ok = await client.put(`/users/${name}/password`, {
      password: 'next-password-1',
      currentPassword: passwordFor(name),
    });
    expect(ok.status).toBe(204);
    expect((await new ApiClient(server).login(name, 'next-password-1')).status).toBe(200);
  });

  it('needs the current password for an administrator too', async () => {
    const res = await admin.put('/users/admin/password', { password: 'whatever-new-1' });
    expect(outcomeOf(res)).toBe('400 INVALID_REQUEST');
  });

  it('refuses a user changing someone else’s password', async () => {
    const res = await developer.client.put(`/users/${viewer.name}/password`, {
      password: 'taken-over-1',
      currentPassword: passwordFor(developer.name),
    });
    expect(outcomeOf(res)).toBe('403 DENIED');
    expect((await new ApiClient(server).login(viewer.name, passwordFor(viewer.name))).status).toBe(
      200,
    );
  });
});

describe('refusals for viewers and developers', () => {
  it.each([
    ['GET', '/users', undefined],
    ['POST', '/users', { name: 'sneaky', password: 'long-enough-pw' }],
    ['PATCH', '/users/admin', { disabled: true }],
    ['DELETE', '/users/admin', undefined],
    ['POST', '/users/admin/roles', { role: 'viewer' }],
    ['DELETE', '/users/admin/roles/admin', undefined],
    ['POST', '/roles', { name: 'sneaky', privileges: [{ pattern: '*', actions: ['admin'] }] }],
    ['PUT', '/roles/sneaky', { privileges: [{ pattern: '*', actions: ['admin'] }] }],
    ['DELETE', '/roles/developer', undefined],
    ['GET', '/audit', undefined],
  ])('refuses %s %s with 403 DENIED', async (method, path, body) => {
    for (const who of [viewer, developer]) {
      const res = await who.client.request(method, path, body === undefined ? {} : { body });
      expect(outcomeOf(res)).toBe('403 DENIED');
    }
  });

  it('lets a user read their own record but not another’s', async () => {
    expect((await viewer.client.get(`/users/${viewer.name}`)).status).toBe(200);
    expect(outcomeOf(await viewer.client.get(`/users/${developer.name}`))).toBe('403 DENIED');
  });

  it('answers 401 to every route without credentials', async () => {
    const anonymous = new ApiClient(server);
    for (const [method, path] of [
      ['GET', '/users'],
      ['GET', '/roles'],
      ['GET', '/tokens'],
      ['GET', '/namespaces'],
      ['GET', '/system'],
      ['POST', '/users'],
    ] as const) {
      const res = await anonymous.request(method, path, method === 'GET' ? {} : { body: {} });
      expect(outcomeOf(res)).toBe('401 UNAUTHORIZED');
    }
  });
});

describe('roles', () => {
  it('lists built-in roles to any signed-in user', async () => {
    const res = await viewer.client.get<{ items: RoleBody[] }>('/roles');
    expect(res.status).toBe(200);
    const byName = new Map(res.body.items.map((r) => [r.name, r]));
    expect(byName.get('developer')).toMatchObject({
      builtin: true,
      privileges: [{ pattern: '*', actions: ['pull', 'push'] }],
    });
    expect([...byName.keys()]).toEqual(
      expect.arrayContaining(['admin', 'maintainer', 'developer', 'viewer']),
    );
  });

  it('creates, replaces and deletes a custom role whose privileges take effect', async () => {
    const created = await admin.post<RoleBody>('/roles', {
      name: 'team-pusher',
      description: 'push to team namespaces',
      privileges: [{ pattern: 'team-*', actions: ['pull', 'push'] }],
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: 'team-pusher', builtin: false });
    expect(outcomeOf(await admin.post('/roles', { name: 'team-pusher', privileges: [] }))).toBe(
      '400 INVALID_REQUEST',
    );
    const dup = await admin.post('/roles', {
      name: 'team-pusher',
      privileges: [{ pattern: '*', actions: ['pull'] }],
    });
    expect(outcomeOf(dup)).toBe('409 CONFLICT');

    const replaced = await admin.put<RoleBody>('/roles/team-pusher', {
      privileges: [{ pattern: 'team-*', actions: ['pull'] }],
    });
    expect(replaced.status).toBe(200);
    expect(replaced.body.privileges).toEqual([{ pattern: 'team-*', actions: ['pull'] }]);

    const { client } = await userSession(server, admin, [{ role: 'team-pusher' }]);
    const me = await client.get<{ privileges: unknown[] }>('/session');
    expect(me.body.privileges).toEqual([{ pattern: 'team-*', actions: ['pull'] }]);

    expect((await admin.delete('/roles/team-pusher')).status).toBe(204);
    expect(outcomeOf(await admin.delete('/roles/team-pusher'))).toBe('404 NOT_FOUND');
    const after = await client.get<{ privileges: unknown[]; roles: unknown[] }>('/session');
    expect(after.body.roles).toEqual([]);
  });

  it('refuses to change or delete a built-in role', async () => {
    const put = await admin.put('/roles/viewer', {
      privileges: [{ pattern: '*', actions: ['pull', 'push'] }],
    });
    expect(outcomeOf(put)).toBe('409 CONFLICT');
    expect(outcomeOf(await admin.delete('/roles/viewer'))).toBe('409 CONFLICT');
  });

  it('rejects invalid privileges with 400 INVALID_REQUEST', async () => {
    for (const privileges of [
      [{ pattern: 'Bad Pattern', actions: ['pull'] }],
      [{ pattern: '*', actions: ['fly'] }],
      [{ pattern: '*', actions: [] }],
    ]) {
      const res = await admin.put('/roles/broken', { privileges });
      expect(outcomeOf(res)).toBe('400 INVALID_REQUEST');
    }
    expect(outcomeOf(await admin.delete('/roles/broken'))).toBe('404 NOT_FOUND');
  });
});
