/**
 * Forged and misused registry tokens: each must be refused with a 401 whose challenge says
 * `error="invalid_token"` (so clients fetch a new token instead of failing for good), and a token
 * request for more than the user may have must yield a token that does not open more.
 *
 * Expired and foreign-audience tokens are minted with the server's own signing key, read from its
 * store: that simulates a token the server itself issued long ago (or for another service) without
 * waiting for one to expire. A control token minted the same way is accepted, so a refusal is
 * about the claim under test and not about the minting.
 */
import { randomUUID } from 'node:crypto';
import { SignJWT, generateKeyPair, importJWK, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, startServer, type TestServer } from '../helpers/server.js';
import {
  actionsFor,
  addUser,
  b64url,
  basic,
  bearer,
  codeOf,
  decodeJwt,
  parseChallenge,
  pullAs,
  pushBlobAs,
  pushImageAs,
  send,
  tokenFor,
} from './auth-helpers.js';

let server: TestServer;
let viewer: string;
let developer: string;
let kid: string;
/** What jose signs with (a CryptoKey or an HMAC secret). */
type SigningKey = Parameters<SignJWT['sign']>[0];
let serverKey: SigningKey;

const ALL = ['pull', 'push', 'delete'];

beforeAll(async () => {
  server = await startServer({ auth: true });
  await server.app.registry.namespaces.create('team');
  await server.app.registry.namespaces.create('other');
  viewer = await addUser(server, 'viewer', [{ role: 'viewer' }]);
  developer = await addUser(server, 'developer', [{ role: 'developer', namespace: 'team' }]);
  expect(
    (await pushImageAs(server, 'team/app', 'v1', basic('admin', ADMIN_PASSWORD))).outcome,
  ).toBe('201');
  const row = await server.app.dataDir.meta.getSigningKey();
  if (!row) throw new Error('the server has no signing key');
  kid = row.kid;
  serverKey = await importJWK(JSON.parse(row.privateJwk) as JWK, 'ES256');
});
afterAll(async () => server.close());

interface Mint {
  key?: SigningKey;
  kid?: string;
  alg?: string;
  sub?: string;
  aud?: string;
  iss?: string;
  /** Seconds from now. */
  iat?: number;
  nbf?: number;
  exp?: number;
  access?: { type: string; name: string; actions: string[] }[];
}

/** A token signed with the server's key (or `key`), with claims relative to now. */
async function mint(m: Mint = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({
    access: m.access ?? [{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }],
  })
    .setProtectedHeader({ alg: m.alg ?? 'ES256', typ: 'JWT', kid: m.kid ?? kid })
    .setIssuer(m.iss ?? 'berth')
    .setSubject(m.sub ?? 'developer')
    .setAudience(m.aud ?? 'berth')
    .setIssuedAt(now + (m.iat ?? 0))
    .setNotBefore(now + (m.nbf ?? 0))
    .setExpirationTime(now + (m.exp ?? 300))
    .setJti(randomUUID())
    .sign(m.key ?? serverKey);
}

/** Expects a 401 with `error="invalid_token"` in the Bearer challenge. */
async function expectInvalidToken(res: Response): Promise<void> {
  expect(res.status).toBe(401);
  const challenge = res.headers.get('www-authenticate');
  expect(challenge).toMatch(/^Bearer /);
  expect(parseChallenge(challenge)).toMatchObject({
    realm: `http://${server.host}/v2/token`,
    service: 'berth',
    error: 'invalid_token',
  });
  expect(await codeOf(res)).toBe('UNAUTHORIZED');
}

const startUpload = (token: string): Promise<Response> =>
  send(server, 'POST', '/v2/team/app/blobs/uploads/', bearer(token));
const getManifest = (token: string): Promise<Response> =>
  send(server, 'GET', '/v2/team/app/manifests/v1', bearer(token));

describe('control', () => {
  it('a token minted with the server key and valid claims is accepted', async () => {
    expect((await pushBlobAs(server, 'team/app', 'control', bearer(await mint()))).outcome).toBe(
      '201',
    );
    expect(await pullAs(server, 'team/app', 'v1', bearer(await mint()))).toBe('200');
  });

  it('a token issued by the realm is accepted for what it grants', async () => {
    const token = await tokenFor(server, developer, ['repository:team/app:pull,push']);
    expect((await pushBlobAs(server, 'team/app', 'realm', bearer(token))).outcome).toBe('201');
  });
});

