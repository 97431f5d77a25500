/**
 * Access tokens (`berth_pat_…`) for CI and robots: usable as the password of Basic credentials on
 * /v2 and at the token realm, never more than their own privileges AND their user's current ones,
 * and dead once revoked, expired, or their user is disabled.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintSecret } from '../../src/auth/secrets.js';
import type { Privilege } from '../../src/meta/identity.js';
import { ADMIN_PASSWORD, startServer, type TestServer } from '../helpers/server.js';
import {
  ACTOR,
  actionsFor,
  addUser,
  basic,
  bearer,
  decodeJwt,
  getToken,
  parseChallenge,
  postToken,
  pullAs,
  pushImageAs,
  send,
  tokenFor,
} from './auth-helpers.js';

let server: TestServer;

beforeAll(async () => {
  server = await startServer({ auth: true });
  await server.app.registry.namespaces.create('team');
  await server.app.registry.namespaces.create('other');
  const admin = basic('admin', ADMIN_PASSWORD);
  for (const repo of ['team/app', 'other/app']) {
    expect((await pushImageAs(server, repo, 'v1', admin)).outcome).toBe('201');
  }
});
afterAll(async () => server.close());

let users = 0;
/** A fresh developer (everywhere) and an access token of theirs. */
async function developerWithToken(
  privileges?: Privilege[],
): Promise<{ user: string; secret: string; id: string; creds: string }> {
  const user = `robot-${++users}`;
  await addUser(server, user, [{ role: 'developer' }]);
  const { token, secret } = await server.app.identity.createToken(ACTOR, {
    user,
    name: 'ci',
    ...(privileges ? { privileges } : {}),
  });
  return { user, secret, id: token.id, creds: basic(user, secret) };
}

/** Writes an access token row directly, to give it an expiry in the past (or near future). */
async function insertToken(user: string, expiresAt: string): Promise<string> {
  const minted = mintSecret('pat');
  await server.app.dataDir.meta.createAccessToken({
    id: minted.id,
    user,
    name: 'inserted',
    secretHash: minted.hash,
    privileges: [{ pattern: '*', actions: ['pull', 'push', 'delete', 'admin'] }],
    expiresAt,
    createdAt: new Date(Date.now() - 86_400_000).toISOString(),
    lastUsedAt: null,
    revokedAt: null,
  });
  return minted.secret;
}

describe('an access token as a password', () => {
  it('works in Basic credentials on /v2: push and pull', async () => {
    const { secret, creds } = await developerWithToken();
    expect(secret).toMatch(/^berth_pat_/);
    expect((await send(server, 'GET', '/v2/', creds)).status).toBe(200);
    expect((await pushImageAs(server, 'team/app', 'pat', creds)).outcome).toBe('201');
    expect(await pullAs(server, 'team/app', 'pat', creds)).toBe('200');
  });

  it('works at the token realm (GET with Basic, POST grant_type=password)', async () => {
    const { user, secret, creds } = await developerWithToken();
    const token = await tokenFor(server, creds, ['repository:team/app:pull,push']);
    expect(decodeJwt(token).claims['sub']).toBe(user);
    expect(actionsFor(token, 'team/app')).toEqual(['pull', 'push']);
    expect((await pushImageAs(server, 'team/app', 'pat-bearer', bearer(token))).outcome).toBe(
      '201',
    );
    const posted = await postToken(server, {
      grant_type: 'password',
      service: 'berth',
      client_id: 'ci',
      username: user,
      password: secret,
      scope: 'repository:team/app:pull',
    });
    expect(posted.status).toBe(200);
    expect(actionsFor(posted.body.access_token ?? '', 'team/app')).toEqual(['pull']);
  });

  it('never yields a refresh token (it would outlive the access token and its limits)', async () => {
    const { creds } = await developerWithToken([{ pattern: 'team', actions: ['pull'] }]);
    const res = await getToken(server, {
      authorization: creds,
      extra: 'offline_token=true&client_id=docker',
    });
    expect(res.status).toBe(200);
    expect(res.body.refresh_token).toBeUndefined();
  });
});

