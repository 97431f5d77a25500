/**
 * The server log says who and from where: every request line carries the user (`anonymous`, a
 * user name, or an access token's owner and id) and the client address, the forwarded one only
 * when the peer is a trusted proxy (then the right-most X-Forwarded-For address it did not add);
 * every refused login is logged with the user name tried and the address, never the secret.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, startServer, type TestServer } from '../helpers/server.js';
import { ACTOR, addUser, basic, basicOf, passwordOf, postToken, send } from './auth-helpers.js';

type LogLine = Record<string, unknown>;

/** A pino destination that keeps the JSON lines and lets a test wait for one. */
class LogCapture {
  readonly lines: LogLine[] = [];
  text = '';
  private readonly waiters = new Set<() => void>();

  write(chunk: string): void {
    this.text += chunk;
    for (const line of chunk.split('\n'))
      if (line !== '') this.lines.push(JSON.parse(line) as LogLine);
    for (const check of [...this.waiters]) check();
  }

  /** The first line matching `fields`, as soon as it arrives (pino writes after the response). */
  waitFor(fields: LogLine, timeoutMs = 15_000): Promise<LogLine> {
    const matches = (line: LogLine): boolean =>
      Object.entries(fields).every(([k, v]) => line[k] === v);
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const found = this.lines.find(matches);
        if (!found) return;
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve(found);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`no log line with ${JSON.stringify(fields)} in:\n${this.text}`));
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }
}

let requests = 0;
/** A request id of its own, to find the request's log lines. */
const nextId = (): string => `log-test-${++requests}`;

const LOOPBACK = '127.0.0.1';

describe('behind no trusted proxy', () => {
  const log = new LogCapture();
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ auth: true, logStream: log });
    await addUser(server, 'logged-dev', [{ role: 'developer' }]);
  });
  afterAll(async () => server.close());

  it('a request line names the user and the client address', async () => {
    const id = nextId();
    const res = await send(server, 'GET', '/v2/', basicOf('logged-dev'), {
      headers: { 'x-request-id': id },
    });
    expect(res.status).toBe(200);
    const line = await log.waitFor({ reqId: id, msg: 'request' });
    expect(line).toMatchObject({
      method: 'GET',
      url: '/v2/',
      status: 200,
      user: 'logged-dev',
      client: LOOPBACK,
    });
    expect(line['token']).toBeUndefined();
  });

  it('an unauthenticated request is anonymous', async () => {
    const id = nextId();
    const res = await send(server, 'GET', '/v2/', undefined, { headers: { 'x-request-id': id } });
    expect(res.status).toBe(401);
    const line = await log.waitFor({ reqId: id, msg: 'request' });
    expect(line).toMatchObject({ status: 401, user: 'anonymous', client: LOOPBACK });
  });

  it('an access token’s request names its owner and the token id', async () => {
    await addUser(server, 'logged-robot', [{ role: 'developer' }]);
    const { token, secret } = await server.app.identity.createToken(ACTOR, {
      user: 'logged-robot',
      name: 'ci',
    });
    const id = nextId();
    const res = await send(server, 'GET', '/v2/', basic('logged-robot', secret), {
      headers: { 'x-request-id': id },
    });
    expect(res.status).toBe(200);
    expect(await log.waitFor({ reqId: id, msg: 'request' })).toMatchObject({
      user: 'logged-robot',
      token: token.id,
      client: LOOPBACK,
    });
  });

  it('a session’s admin API request and a token from the realm name the user', async () => {
    const id = nextId();
    const res = await send(server, 'GET', '/api/v1/session', basicOf('logged-dev'), {
      headers: { 'x-request-id': id },
    });
    expect(res.status).toBe(200);
    expect(await log.waitFor({ reqId: id, msg: 'request' })).toMatchObject({
      user: 'logged-dev',
      client: LOOPBACK,
    });
    const realm = nextId();
    const token = await send(server, 'GET', '/v2/token?service=berth', basicOf('logged-dev'), {
      headers: { 'x-request-id': realm },
    });
    expect(token.status).toBe(200);
    expect(await log.waitFor({ reqId: realm, msg: 'request' })).toMatchObject({
      user: 'logged-dev',
    });
  });

  it('ignores X-Forwarded-For from a peer that is not a trusted proxy', async () => {
    const id = nextId();
    const res = await send(server, 'GET', '/v2/', basicOf('logged-dev'), {
      headers: { 'x-request-id': id, 'x-forwarded-for': '203.0.113.7' },
    });
    expect(res.status).toBe(200);
    const line = await log.waitFor({ reqId: id, msg: 'request' });
    expect(line['client']).toBe(LOOPBACK);
  });

  it('logs each refused login with the user name tried and the address, never the secret', async () => {
    const guess = 'a-guessed-password-9';
    const attempts: { name: string; send: (id: string) => Promise<Response> }[] = [
      {
        name: 'basic-on-v2',
        send: (id) =>
          send(server, 'GET', '/v2/', basic('basic-on-v2', guess), {
            headers: { 'x-request-id': id },
          }),
      },
      {
        name: 'realm-get',
        send: (id) =>
          send(server, 'GET', '/v2/token?service=berth', basic('realm-get', guess), {
            headers: { 'x-request-id': id },
          }),
      },
      {
        name: 'realm-post',
        send: (id) =>
          fetch(`${server.url}/v2/token`, {
            method: 'POST',
            headers: {
              'content-type': 'application/x-www-form-urlencoded',
              'x-request-id': id,
            },
            body: new URLSearchParams({
              grant_type: 'password',
              service: 'berth',
              username: 'realm-post',
              password: guess,
            }).toString(),
          }),
      },
      {
        name: 'ui-login',
        send: (id) =>
          send(server, 'POST', '/api/v1/session', undefined, {
            body: JSON.stringify({ username: 'ui-login', password: guess }),
            headers: { 'content-type': 'application/json', 'x-request-id': id },
          }),
      },
      {
        name: 'api-basic',
        send: (id) =>
          send(server, 'GET', '/api/v1/session', basic('api-basic', guess), {
            headers: { 'x-request-id': id },
          }),
      },
      {
        // A real user with a wrong password, not just an unknown name.
        name: 'logged-dev',
        send: (id) =>
          send(server, 'GET', '/v2/', basic('logged-dev', `${passwordOf('logged-dev')}x`), {
            headers: { 'x-request-id': id },
          }),
      },
    ];
    for (const attempt of attempts) {
      const id = nextId();
      const res = await attempt.send(id);
      expect(res.status, attempt.name).toBe(401);
      const failed = await log.waitFor({ reqId: id, msg: 'login failed' });
      expect(failed, attempt.name).toMatchObject({ user: attempt.name, client: LOOPBACK });
      expect(failed['level'], attempt.name).toBe(40);
      expect(typeof failed['reason']).toBe('string');
    }
    const refused = await postToken(server, {
      grant_type: 'refresh_token',
      service: 'berth',
      refresh_token: `berth_rt_AAAAAAAAAAAA_${'B'.repeat(43)}`,
    });
    expect(refused.status).toBe(401);
    expect(await log.waitFor({ msg: 'login failed', target: 'refresh_token' })).toMatchObject({
      client: LOOPBACK,
    });
    expect(log.text).not.toContain(guess);
    expect(log.text).not.toContain(Buffer.from(`basic-on-v2:${guess}`).toString('base64'));
  });

  it('logs an access token sent with another user name, without the secret', async () => {
    await addUser(server, 'token-owner', [{ role: 'developer' }]);
    const { token, secret } = await server.app.identity.createToken(ACTOR, {
      user: 'token-owner',
      name: 'ci',
    });
    const id = nextId();
    const res = await send(server, 'GET', '/v2/', basic('nobody', secret), {
      headers: { 'x-request-id': id },
    });
    expect(res.status).toBe(401);
    expect(await log.waitFor({ reqId: id, msg: 'login failed' })).toMatchObject({
      user: 'nobody',
      target: `token:${token.id}`,
      client: LOOPBACK,
    });
    expect(log.text).not.toContain(secret);
  });
});