describe('forged tokens are refused with 401 invalid_token', () => {
  it('alg: none with an empty signature', async () => {
    const real = decodeJwt(await tokenFor(server, viewer, ['repository:team/app:pull']));
    const widened = {
      ...real.claims,
      access: [{ type: 'repository', name: 'team/app', actions: ALL }],
    };
    const none = `${b64url({ alg: 'none', typ: 'JWT', kid })}.${b64url(widened)}.`;
    await expectInvalidToken(await startUpload(none));
    // Not even what the real token granted: an unsigned token is no token.
    const unchanged = `${b64url({ alg: 'none', typ: 'JWT', kid })}.${b64url(real.claims)}.`;
    await expectInvalidToken(await getManifest(unchanged));
  });

  it('a payload edited to widen access, the signature kept', async () => {
    const token = await tokenFor(server, viewer, ['repository:team/app:pull']);
    expect(actionsFor(token, 'team/app')).toEqual(['pull']);
    const [header = '', , signature = ''] = token.split('.');
    const { claims } = decodeJwt(token);
    const tampered = `${header}.${b64url({
      ...claims,
      access: [{ type: 'repository', name: 'team/app', actions: ALL }],
    })}.${signature}`;
    await expectInvalidToken(await startUpload(tampered));
    await expectInvalidToken(await getManifest(tampered));
    const res = await send(server, 'DELETE', '/v2/team/app/manifests/v1', bearer(tampered));
    await expectInvalidToken(res);
  });

  it('a token signed by another ES256 key that claims the same kid', async () => {
    const { privateKey } = await generateKeyPair('ES256');
    const forged = await mint({
      key: privateKey,
      sub: 'admin',
      access: [{ type: 'repository', name: 'team/app', actions: ALL }],
    });
    expect(decodeJwt(forged).header['kid']).toBe(kid);
    await expectInvalidToken(await startUpload(forged));
    await expectInvalidToken(await getManifest(forged));
  });

  it('an HS256 token keyed with the public key (algorithm confusion)', async () => {
    const row = await server.app.dataDir.meta.getSigningKey();
    const jwk = JSON.parse(row?.privateJwk ?? '{}') as JWK;
    const { kty, crv, x, y } = jwk;
    const secret = new TextEncoder().encode(JSON.stringify({ kty, crv, x, y }));
    const forged = await mint({ key: secret, alg: 'HS256' });
    await expectInvalidToken(await startUpload(forged));
  });

  it('an expired token (exp 10 minutes ago, beyond any clock leeway)', async () => {
    const expired = await mint({ iat: -900, nbf: -900, exp: -600 });
    await expectInvalidToken(await startUpload(expired));
    await expectInvalidToken(await getManifest(expired));
  });

  it('a token that is not valid yet (nbf in 10 minutes)', async () => {
    const early = await mint({ nbf: 600, exp: 900 });
    await expectInvalidToken(await getManifest(early));
  });

  it('a token for another service (aud)', async () => {
    await expectInvalidToken(await startUpload(await mint({ aud: 'other' })));
  });

  it('a token from another issuer (iss)', async () => {
    await expectInvalidToken(await startUpload(await mint({ iss: 'someone-else' })));
  });

  it('a token signed with the right key under an unknown kid', async () => {
    await expectInvalidToken(await getManifest(await mint({ kid: 'not-our-key' })));
  });

  it('garbage in the Bearer header', async () => {
    await expectInvalidToken(await getManifest('not.a.jwt'));
    await expectInvalidToken(await getManifest('e30.e30.'));
  });

  it('on /v2/ as well: a forged token does not even sign the caller in', async () => {
    const expired = await mint({ iat: -900, nbf: -900, exp: -600 });
    await expectInvalidToken(await send(server, 'GET', '/v2/', bearer(expired)));
  });
});

describe('scopes the user does not have', () => {
  it('are left out of the token, and the registry refuses what they would allow', async () => {
    const token = await tokenFor(server, viewer, ['repository:team/app:pull,push,delete']);
    expect(actionsFor(token, 'team/app')).toEqual(['pull']);
    expect((await pushBlobAs(server, 'team/app', 'nope', bearer(token))).outcome).toBe(
      '403 DENIED',
    );
    const del = await send(server, 'DELETE', '/v2/team/app/manifests/v1', bearer(token));
    expect(del.status).toBe(403);
  });

  it('outside a namespace-bound role: nothing granted, and 403 at the registry', async () => {
    const token = await tokenFor(server, developer, ['repository:other/app:pull,push']);
    expect(actionsFor(token, 'other/app')).toEqual([]);
    const res = await send(server, 'POST', '/v2/other/app/blobs/uploads/', bearer(token));
    expect(res.status).toBe(403);
    expect(await codeOf(res)).toBe('DENIED');
  });

  it('wildcard actions grant only what the user may do', async () => {
    const token = await tokenFor(server, viewer, ['repository:team/app:*']);
    expect(actionsFor(token, 'team/app')).toEqual(['pull']);
  });
});
