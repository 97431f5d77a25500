/**
 * Admin API sessions: sign-in sets a hardened cookie, changes made with it need the CSRF token,
 * sessions end on logout, on a password change and when the user is disabled; Authorization
 * headers work without CSRF but registry bearer tokens do not; nothing invites a browser login
 * dialog. With authentication off, every request acts as `admin`.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, makeTempDir, startServer, type TestServer } from '../helpers/server.js';
import {
  adminSession,
  ApiClient,
  basicAuth,
  outcomeOf,
  passwordFor,
  userSession,
  type UserBody,
} from './api-v1-helpers.js';

let server: TestServer;
let admin: ApiClient;

beforeAll(async () => {
  server = await startServer({ auth: true });
  admin = await adminSession(server);
});
afterAll(async () => server.close());

interface WhoAmI {
  user: string;
  isAdmin: boolean;
  authEnabled: boolean;
  via: string;
  roles: { role: string; namespace: string | null }[];
  privileges: { pattern: string; actions: string[] }[];
  csrfToken: string | null;
}

describe('sign-in', () => {
  it('sets an HttpOnly, SameSite=Strict, Path=/ cookie that is not Secure over plain HTTP', async () => {
    const client = new ApiClient(server);
    const res = await client.login('admin', ADMIN_PASSWORD);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ user: 'admin', isAdmin: true });
    expect(res.body['csrfToken']).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    const attributes = (client.setCookie ?? '').split(';').map((a) => a.trim().toLowerCase());
    expect(attributes[0]).toMatch(/^berth_session=[a-z0-9_-]{40,}$/);
    expect(attributes).toContain('httponly');
    expect(attributes).toContain('samesite=strict');
    expect(attributes).toContain('path=/');
    expect(attributes).not.toContain('secure');
  });

  it('marks the cookie Secure when the request came over TLS', async () => {
    const cookie = await loginOverTls(server);
    expect(
      cookie
        .toLowerCase()
        .split(';')
        .map((a) => a.trim()),
    ).toContain('secure');
  });

  it('gives each sign-in a different session id and CSRF token', async () => {
    const a = new ApiClient(server);
    const b = new ApiClient(server);
    await a.login('admin', ADMIN_PASSWORD);
    await b.login('admin', ADMIN_PASSWORD);
    expect(a.cookie).toBeDefined();
    expect(a.cookie).not.toBe(b.cookie);
    expect(a.csrfToken).not.toBe(b.csrfToken);
  });

  it('refuses a wrong password with 401 JSON and no browser login dialog', async () => {
    const client = new ApiClient(server);
    const res = await client.login('admin', 'wrong-password');
    expect(outcomeOf(res)).toBe('401 UNAUTHORIZED');
    expect(res.headers.get('www-authenticate')).toBeNull();
    expect(res.headers.get('set-cookie')).toBeNull();
    expect(JSON.stringify(res.body)).not.toContain('wrong-password');
  });

  it('refuses an access token as the password of a session sign-in', async () => {
    const created = await admin.post<{ secret: string }>('/tokens', { name: 'not-a-password' });
    expect(created.status).toBe(201);
    const res = await new ApiClient(server).login('admin', created.body.secret);
    expect(outcomeOf(res)).toBe('401 UNAUTHORIZED');
  });

  it('answers 400 INVALID_REQUEST to a sign-in without a password', async () => {
    const res = await new ApiClient(server).post('/session', { username: 'admin' });
    expect(outcomeOf(res)).toBe('400 INVALID_REQUEST');
  });
});

describe('who am I', () => {
  it('describes the signed-in user with roles, privileges and the CSRF token', async () => {
    const { name, client } = await userSession(server, admin, [
      { role: 'developer', namespace: 'library' },
    ]);
    const res = await client.get<WhoAmI>('/session');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      user: name,
      isAdmin: false,
      authEnabled: true,
      via: 'session',
      roles: [{ role: 'developer', namespace: 'library' }],
      csrfToken: client.csrfToken,
    });
    expect(res.body.privileges).toEqual([{ pattern: 'library', actions: ['pull', 'push'] }]);
  });

  it('answers 401 JSON without WWW-Authenticate when nobody is signed in', async () => {
    const res = await new ApiClient(server).get('/session');
    expect(outcomeOf(res)).toBe('401 UNAUTHORIZED');
    expect(res.headers.get('www-authenticate')).toBeNull();
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  });

  it('ignores a forged session cookie', async () => {
    const forged = new ApiClient(server);
    forged.cookie = `berth_session=${'A'.repeat(43)}`;
    expect(outcomeOf(await forged.get('/session'))).toBe('401 UNAUTHORIZED');
  });

  it('accepts Basic credentials without a session, and reports no CSRF token', async () => {
    const client = new ApiClient(server, basicAuth('admin', ADMIN_PASSWORD));
    const res = await client.get<WhoAmI>('/session');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ user: 'admin', isAdmin: true, via: 'basic', csrfToken: null });
  });

  it('refuses registry bearer tokens and bad Basic credentials with 401', async () => {
    const token = await fetch(`${server.url}/v2/token?service=berth`, {
      headers: { authorization: basicAuth('admin', ADMIN_PASSWORD) },
    }).then(async (r) => ((await r.json()) as { token: string }).token);
    expect(token).toMatch(/^ey/);
    const viaBearer = await new ApiClient(server, `Bearer ${token}`).get('/session');
    expect(outcomeOf(viaBearer)).toBe('401 UNAUTHORIZED');
    expect(viaBearer.headers.get('www-authenticate')).toBeNull();
    const badBasic = await new ApiClient(server, basicAuth('admin', 'nope-nope')).get('/session');
    expect(outcomeOf(badBasic)).toBe('401 UNAUTHORIZED');
    expect(badBasic.headers.get('www-authenticate')).toBeNull();
  });
});

describe('CSRF', () => {
  it('refuses a change made with the session cookie but without X-CSRF-Token', async () => {
    const res = await admin.post('/namespaces', { name: 'csrf-missing' }, { csrf: false });
    expect(outcomeOf(res)).toBe('403 DENIED');
    expect((await admin.get(`/namespaces/csrf-missing`)).status).toBe(404);
  });

  it('refuses a wrong X-CSRF-Token, including another session’s', async () => {
    const other = await adminSession(server);
    expect(other.csrfToken).not.toBe(admin.csrfToken);
    const wrong = await admin.post('/namespaces', { name: 'csrf-wrong' }, { csrf: 'x'.repeat(43) });
    expect(outcomeOf(wrong)).toBe('403 DENIED');
    const foreign = await admin.post(
      '/namespaces',
      { name: 'csrf-wrong' },
      { csrf: other.csrfToken ?? '' },
    );
    expect(outcomeOf(foreign)).toBe('403 DENIED');
  });

  it('accepts the change with the session’s X-CSRF-Token', async () => {
    const res = await admin.post('/namespaces', { name: 'csrf-ok' });
    expect(res.status).toBe(201);
  });

  it('needs no CSRF token for changes authenticated by an Authorization header', async () => {
    const client = new ApiClient(server, basicAuth('admin', ADMIN_PASSWORD));
    expect((await client.post('/namespaces', { name: 'csrf-basic' })).status).toBe(201);
  });

  it('needs no CSRF token to read with the session cookie', async () => {
    expect((await admin.get('/namespaces', { csrf: false })).status).toBe(200);
  });

  it('refuses form and text/plain posts (what a cross-site form can send), even with a valid token', async () => {
    const res = await admin.request('POST', '/namespaces', {
      raw: 'name=csrf-form',
      contentType: 'application/x-www-form-urlencoded',
    });
    expect(outcomeOf(res)).toBe('400 INVALID_REQUEST');
    const plain = await admin.request('POST', '/namespaces', {
      raw: '{"name":"csrf-plain"}',
      contentType: 'text/plain',
    });
    expect(outcomeOf(plain)).toBe('400 INVALID_REQUEST');
    expect((await admin.get('/namespaces/csrf-plain')).status).toBe(404);
  });
});

describe('sign-out and session end', () => {
  it('logs out: the cookie is cleared and the session no longer works', async () => {
    const client = await adminSession(server);
    const cookie = client.cookie;
    const res = await client.delete('/session');
    expect(res.status).toBe(204);
    const cleared = res.headers.getSetCookie().find((c) => c.startsWith('berth_session='));
    expect(cleared).toMatch(/^berth_session=;/);
    expect(cleared?.toLowerCase()).toMatch(/expires=thu, 01 jan 1970|max-age=0/);
    const stale = new ApiClient(server);
    stale.cookie = cookie;
    expect(outcomeOf(await stale.get('/session'))).toBe('401 UNAUTHORIZED');
  });

  it('refuses a logout without the CSRF token while the session is alive', async () => {
    const client = await adminSession(server);
    expect(outcomeOf(await client.delete('/session', { csrf: false }))).toBe('403 DENIED');
    expect((await client.get('/session')).status).toBe(200);
  });

  it('ends the other sessions of a user whose password changes, but not the one changing it', async () => {
    const { name, client } = await userSession(server, admin, [{ role: 'viewer' }]);
    const second = new ApiClient(server);
    expect((await second.login(name, passwordFor(name))).status).toBe(200);
    const res = await client.put(`/users/${name}/password`, {
      password: 'a-brand-new-password',
      currentPassword: passwordFor(name),
    });
    expect(res.status).toBe(204);
    expect((await client.get('/session')).status).toBe(200);
    expect(outcomeOf(await second.get('/session'))).toBe('401 UNAUTHORIZED');
  });

  it('ends a session when the password is changed outside the API (CLI)', async () => {
    const { name, client } = await userSession(server, admin, [{ role: 'viewer' }]);
    await server.app.identity.setPassword({ name: 'cli', client: 'local' }, name, 'from-the-cli-1');
    expect(outcomeOf(await client.get('/session'))).toBe('401 UNAUTHORIZED');
  });

  it('ends the sessions of a disabled user and refuses their sign-in', async () => {
    const { name, client } = await userSession(server, admin, [{ role: 'viewer' }]);
    const res = await admin.patch<UserBody>(`/users/${name}`, { disabled: true });
    expect(res.status).toBe(200);
    expect(res.body.disabled).toBe(true);
    expect(outcomeOf(await client.get('/session'))).toBe('401 UNAUTHORIZED');
    expect(outcomeOf(await new ApiClient(server).login(name, passwordFor(name)))).toBe(
      '401 UNAUTHORIZED',
    );
  });
});

describe('with authentication off', () => {
  let open: TestServer;
  beforeAll(async () => {
    open = await startServer({ auth: false });
  });
  afterAll(async () => open.close());

  it('acts as the administrator admin for every request, with no credentials or CSRF token', async () => {
    const client = new ApiClient(open);
    const me = await client.get<WhoAmI>('/session');
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ user: 'admin', isAdmin: true, authEnabled: false });
    expect((await client.post('/namespaces', { name: 'open-ns' })).status).toBe(201);
    const audit = await client.get<{ items: { actor: string; action: string }[] }>(
      '/audit?action=namespace.create',
    );
    expect(audit.body.items[0]).toMatchObject({ actor: 'admin', action: 'namespace.create' });
  });
});

/**
 * Signs in over a real TLS connection: a throwaway certificate, an HTTPS listener on 127.0.0.1
 * that hands requests to the same application, and the Set-Cookie header it answers with.
 */
async function loginOverTls(target: TestServer): Promise<string> {
  const dir = await makeTempDir('berth-tls-');
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ],
    { stdio: 'ignore' },
  );
  const ca = readFileSync(cert);
  const listener = https.createServer({ key: readFileSync(key), cert: ca }, (req, res) =>
    target.app.server.routing(req, res),
  );
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = listener.address() as AddressInfo;
    const body = JSON.stringify({ username: 'admin', password: ADMIN_PASSWORD });
    return await new Promise<string>((resolve, reject) => {
      const req = https.request(
        {
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: '/api/v1/session',
          ca,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
          },
        },
        (res) => {
          res.resume();
          if (res.statusCode !== 200) reject(new Error(`sign-in over TLS: ${res.statusCode}`));
          else resolve((res.headers['set-cookie'] ?? []).join('\n'));
        },
      );
      req.once('error', reject);
      req.end(body);
    });
  } finally {
    listener.closeAllConnections();
    await new Promise<void>((resolve) => listener.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  }
}
