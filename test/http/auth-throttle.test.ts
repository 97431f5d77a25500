/**
 * Password guessing is slowed down, not turned into a lockout: after five free failures a user
 * name is blocked with 429 TOOMANYREQUESTS + Retry-After for a delay that doubles with each
 * further failure (1 s, then 2 s, …), the real user gets in again once it has passed, and a
 * success clears the count. A client address that fails too often is blocked as a whole.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.js';
import { ACTOR, addUser, basic, basicOf, codeOf, send } from './auth-helpers.js';

describe('failed logins for one user', () => {
  let server: TestServer;
  // The throttle's clock, moved by the test: delays are measured exactly, never slept through
  // (a busy machine would stretch a sleep, or the time between two requests, past a delay).
  let now = Date.now();
  beforeAll(async () => {
    server = await startServer({ auth: true, throttleClock: () => now });
    await addUser(server, 'victim', [{ role: 'viewer' }]);
    await addUser(server, 'bystander', [{ role: 'viewer' }]);
  });
  afterAll(async () => server.close());

  const wrong = basic('victim', 'not-the-password');
  const login = (authorization: string): Promise<Response> =>
    send(server, 'GET', '/v2/', authorization);

  it('are blocked with 429 and a doubling Retry-After, and the real user gets back in', async () => {
    for (let i = 1; i <= 5; i++) {
      const res = await login(wrong);
      expect(res.status, `failure ${i} is free`).toBe(401);
      await res.arrayBuffer();
    }
    // The next failures start the delay: a 429 comes by the seventh attempt at the latest.
    let blocked: Response | undefined;
    for (let attempt = 6; attempt <= 7 && !blocked; attempt++) {
      const res = await login(wrong);
      if (res.status === 429) blocked = res;
      else {
        expect(res.status).toBe(401);
        await res.arrayBuffer();
      }
    }
    expect(blocked?.status).toBe(429);
    expect(blocked?.headers.get('content-type')).toMatch(/^application\/json/);
    if (blocked) expect(await codeOf(blocked)).toBe('TOOMANYREQUESTS');
    const first = Number(blocked?.headers.get('retry-after'));
    expect(first).toBe(1);

    // While blocked even the right password waits (the guesser cannot tell), at the realm too.
    const right = await login(basicOf('victim'));
    expect(right.status).toBe(429);
    expect(Number(right.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    await right.arrayBuffer();
    const realm = await send(server, 'GET', '/v2/token?service=berth', basicOf('victim'));
    expect(realm.status).toBe(429);
    expect(realm.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await codeOf(realm)).toBe('TOOMANYREQUESTS');
    // Other users are not affected.
    expect((await login(basicOf('bystander'))).status).toBe(200);

    // One more failure after the delay doubles it.
    now += first * 1000;
    expect((await login(wrong)).status).toBe(401);
    const again = await login(wrong);
    expect(again.status).toBe(429);
    expect(Number(again.headers.get('retry-after'))).toBe(2);
    await again.arrayBuffer();

    now += 2 * 1000 - 1;
    const early = await login(basicOf('victim'));
    expect(early.status).toBe(429);
    expect(Number(early.headers.get('retry-after'))).toBe(1);
    await early.arrayBuffer();
    now += 1;
    expect((await login(basicOf('victim'))).status).toBe(200);
    // The success cleared the count: a new failure is free again.
    expect((await login(wrong)).status).toBe(401);
    expect((await login(wrong)).status).toBe(401);
  });
});

describe('failed logins from one client address', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ auth: true });
    await addUser(server, 'real-user', [{ role: 'viewer' }]);
  });
  afterAll(async () => server.close());

  it('block the address after many failures spread over many user names', async () => {
    let firstBlocked = 0;
    for (let i = 1; i <= 60 && firstBlocked === 0; i++) {
      // One failure per name: no user reaches its own limit.
      const res = await send(server, 'GET', '/v2/', basic(`guess-${i}`, 'password-guess'));
      if (res.status === 429) firstBlocked = i;
      else expect(res.status).toBe(401);
      await res.arrayBuffer();
    }
    expect(firstBlocked).toBeGreaterThan(5);
    const res = await send(server, 'GET', '/v2/', basicOf('real-user'));
    expect(res.status).toBe(429);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});

describe('refused access tokens', () => {
  let server: TestServer;
  // A clock that stands still: the delay never passes during the test.
  const now = Date.now();
  beforeAll(async () => {
    server = await startServer({ auth: true, throttleClock: () => now });
    await addUser(server, 'ci-owner', [{ role: 'viewer' }]);
  });
  afterAll(async () => server.close());

  it('count as failed logins: a stream of them gets 429s that add no audit rows, and a valid token still works', async () => {
    const { secret } = await server.app.identity.createToken(ACTOR, {
      user: 'ci-owner',
      name: 'ci',
    });
    // The same token id with another secret: found, and refused by the secret's hash.
    const forged = `${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`;
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) {
      const res = await send(server, 'GET', '/v2/', basic('ci-owner', forged));
      statuses.push(res.status);
      await res.arrayBuffer();
    }
    expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
    expect(statuses.slice(7)).toEqual([429, 429, 429, 429, 429]);

    await server.app.auth?.audit.flush();
    const failures = await server.app.identity.listAudit({ limit: 100, actor: 'ci-owner' });
    const refused = failures.items.filter((e) => e.outcome === 'failure');
    expect(refused.length).toBeGreaterThanOrEqual(5);
    expect(refused.length).toBeLessThanOrEqual(7);

    // The real token is not held back: its secret cannot be guessed, so the throttle guards
    // nothing by blocking it, and a CI job keeps working while someone tries made-up tokens.
    const real = await send(server, 'GET', '/v2/', basic('ci-owner', secret));
    expect(real.status).toBe(200);
  });
});