describe('an access token is limited to its privileges', () => {
  it('a team=pull token cannot push to team, though its user can', async () => {
    const { user, creds } = await developerWithToken([{ pattern: 'team', actions: ['pull'] }]);
    expect(
      (await pushImageAs(server, 'team/app', 'user-can', basic(user, `${user}-password`))).outcome,
    ).toBe('201');
    expect(await pullAs(server, 'team/app', 'v1', creds)).toBe('200');
    expect((await pushImageAs(server, 'team/app', 'token-cannot', creds)).outcome).toBe(
      '403 DENIED',
    );
    expect(await pullAs(server, 'other/app', 'v1', creds)).toBe('403 DENIED');
  });

  it('the realm grants a team=pull token only pull on team, and nothing elsewhere', async () => {
    const { creds } = await developerWithToken([{ pattern: 'team', actions: ['pull'] }]);
    const token = await tokenFor(server, creds, [
      'repository:team/app:pull,push',
      'repository:other/app:pull',
    ]);
    expect(actionsFor(token, 'team/app')).toEqual(['pull']);
    expect(actionsFor(token, 'other/app')).toEqual([]);
  });

  it('never exceeds its user: a viewer’s token made without privileges cannot push', async () => {
    await addUser(server, 'viewer-robot', [{ role: 'viewer' }]);
    const { secret } = await server.app.identity.createToken(ACTOR, {
      user: 'viewer-robot',
      name: 'everything-the-user-may',
    });
    const creds = basic('viewer-robot', secret);
    expect(await pullAs(server, 'team/app', 'v1', creds)).toBe('200');
    expect((await pushImageAs(server, 'team/app', 'x', creds)).outcome).toBe('403 DENIED');
  });

  it('narrows when its user loses a role', async () => {
    const { user, creds } = await developerWithToken();
    expect((await pushImageAs(server, 'team/app', 'before', creds)).outcome).toBe('201');
    await server.app.identity.unbind(ACTOR, { user, role: 'developer' });
    expect((await pushImageAs(server, 'team/app', 'after', creds)).outcome).toBe('403 DENIED');
  });

  it('the catalog through Basic lists only what the token may pull', async () => {
    const { creds } = await developerWithToken([{ pattern: 'team', actions: ['pull'] }]);
    const res = await send(server, 'GET', '/v2/_catalog', creds);
    expect(res.status).toBe(200);
    const { repositories } = (await res.json()) as { repositories: string[] };
    expect(repositories).toContain('team/app');
    expect(repositories).not.toContain('other/app');
  });

  it('the catalog through a token from the realm lists only what the access token may pull', async () => {
    const { creds } = await developerWithToken([{ pattern: 'team', actions: ['pull'] }]);
    const token = await tokenFor(server, creds, ['registry:catalog:*']);
    const res = await send(server, 'GET', '/v2/_catalog', bearer(token));
    expect(res.status).toBe(200);
    const { repositories } = (await res.json()) as { repositories: string[] };
    expect(repositories).toContain('team/app');
    expect(repositories).not.toContain('other/app');
  });
});

describe('an access token stops working', () => {
  async function expectRefused(creds: string): Promise<void> {
    const res = await send(server, 'GET', '/v2/team/app/manifests/v1', creds);
    expect(res.status).toBe(401);
    expect(parseChallenge(res.headers.get('www-authenticate')).realm).toBe(
      `http://${server.host}/v2/token`,
    );
    expect((await getToken(server, { authorization: creds })).status).toBe(401);
  }

  it('when revoked', async () => {
    const { id, creds } = await developerWithToken();
    expect(await pullAs(server, 'team/app', 'v1', creds)).toBe('200');
    await server.app.identity.revokeToken(ACTOR, id);
    await expectRefused(creds);
  });

  it('when expired', async () => {
    const user = `robot-${++users}`;
    await addUser(server, user, [{ role: 'developer' }]);
    const live = await insertToken(user, new Date(Date.now() + 3_600_000).toISOString());
    expect(await pullAs(server, 'team/app', 'v1', basic(user, live))).toBe('200');
    const expired = await insertToken(user, new Date(Date.now() - 1000).toISOString());
    await expectRefused(basic(user, expired));
  });

  it('while its user is disabled, and again once re-enabled', async () => {
    const { user, creds } = await developerWithToken();
    expect(await pullAs(server, 'team/app', 'v1', creds)).toBe('200');
    await server.app.identity.setDisabled(ACTOR, user, true);
    await expectRefused(creds);
    await server.app.identity.setDisabled(ACTOR, user, false);
    expect(await pullAs(server, 'team/app', 'v1', creds)).toBe('200');
  });

  it('when altered by one character', async () => {
    const { user, secret } = await developerWithToken();
    const altered = `${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`;
    await expectRefused(basic(user, altered));
  });
});
