/**
 * Admin API access tokens: created once with the secret, usable as a Basic password on /v2 and on
 * the admin API, dead after revocation; users see and revoke only their own, administrators all.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.js';
import {
  adminSession,
  ApiClient,
  basicAuth,
  outcomeOf,
  userSession,
  type TokenBody,
} from './api-v1-helpers.js';

let server: TestServer;
let admin: ApiClient;
let developer: { name: string; client: ApiClient };
let viewer: { name: string; client: ApiClient };

beforeAll(async () => {
  server = await startServer({ auth: true });
  admin = await adminSession(server);
  developer = await userSession(server, admin, [{ role: 'developer' }], 'developer');
  viewer = await userSession(server, admin, [{ role: 'viewer' }], 'viewer');
});
afterAll(async () => server.close());

interface Created {
  token: TokenBody;
  secret: string;
}

async function v2Base(authorization: string): Promise<number> {
  const res = await fetch(`${server.url}/v2/`, { headers: { authorization } });
  await res.arrayBuffer();
  return res.status;
}

describe('access tokens', () => {
  it('creates a token whose secret works as a Basic password on /v2 until it is revoked', async () => {
    const created = await developer.client.post<Created>('/tokens', {
      name: 'ci',
      expiresInDays: 30,
    });
    expect(created.status).toBe(201);
    expect(created.headers.get('cache-control')).toBe('no-store');
    const { token, secret } = created.body;
    expect(secret).toMatch(/^berth_pat_/);
    expect(token).toMatchObject({ user: developer.name, name: 'ci', revokedAt: null });
    expect(Date.parse(token.expiresAt ?? '') - Date.now()).toBeGreaterThan(29 * 86_400_000);

    expect(await v2Base(basicAuth(developer.name, secret))).toBe(200);
    expect((await developer.client.delete(`/tokens/${token.id}`)).status).toBe(204);
    expect(await v2Base(basicAuth(developer.name, secret))).toBe(401);
  });

  it('shows the secret only at creation', async () => {
    const created = await developer.client.post<Created>('/tokens', { name: 'once' });
    const list = await developer.client.get<{ items: TokenBody[] }>('/tokens');
    expect(list.body.items.map((t) => t.id)).toContain(created.body.token.id);
    expect(JSON.stringify(list.body)).not.toContain(created.body.secret);
    // The random part follows the id; base64url may put a '_' inside it, so no split('_').
    const { secret, token } = created.body;
    const random = secret.slice(secret.indexOf(`_${token.id}_`) + token.id.length + 2);
    expect(random).toHaveLength(43);
    expect(JSON.stringify(list.body)).not.toContain(random);
  });

  it('keeps a token within the privileges it was given', async () => {
    const created = await developer.client.post<Created>('/tokens', {
      name: 'read-only',
      privileges: [{ pattern: '*', actions: ['pull'] }],
    });
    expect(created.body.token.privileges).toEqual([{ pattern: '*', actions: ['pull'] }]);
    const creds = basicAuth(developer.name, created.body.secret);
    const push = await fetch(`${server.url}/v2/library/app/blobs/uploads/`, {
      method: 'POST',
      headers: { authorization: creds },
    });
    expect(push.status).toBe(403);
    expect(await v2Base(creds)).toBe(200);
  });

  it('authenticates the admin API with a token, but does not let a token mint tokens', async () => {
    const created = await developer.client.post<Created>('/tokens', { name: 'api' });
    const viaToken = new ApiClient(server, basicAuth(developer.name, created.body.secret));
    const me = await viaToken.get<{ user: string; accessToken: string }>('/session');
    expect(me.body).toMatchObject({ user: developer.name, accessToken: created.body.token.id });
    expect(outcomeOf(await viaToken.post('/tokens', { name: 'child' }))).toBe('403 DENIED');
  });

  it('lists only the caller’s own tokens, and refuses others’ to non-administrators', async () => {
    await viewer.client.post<Created>('/tokens', { name: 'viewer-token' });
    const own = await viewer.client.get<{ items: TokenBody[] }>('/tokens');
    expect(own.body.items.length).toBeGreaterThan(0);
    expect(own.body.items.every((t) => t.user === viewer.name)).toBe(true);
    expect(outcomeOf(await viewer.client.get('/tokens?all=true'))).toBe('403 DENIED');
    expect(outcomeOf(await viewer.client.get(`/tokens?user=${developer.name}`))).toBe('403 DENIED');
  });

  it('lets an administrator list everyone’s tokens and revoke any', async () => {
    const created = await viewer.client.post<Created>('/tokens', { name: 'to-be-revoked' });
    const all = await admin.get<{ items: TokenBody[] }>('/tokens?all=true');
    const users = new Set(all.body.items.map((t) => t.user));
    expect(users.has(viewer.name) && users.has(developer.name)).toBe(true);
    const one = await admin.get<{ items: TokenBody[] }>(`/tokens?user=${viewer.name}`);
    expect(one.body.items.every((t) => t.user === viewer.name)).toBe(true);

    expect((await admin.delete(`/tokens/${created.body.token.id}`)).status).toBe(204);
    const after = await viewer.client.get<{ items: TokenBody[] }>('/tokens');
    const revoked = after.body.items.find((t) => t.id === created.body.token.id);
    expect(revoked?.revokedAt).not.toBeNull();
    expect(await v2Base(basicAuth(viewer.name, created.body.secret))).toBe(401);
  });

  it('refuses a user revoking someone else’s token', async () => {
    const created = await developer.client.post<Created>('/tokens', { name: 'mine' });
    const res = await viewer.client.delete(`/tokens/${created.body.token.id}`);
    expect(outcomeOf(res)).toBe('403 DENIED');
    expect(await v2Base(basicAuth(developer.name, created.body.secret))).toBe(200);
  });

  it('answers 404 for an unknown token and 409 for one already revoked', async () => {
    expect(outcomeOf(await developer.client.delete('/tokens/AAAAAAAAAAAA'))).toBe('404 NOT_FOUND');
    const created = await developer.client.post<Created>('/tokens', { name: 'twice' });
    expect((await developer.client.delete(`/tokens/${created.body.token.id}`)).status).toBe(204);
    expect(outcomeOf(await developer.client.delete(`/tokens/${created.body.token.id}`))).toBe(
      '409 CONFLICT',
    );
  });

  it.each([
    ['no name', {}],
    ['an empty name', { name: '' }],
    ['a zero expiry', { name: 'x', expiresInDays: 0 }],
    ['a fractional expiry', { name: 'x', expiresInDays: 1.5 }],
    ['an unknown action', { name: 'x', privileges: [{ pattern: '*', actions: ['own'] }] }],
    ['a bad pattern', { name: 'x', privileges: [{ pattern: 'UPPER', actions: ['pull'] }] }],
  ])('answers 400 INVALID_REQUEST to a token with %s', async (_what, body) => {
    expect(outcomeOf(await developer.client.post('/tokens', body))).toBe('400 INVALID_REQUEST');
  });
});
