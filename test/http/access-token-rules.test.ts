/**
 * Access tokens keep audit trails and listings honest: a token's login is audited (as its owner,
 * once, not at each re-use); it works only with its owner's user name; it is created only with
 * privileges its user holds, and never for a disabled user; and a listing shows what it can really
 * do (its privileges narrowed by its user's current ones).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RegistryError } from '../../src/core/errors.js';
import type { AuditEvent } from '../../src/meta/identity.js';
import { ADMIN_PASSWORD, startServer, type TestServer } from '../helpers/server.js';
import { ApiClient, outcomeOf, type ErrorResponse, type TokenBody } from './api-v1-helpers.js';
import {
  ACTOR,
  addUser,
  basic,
  basicOf,
  getToken,
  parseChallenge,
  postToken,
  pullAs,
  pushImageAs,
  send,
} from './auth-helpers.js';

let server: TestServer;

beforeAll(async () => {
  server = await startServer({ auth: true });
  await server.app.registry.namespaces.create('team');
  const admin = basic('admin', ADMIN_PASSWORD);
  expect((await pushImageAs(server, 'team/app', 'v1', admin)).outcome).toBe('201');
});
afterAll(async () => server.close());

let users = 0;
async function userWithToken(
  roles: { role: string; namespace?: string }[],
  privileges?: { pattern: string; actions: ('pull' | 'push' | 'delete' | 'admin')[] }[],
): Promise<{ user: string; id: string; secret: string }> {
  const user = `rules-${++users}`;
  await addUser(server, user, roles);
  const { token, secret } = await server.app.identity.createToken(ACTOR, {
    user,
    name: `ci-${users}`,
    ...(privileges ? { privileges } : {}),
  });
  return { user, id: token.id, secret };
}

async function loginEvents(actor: string): Promise<(AuditEvent & { id: number })[]> {
  await server.app.auth?.audit.flush();
  const page = await server.app.identity.listAudit({ limit: 100, actor, action: 'login' });
  return page.items;
}

async function refusal(promise: Promise<unknown>): Promise<RegistryError> {
  try {
    await promise;
  } catch (e) {
    return e as RegistryError;
  }
  throw new Error('expected a refusal');
}

describe('a login with an access token', () => {
  it('is audited as its owner with the token’s id and name, once and not at each re-use', async () => {
    const { user, id, secret } = await userWithToken([{ role: 'developer' }]);
    const creds = basic(user, secret);
    for (let i = 0; i < 3; i++) expect((await send(server, 'GET', '/v2/', creds)).status).toBe(200);
    expect((await getToken(server, { authorization: creds })).status).toBe(200);
    const logins = await loginEvents(user);
    expect(logins).toHaveLength(1);
    expect(logins[0]).toMatchObject({
      actor: user,
      target: `token:${id}`,
      outcome: 'success',
      detail: { token: id, name: `ci-${users}` },
    });
    const [listed] = await server.app.identity.listTokens(user);
    expect(listed?.lastUsedAt).not.toBeNull();
  });
});

describe('an access token with a user name other than its owner’s', () => {
  it('is refused on /v2, at the token realm and on the admin API; the owner’s name works', async () => {
    const { user, id, secret } = await userWithToken([{ role: 'developer' }]);
    const wrong = basic('nobody', secret);
    const v2 = await send(server, 'GET', '/v2/', wrong);
    expect(v2.status).toBe(401);
    expect(parseChallenge(v2.headers.get('www-authenticate')).realm).toBe(
      `http://${server.host}/v2/token`,
    );
    expect((await getToken(server, { authorization: wrong })).status).toBe(401);
    const posted = await postToken(server, {
      grant_type: 'password',
      service: 'berth',
      username: 'admin',
      password: secret,
    });
    expect(posted.status).toBe(401);
    expect((await send(server, 'GET', '/api/v1/session', wrong)).status).toBe(401);
    // Not even another real user's name.
    await addUser(server, 'bystander');
    expect((await send(server, 'GET', '/v2/', basic('bystander', secret))).status).toBe(401);

    expect((await send(server, 'GET', '/v2/', basic(user, secret))).status).toBe(200);
    const failures = (await loginEvents('nobody')).filter((e) => e.target === `token:${id}`);
    expect(failures.length).toBeGreaterThan(0);
    expect(failures[0]).toMatchObject({ outcome: 'failure', detail: { owner: user } });
  });
});

describe('creating an access token', () => {
  it('is refused for a privilege the user does not hold, naming it', async () => {
    await addUser(server, 'viewer1', [{ role: 'viewer' }]);
    const err = await refusal(
      server.app.identity.createToken(ACTOR, {
        user: 'viewer1',
        name: 'push',
        privileges: [{ pattern: 'library', actions: ['push'] }],
      }),
    );
    expect(err.code).toBe('INVALID_REQUEST');
    expect(err.message).toContain('library=push');
    expect(err.message).toContain('viewer1');
    // What the user holds is fine, also narrower than the role.
    const { token } = await server.app.identity.createToken(ACTOR, {
      user: 'viewer1',
      name: 'pull',
      privileges: [{ pattern: 'library', actions: ['pull'] }],
    });
    expect(token.privileges).toEqual([{ pattern: 'library', actions: ['pull'] }]);
  });

  it('is refused beyond a namespace-bound role, and for admin without the admin role', async () => {
    await addUser(server, 'team-dev', [{ role: 'developer', namespace: 'team' }]);
    const create = (privileges: { pattern: string; actions: ('pull' | 'push' | 'admin')[] }[]) =>
      server.app.identity.createToken(ACTOR, { user: 'team-dev', name: 'x', privileges });
    expect((await create([{ pattern: 'team', actions: ['pull', 'push'] }])).token.user).toBe(
      'team-dev',
    );
    expect((await refusal(create([{ pattern: '*', actions: ['pull'] }]))).message).toContain(
      '*=pull',
    );
    expect((await refusal(create([{ pattern: 'team*', actions: ['pull'] }]))).message).toContain(
      'team*=pull',
    );
    expect((await refusal(create([{ pattern: 'team', actions: ['admin'] }]))).message).toContain(
      'team=admin',
    );
  });

  it('is refused through the admin API with a message naming the privilege', async () => {
    await addUser(server, 'api-viewer', [{ role: 'viewer' }]);
    const client = new ApiClient(server, basicOf('api-viewer'));
    const res = await client.post<ErrorResponse>('/tokens', {
      name: 'push',
      privileges: [{ pattern: 'library', actions: ['pull', 'push'] }],
    });
    expect(outcomeOf(res)).toBe('400 INVALID_REQUEST');
    expect(res.body.errors[0]?.message).toContain('library=push');
    expect((await client.post('/tokens', { name: 'pull' })).status).toBe(201);
  });

  it('is refused for a disabled user', async () => {
    await addUser(server, 'gone-user', [{ role: 'developer' }]);
    await server.app.identity.setDisabled(ACTOR, 'gone-user', true);
    const err = await refusal(
      server.app.identity.createToken(ACTOR, { user: 'gone-user', name: 'x' }),
    );
    expect(err.code).toBe('CONFLICT');
    expect(err.message).toContain('disabled');
    expect(await server.app.identity.listTokens('gone-user')).toEqual([]);
  });
});

describe('a token listing', () => {
  it('shows what a token can really do: its privileges narrowed by its user’s now', async () => {
    // Made without privileges: the viewer's pull everywhere, not everything.
    const viewer = await userWithToken([{ role: 'viewer' }]);
    expect((await server.app.identity.listTokens(viewer.user))[0]?.privileges).toEqual([
      { pattern: '*', actions: ['pull'] },
    ]);
    const api = await new ApiClient(server, basicOf(viewer.user)).get<{ items: TokenBody[] }>(
      '/tokens',
    );
    expect(api.body.items.map((t) => t.privileges)).toEqual([
      [{ pattern: '*', actions: ['pull'] }],
    ]);
    const me = await new ApiClient(server, basic(viewer.user, viewer.secret)).get<{
      privileges: unknown;
    }>('/session');
    expect(me.body.privileges).toEqual([{ pattern: '*', actions: ['pull'] }]);

    // A pull-everywhere token of a developer who is then moved to the team namespace only.
    const dev = await userWithToken([{ role: 'developer' }], [{ pattern: '*', actions: ['pull'] }]);
    await server.app.identity.bind(ACTOR, { user: dev.user, role: 'developer', namespace: 'team' });
    await server.app.identity.unbind(ACTOR, { user: dev.user, role: 'developer' });
    expect((await server.app.identity.getToken(dev.id))?.privileges).toEqual([
      { pattern: 'team', actions: ['pull'] },
    ]);
    expect(await pullAs(server, 'team/app', 'v1', basic(dev.user, dev.secret))).toBe('200');

    // The user loses a role, then is disabled: the token can do nothing, and says so.
    const loser = await userWithToken([{ role: 'developer' }, { role: 'viewer' }]);
    await server.app.identity.unbind(ACTOR, { user: loser.user, role: 'developer' });
    expect((await server.app.identity.getToken(loser.id))?.privileges).toEqual([
      { pattern: '*', actions: ['pull'] },
    ]);
    await server.app.identity.setDisabled(ACTOR, loser.user, true);
    expect((await server.app.identity.getToken(loser.id))?.privileges).toEqual([]);
  });
});
