/**
 * The audit log over HTTP traffic: logins (success and failure), pushes, deletes and identity
 * changes are recorded with who, what, when and from where, and no secret ever lands in it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src/meta/identity.js';
import { startServer, type TestServer } from '../helpers/server.js';
import {
  ACTOR,
  addUser,
  basic,
  basicOf,
  deleteAs,
  passwordOf,
  postToken,
  pushImageAs,
  send,
} from './auth-helpers.js';

let server: TestServer;
let maintainer: string;

beforeAll(async () => {
  server = await startServer({ auth: true });
  await server.app.registry.namespaces.create('team');
  maintainer = await addUser(server, 'auditee', [{ role: 'maintainer' }]);
});
afterAll(async () => server.close());

async function events(): Promise<(AuditEvent & { id: number })[]> {
  await server.app.auth?.audit.flush();
  return (await server.app.identity.listAudit({ limit: 100 })).items;
}

const LOOPBACK = /^(127\.0\.0\.1|::1|::ffff:127\.0\.0\.1)$/;

describe('the audit log', () => {
  it('records a successful login with the user and the client address', async () => {
    expect((await send(server, 'GET', '/v2/', maintainer)).status).toBe(200);
    const login = (await events()).find(
      (e) => e.action === 'login' && e.actor === 'auditee' && e.outcome === 'success',
    );
    expect(login).toBeDefined();
    expect(login?.client).toMatch(LOOPBACK);
    expect(Date.now() - Date.parse(login?.at ?? '')).toBeLessThan(60_000);
  });

  it('records failed logins (password and refresh token) and never the secret tried', async () => {
    const guess = 'guessed-password-42';
    expect((await send(server, 'GET', '/v2/', basic('auditee', guess))).status).toBe(401);
    const refresh = await postToken(server, {
      grant_type: 'refresh_token',
      service: 'berth',
      client_id: 'docker',
      refresh_token: 'berth_rt_AAAAAAAAAAAA_' + 'B'.repeat(43),
    });
    expect(refresh.status).toBe(401);
    const all = await events();
    const failures = all.filter((e) => e.action === 'login' && e.outcome === 'failure');
    expect(failures.some((e) => e.actor === 'auditee' && LOOPBACK.test(e.client))).toBe(true);
    expect(failures.some((e) => e.target === 'refresh_token')).toBe(true);
    const text = JSON.stringify(all);
    expect(text).not.toContain(guess);
    expect(text).not.toContain(passwordOf('auditee'));
    expect(text).not.toContain('B'.repeat(43));
  });

  it('records pushes and deletes with the repository and digest', async () => {
    const pushed = await pushImageAs(server, 'team/app', 'audited', maintainer);
    expect(pushed.outcome).toBe('201');
    expect(await deleteAs(server, 'team/app', pushed.digest, maintainer)).toBe('202');
    const mine = (await events()).filter((e) => e.actor === 'auditee');
    const push = mine.find((e) => e.action === 'push');
    expect(push?.target).toBe(`team/app@${pushed.digest}`);
    expect(push?.outcome).toBe('success');
    expect(push?.client).toMatch(LOOPBACK);
    const del = mine.find((e) => e.action === 'delete');
    expect(del?.target).toContain('team/app');
    expect(del?.target).toContain(pushed.digest);
  });

  it('records identity changes with the actor who made them, and no token secret', async () => {
    await addUser(server, 'changed', [{ role: 'viewer' }]);
    await server.app.identity.bind(ACTOR, {
      user: 'changed',
      role: 'developer',
      namespace: 'team',
    });
    const { token, secret } = await server.app.identity.createToken(ACTOR, {
      user: 'changed',
      name: 'ci',
    });
    await server.app.identity.revokeToken(ACTOR, token.id);
    await server.app.identity.setPassword(ACTOR, 'changed', 'another-password');
    await server.app.identity.setDisabled(ACTOR, 'changed', true);
    const all = await events();
    const byTest = all.filter((e) => e.actor === ACTOR.name && e.client === ACTOR.client);
    const actions = byTest.map((e) => `${e.action} ${e.target}`);
    expect(actions).toEqual(
      expect.arrayContaining([
        'user.create changed',
        'role.bind changed',
        `token.create changed/${token.id}`,
        `token.revoke changed/${token.id}`,
        'user.password changed',
        'user.disable changed',
      ]),
    );
    const text = JSON.stringify(all);
    expect(text).not.toContain(secret);
    expect(text).not.toContain('another-password');
  });

  it('a use of a revoked access token is recorded as a failed login', async () => {
    await addUser(server, 'robot', [{ role: 'viewer' }]);
    const { token, secret } = await server.app.identity.createToken(ACTOR, {
      user: 'robot',
      name: 'ci',
    });
    await server.app.identity.revokeToken(ACTOR, token.id);
    expect((await send(server, 'GET', '/v2/', basic('robot', secret))).status).toBe(401);
    const failure = (await events()).find(
      (e) => e.action === 'login' && e.outcome === 'failure' && e.target === `token:${token.id}`,
    );
    expect(failure?.actor).toBe('robot');
  });

  it('is written within about a second without an explicit flush', async () => {
    await addUser(server, 'late-writer', [{ role: 'viewer' }]);
    expect((await send(server, 'GET', '/v2/', basicOf('late-writer'))).status).toBe(200);
    // The flush timer is 1 s; the deadline leaves room for a busy machine's late timers.
    const deadline = Date.now() + 15_000;
    let found = false;
    while (!found && Date.now() < deadline) {
      const page = await server.app.identity.listAudit({ limit: 100, actor: 'late-writer' });
      found = page.items.some((e) => e.action === 'login' && e.outcome === 'success');
      if (!found) await sleep(100);
    }
    expect(found).toBe(true);
  });
});
