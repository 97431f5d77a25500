/**
 * Two replicas on one PostgreSQL database, as behind a round-robin load balancer (issue 17): a
 * web UI session opened on one works on the other (reads and CSRF-protected changes), a logout on
 * either ends it on both, and it survives a replica's restart; failed logins spread over both
 * replicas hit the throttle as if one replica had them all.
 */
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { createTestDatabase } from '../helpers/postgres.js';
import { ADMIN_PASSWORD, startServer, type TestServer } from '../helpers/server.js';
import { ApiClient } from './api-v1-helpers.js';
import { addUser, basic, basicOf, codeOf, send } from './auth-helpers.js';

let database: { url: string; drop(): Promise<void> };
let a: TestServer;
let b: TestServer;
// Both replicas' throttle clock, moved by the test (never slept through), as if their clocks
// were in sync.
let now = Date.now();

/** A replica with its own data directory on the shared database. */
const replica = (): Promise<TestServer> =>
  startServer({
    auth: true,
    throttleClock: () => now,
    configure: (config) => {
      config.meta = database.url;
    },
  });

beforeAll(async () => {
  database = await createTestDatabase(inject('postgresUrl'), 'replicas');
  a = await replica();
  b = await replica();
});
afterAll(async () => {
  await a.close();
  await b.close();
  await database.drop();
});

/** The same browser (cookie and CSRF token) talking to another replica. */
function sameBrowserOn(server: TestServer, client: ApiClient): ApiClient {
  const other = new ApiClient(server);
  other.cookie = client.cookie;
  other.csrfToken = client.csrfToken;
  return other;
}

describe('a web UI session', () => {
  it('opened on one replica works on the other, and a logout there ends it on both', async () => {
    const onA = new ApiClient(a);
    expect((await onA.login('admin', ADMIN_PASSWORD)).status).toBe(200);
    const onB = sameBrowserOn(b, onA);

    const who = await onB.get<{ user: string; via: string; csrfToken: string }>('/session');
    expect(who.status).toBe(200);
    expect(who.body).toMatchObject({ user: 'admin', via: 'session', csrfToken: onA.csrfToken });
    // A change on B: refused without the session's CSRF token, made with it.
    const forged = await onB.post('/namespaces', { name: 'from-b' }, { csrf: false });
    expect(forged.status).toBe(403);
    const made = await onB.post('/namespaces', { name: 'from-b' });
    expect(made.status).toBe(201);
    expect((await onA.get<{ name: string }>('/namespaces/from-b')).body.name).toBe('from-b');

    expect((await onB.delete('/session')).status).toBe(204);
    expect((await onA.get('/session')).status).toBe(401);
    expect((await onB.get('/session')).status).toBe(401);
  });

  it('survives a replica’s restart', async () => {
    const onA = new ApiClient(a);
    expect((await onA.login('admin', ADMIN_PASSWORD)).status).toBe(200);
    await a.close();
    a = await replica();
    const again = sameBrowserOn(a, onA);
    const who = await again.get<{ user: string }>('/session');
    expect(who.status).toBe(200);
    expect(who.body.user).toBe('admin');
    expect((await again.post('/namespaces', { name: 'after-restart' })).status).toBe(201);
    expect((await again.delete('/session')).status).toBe(204);
  });
});

describe('failed logins spread over both replicas', () => {
  it('are throttled as if one replica got them all, and a success on either clears them', async () => {
    await addUser(a, 'victim', [{ role: 'viewer' }]);
    const wrong = basic('victim', 'not-the-password');
    const replicas = [a, b];
    // Five free failures, alternating: neither replica alone saw more than three.
    for (let i = 0; i < 5; i++) {
      const res = await send(replicas[i % 2] ?? a, 'GET', '/v2/', wrong);
      expect(res.status, `failure ${String(i + 1)} is free`).toBe(401);
      await res.arrayBuffer();
    }
    // The sixth failure (on B) starts the 1 s delay, which A then applies.
    const sixth = await send(b, 'GET', '/v2/', wrong);
    expect(sixth.status).toBe(401);
    await sixth.arrayBuffer();
    const blocked = await send(a, 'GET', '/v2/', basicOf('victim'));
    expect(blocked.status).toBe(429);
    expect(blocked.headers.get('retry-after')).toBe('1');
    expect(await codeOf(blocked)).toBe('TOOMANYREQUESTS');

    // Once the delay has passed, the right password on B gets in and clears the count for A.
    now += 1_000;
    const right = await send(b, 'GET', '/v2/', basicOf('victim'));
    expect(right.status).toBe(200);
    await right.arrayBuffer();
    for (let i = 0; i < 5; i++) {
      const res = await send(a, 'GET', '/v2/', wrong);
      expect(res.status, `failure ${String(i + 1)} after the success is free`).toBe(401);
      await res.arrayBuffer();
    }
  });
});
