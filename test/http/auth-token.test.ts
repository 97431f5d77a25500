/**
 * The token realm at /v2/token: GET with and without Basic credentials (docker, skopeo, podman),
 * POST with the OAuth2 password and refresh-token grants (containerd, docker after login), scope
 * parsing, intersection semantics, the response fields, and the JWT it issues.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rm } from 'node:fs/promises';
import { ADMIN_PASSWORD, makeTempDir, startServer, type TestServer } from '../helpers/server.js';
import {
  ACTOR,
  actionsFor,
  addUser,
  basic,
  bearer,
  decodeJwt,
  getToken,
  passwordOf,
  postToken,
  pullAs,
  pushImageAs,
  send,
  tokenFor,
} from './auth-helpers.js';

let server: TestServer;
let admin: string;
let viewer: string;
let developer: string;

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

beforeAll(async () => {
  server = await startServer({ auth: true });
  await server.app.registry.namespaces.create('team');
  await server.app.registry.namespaces.create('pub', { public: true });
  admin = basic('admin', ADMIN_PASSWORD);
  viewer = await addUser(server, 'viewer', [{ role: 'viewer' }]);
  developer = await addUser(server, 'developer', [{ role: 'developer' }]);
  expect((await pushImageAs(server, 'team/app', 'v1', admin)).outcome).toBe('201');
});
afterAll(async () => server.close());

describe('GET /v2/token', () => {
  it('answers Basic credentials with equal token and access_token, expires_in ≥ 60 and an RFC 3339 issued_at', async () => {
    const before = Date.now();
    const res = await getToken(server, {
      authorization: developer,
      scopes: ['repository:team/app:pull'],
    });
    expect(res.status).toBe(200);
    expect(res.type).toMatch(/^application\/json/);
    const { token, access_token, expires_in, issued_at, refresh_token } = res.body;
    expect(token).toBeTypeOf('string');
    expect(access_token).toBe(token);
    expect(expires_in).toBeGreaterThanOrEqual(60);
    expect(issued_at).toMatch(RFC3339);
    const issued = Date.parse(issued_at ?? '');
    expect(issued).toBeGreaterThanOrEqual(before - 1000);
    expect(issued).toBeLessThanOrEqual(Date.now() + 1000);
    expect(refresh_token).toBeUndefined();
  });

  it('issues an ES256 JWT with a kid and the iss, sub, aud, exp, nbf, iat, jti and access claims', async () => {
    const res = await getToken(server, {
      authorization: developer,
      scopes: ['repository:team/app:pull,push'],
    });
    const { header, claims, signature } = decodeJwt(res.body.token ?? '');
    expect(header['alg']).toBe('ES256');
    expect(header['kid']).toBeTypeOf('string');
    expect(header['kid']).toBe((await server.app.dataDir.meta.getSigningKey())?.kid);
    expect(signature.length).toBeGreaterThan(0);
    expect(claims['iss']).toBe('berth');
    expect(claims['sub']).toBe('developer');
    expect(claims['aud']).toBe('berth');
    const { iat, nbf, exp } = claims as { iat: number; nbf: number; exp: number };
    expect(Math.abs(iat - Date.now() / 1000)).toBeLessThan(5);
    expect(nbf).toBeLessThanOrEqual(iat);
    expect(exp - iat).toBe(res.body.expires_in);
    expect(claims['jti']).toBeTypeOf('string');
    expect(claims.access).toEqual([
      { type: 'repository', name: 'team/app', actions: ['pull', 'push'] },
    ]);
    const again = await getToken(server, { authorization: developer });
    expect(decodeJwt(again.body.token ?? '').claims['jti']).not.toBe(claims['jti']);
  });

  it('grants nothing without a scope (docker login) and the token still opens /v2/', async () => {
    const res = await getToken(server, {
      authorization: developer,
      extra: 'account=developer&client_id=docker&offline_token=true',
    });
    expect(res.status).toBe(200);
    expect(decodeJwt(res.body.token ?? '').claims.access).toEqual([]);
    expect((await send(server, 'GET', '/v2/', bearer(res.body.token ?? ''))).status).toBe(200);
  });

  it('takes several scope parameters and space-separated scopes in one parameter', async () => {
    const res = await getToken(server, {
      authorization: developer,
      scopes: ['repository:team/app:pull', 'repository:team/b:pull,push repository:team/c:push'],
    });
    const token = res.body.token ?? '';
    expect(actionsFor(token, 'team/app')).toEqual(['pull']);
    expect(actionsFor(token, 'team/b')).toEqual(['pull', 'push']);
    expect(actionsFor(token, 'team/c')).toEqual(['push']);
  });

  it('parses the actions after the last colon of a scope whose name has a host:port', async () => {
    const token = await tokenFor(server, developer, [
      'repository:localhost:5000/foo:pull,push',
      'repository:team/app:pull',
    ]);
    const access = decodeJwt(token).claims.access ?? [];
    // A first-colon split would read the name `localhost` with actions `5000/foo:pull,push`.
    expect(access.some((a) => a.name === 'localhost')).toBe(false);
    expect(access.flatMap((a) => a.actions).some((a) => a.includes(':'))).toBe(false);
    // `localhost:5000/foo` is no repository name Berth could serve: nothing is granted for it.
    expect(access.filter((a) => a.name !== 'team/app').every((a) => a.actions.length === 0)).toBe(
      true,
    );
    expect(actionsFor(token, 'team/app')).toEqual(['pull']);
  });

  it('grants the intersection: a viewer asking for push gets a 200 with pull only', async () => {
    const res = await getToken(server, {
      authorization: viewer,
      scopes: ['repository:team/app:push,pull,delete'],
    });
    expect(res.status).toBe(200);
    expect(actionsFor(res.body.token ?? '', 'team/app')).toEqual(['pull']);
  });

  it('ignores unknown resource types, the deprecated plugin class and malformed scopes', async () => {
    const res = await getToken(server, {
      authorization: developer,
      scopes: [
        'repository(plugin):team/app:pull',
        'garbage',
        'volume:x:pull',
        'repository:team/app:',
      ],
    });
    expect(res.status).toBe(200);
    expect(decodeJwt(res.body.token ?? '').claims.access).toEqual([]);
  });

  it('maps single-segment names to library as the registry does', async () => {
    const token = await tokenFor(server, developer, ['repository:busybox:pull,push']);
    expect(actionsFor(token, 'busybox')).toEqual(['pull', 'push']);
    expect((await pushImageAs(server, 'busybox', 'v1', bearer(token))).outcome).toBe('201');
  });

  it('gives anonymous callers a token with what they may do, never an error', async () => {
    const res = await getToken(server, {
      scopes: ['repository:team/app:pull', 'repository:pub/app:pull,push'],
    });
    expect(res.status).toBe(200);
    const token = res.body.token ?? '';
    expect(decodeJwt(token).claims['sub']).toBe('');
    expect(actionsFor(token, 'team/app')).toEqual([]);
    expect(actionsFor(token, 'pub/app')).toEqual(['pull']);
  });

  it('returns a refresh token for offline_token=true&client_id=docker', async () => {
    const res = await getToken(server, {
      authorization: developer,
      extra: 'offline_token=true&client_id=docker',
    });
    expect(res.status).toBe(200);
    expect(res.body.refresh_token).toMatch(/^berth_rt_/);
    const anonymous = await getToken(server, { extra: 'offline_token=true&client_id=docker' });
    expect(anonymous.status).toBe(200);
    expect(anonymous.body.refresh_token).toBeUndefined();
  });

  it('answers bad credentials with a 401 in JSON (never HTML)', async () => {
    for (const authorization of [
      basic('developer', 'wrong-password'),
      basic('no-such-user', 'whatever-password'),
      `Basic ${Buffer.from('no-colon').toString('base64')}`,
    ]) {
      const res = await send(server, 'GET', '/v2/token?service=berth', authorization);
      expect(res.status).toBe(401);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      const body = (await res.json()) as { errors: { code: string }[] };
      expect(body.errors[0]?.code).toBe('UNAUTHORIZED');
    }
  });

  it('splits Basic credentials at the first colon: a password may contain colons', async () => {
    await server.app.identity.addUser(ACTOR, { name: 'colons', password: 'pa:ss:wo:rd' });
    const res = await getToken(server, { authorization: basic('colons', 'pa:ss:wo:rd') });
    expect(res.status).toBe(200);
    expect(decodeJwt(res.body.token ?? '').claims['sub']).toBe('colons');
  });

  it('never echoes the password in a refusal', async () => {
    const res = await send(
      server,
      'GET',
      '/v2/token?service=berth',
      basic('developer', 'secret-guess-1234'),
    );
    expect(res.status).toBe(401);
    expect(await res.text()).not.toContain('secret-guess-1234');
  });
});

describe('POST /v2/token', () => {
  it('grant_type=password issues an access_token with the granted scope and expires_in', async () => {
    const res = await postToken(server, {
      grant_type: 'password',
      service: 'berth',
      client_id: 'containerd',
      username: 'viewer',
      password: passwordOf('viewer'),
      scope: 'repository:team/app:pull,push repository:team/x:pull',
    });
    expect(res.status).toBe(200);
    expect(res.type).toMatch(/^application\/json/);
    expect(res.body.access_token).toBeTypeOf('string');
    expect(res.body.expires_in).toBeGreaterThanOrEqual(60);
    expect(res.body.scope?.split(' ')).toEqual([
      'repository:team/app:pull',
      'repository:team/x:pull',
    ]);
    expect(res.body.refresh_token).toBeUndefined();
    expect(actionsFor(res.body.access_token ?? '', 'team/app')).toEqual(['pull']);
    expect(await pullAs(server, 'team/app', 'v1', bearer(res.body.access_token ?? ''))).toBe('200');
  });

  it('grant_type=password with access_type=offline also returns a refresh token', async () => {
    const res = await postToken(server, {
      grant_type: 'password',
      service: 'berth',
      client_id: 'containerd',
      access_type: 'offline',
      username: 'developer',
      password: passwordOf('developer'),
    });
    expect(res.status).toBe(200);
    expect(res.body.refresh_token).toMatch(/^berth_rt_/);
  });

  it('grant_type=password with a bad password is a 401 in JSON', async () => {
    const res = await postToken(server, {
      grant_type: 'password',
      service: 'berth',
      client_id: 'containerd',
      username: 'developer',
      password: 'not-the-password',
    });
    expect(res.status).toBe(401);
    expect(res.type).toMatch(/^application\/json/);
    expect(res.body.access_token).toBeUndefined();
  });

  it('an unknown grant type is refused in JSON with a status containerd falls back from', async () => {
    const res = await postToken(server, { grant_type: 'authorization_code', service: 'berth' });
    expect([400, 401, 404, 405]).toContain(res.status);
    expect(res.type).toMatch(/^application\/json/);
  });
});

describe('refresh tokens', () => {
  async function refreshTokenOf(user: string): Promise<string> {
    const res = await getToken(server, {
      authorization: basic(user, passwordOf(user)),
      extra: 'offline_token=true&client_id=docker',
    });
    expect(res.body.refresh_token).toBeTypeOf('string');
    return res.body.refresh_token ?? '';
  }

  const refresh = (refreshToken: string, scope?: string) =>
    postToken(server, {
      grant_type: 'refresh_token',
      service: 'berth',
      client_id: 'docker',
      refresh_token: refreshToken,
      ...(scope !== undefined ? { scope } : {}),
    });

  it('grant_type=refresh_token issues tokens for the user, for the scopes it may have', async () => {
    await addUser(server, 'refresher', [{ role: 'developer', namespace: 'team' }]);
    const rt = await refreshTokenOf('refresher');
    const res = await refresh(rt, 'repository:team/app:pull,push,delete');
    expect(res.status).toBe(200);
    expect(res.body.scope).toBe('repository:team/app:pull,push');
    expect(decodeJwt(res.body.access_token ?? '').claims['sub']).toBe('refresher');
    // Works again: a refresh token is not single-use.
    expect((await refresh(rt)).status).toBe(200);
  });

  it('is refused (401) once the password changes', async () => {
    await addUser(server, 'rotating');
    const rt = await refreshTokenOf('rotating');
    expect((await refresh(rt)).status).toBe(200);
    await server.app.identity.setPassword(ACTOR, 'rotating', 'a-brand-new-password');
    const res = await refresh(rt);
    expect(res.status).toBe(401);
    expect(res.type).toMatch(/^application\/json/);
  });

  it('is refused (401) while the user is disabled, and after it is deleted', async () => {
    await addUser(server, 'leaving');
    const rt = await refreshTokenOf('leaving');
    await server.app.identity.setDisabled(ACTOR, 'leaving', true);
    expect((await refresh(rt)).status).toBe(401);
    await addUser(server, 'deleted');
    const rt2 = await refreshTokenOf('deleted');
    await server.app.identity.deleteUser(ACTOR, 'deleted');
    expect((await refresh(rt2)).status).toBe(401);
  });

  it('a forged or altered refresh token is a 401', async () => {
    const rt = await refreshTokenOf('developer');
    const altered = `${rt.slice(0, -1)}${rt.endsWith('A') ? 'B' : 'A'}`;
    expect((await refresh(altered)).status).toBe(401);
    expect((await refresh('berth_rt_AAAAAAAAAAAA_' + 'A'.repeat(43))).status).toBe(401);
    expect((await refresh('')).status).toBe(401);
  });

  it('is not a password: Basic with a refresh token is refused', async () => {
    const rt = await refreshTokenOf('developer');
    expect((await send(server, 'GET', '/v2/', basic('developer', rt))).status).toBe(401);
  });

  it('is bound to its service: the same store serving another service refuses it', async () => {
    const dataDir = await makeTempDir();
    const as = (service: string) =>
      startServer({
        auth: true,
        dataDir,
        configure: (c) => {
          c.auth.service = service;
        },
      });
    try {
      const one = await as('registry-one');
      let rt: string;
      try {
        await one.app.identity.addUser(ACTOR, { name: 'roamer', password: passwordOf('roamer') });
        const res = await getToken(one, {
          authorization: basic('roamer', passwordOf('roamer')),
          extra: 'offline_token=true&client_id=docker',
        });
        rt = res.body.refresh_token ?? '';
        const form = { grant_type: 'refresh_token', service: 'registry-one', client_id: 'docker' };
        expect((await postToken(one, { ...form, refresh_token: rt })).status).toBe(200);
      } finally {
        await one.close();
      }
      const two = await as('registry-two');
      try {
        const res = await postToken(two, {
          grant_type: 'refresh_token',
          service: 'registry-two',
          client_id: 'docker',
          refresh_token: rt,
        });
        expect(res.status).toBe(401);
      } finally {
        await two.close();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('cached credentials', () => {
  it('a password change ends the old password at once, though it was just verified', async () => {
    const old = await addUser(server, 'changer', [{ role: 'viewer' }]);
    expect((await send(server, 'GET', '/v2/', old)).status).toBe(200);
    await server.app.identity.setPassword(ACTOR, 'changer', 'the-new-password');
    expect((await send(server, 'GET', '/v2/', old)).status).toBe(401);
    expect((await getToken(server, { authorization: old })).status).toBe(401);
    const fresh = basic('changer', 'the-new-password');
    expect((await send(server, 'GET', '/v2/', fresh)).status).toBe(200);
  });

  it('disabling or deleting a user ends its cached password at once', async () => {
    const creds = await addUser(server, 'to-disable', [{ role: 'viewer' }]);
    expect((await send(server, 'GET', '/v2/', creds)).status).toBe(200);
    await server.app.identity.setDisabled(ACTOR, 'to-disable', true);
    expect((await send(server, 'GET', '/v2/', creds)).status).toBe(401);
    expect((await getToken(server, { authorization: creds })).status).toBe(401);

    const gone = await addUser(server, 'to-delete', [{ role: 'viewer' }]);
    expect((await send(server, 'GET', '/v2/', gone)).status).toBe(200);
    await server.app.identity.deleteUser(ACTOR, 'to-delete');
    expect((await send(server, 'GET', '/v2/', gone)).status).toBe(401);
  });
});