describe('behind a trusted proxy', () => {
  const log = new LogCapture();
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({
      auth: true,
      logStream: log,
      // The peer (this test) and a second proxy hop in front of it.
      configure: (config) => (config.trustedProxies = ['127.0.0.1', '198.51.100.0/24']),
    });
  });
  afterAll(async () => server.close());

  it('logs the right-most forwarded address that is not a trusted proxy', async () => {
    const cases = [
      { forwarded: '203.0.113.7', client: '203.0.113.7' },
      // A second trusted hop is skipped; what the client itself claims (left) is not believed.
      { forwarded: '10.9.9.9, 203.0.113.8, 198.51.100.2', client: '203.0.113.8' },
    ];
    for (const c of cases) {
      const id = nextId();
      const res = await send(server, 'GET', '/v2/', basic('admin', ADMIN_PASSWORD), {
        headers: { 'x-request-id': id, 'x-forwarded-for': c.forwarded },
      });
      expect(res.status).toBe(200);
      expect(await log.waitFor({ reqId: id, msg: 'request' })).toMatchObject({
        user: 'admin',
        client: c.client,
      });
    }
  });

  it('logs a refused login with the forwarded address', async () => {
    const id = nextId();
    const res = await send(server, 'GET', '/v2/', basic('admin', 'not-the-password'), {
      headers: { 'x-request-id': id, 'x-forwarded-for': '203.0.113.9' },
    });
    expect(res.status).toBe(401);
    expect(await log.waitFor({ reqId: id, msg: 'login failed' })).toMatchObject({
      user: 'admin',
      client: '203.0.113.9',
    });
    expect(await log.waitFor({ reqId: id, msg: 'request' })).toMatchObject({
      status: 401,
      client: '203.0.113.9',
    });
  });
});
