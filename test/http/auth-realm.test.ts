/**
 * The realm in the 401 challenge is an absolute URL clients can reach: the configured external
 * URL, else X-Forwarded-* from a trusted proxy only, else the request's own scheme and Host.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.js';
import { parseChallenge, send } from './auth-helpers.js';

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function realmOf(s: TestServer, headers: Record<string, string> = {}): Promise<string> {
  const res = await send(s, 'GET', '/v2/', undefined, { headers });
  expect(res.status).toBe(401);
  return parseChallenge(res.headers.get('www-authenticate')).realm ?? '';
}

describe('the realm of the challenge', () => {
  it('comes from the request when nothing is configured, ignoring X-Forwarded-* of strangers', async () => {
    server = await startServer({ auth: true });
    expect(await realmOf(server)).toBe(`http://${server.host}/v2/token`);
    expect(
      await realmOf(server, {
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'evil.example',
      }),
    ).toBe(`http://${server.host}/v2/token`);
  });

  it('is the external URL when one is configured', async () => {
    server = await startServer({
      auth: true,
      configure: (c) => {
        c.externalUrl = 'https://registry.example.com:8443';
      },
    });
    expect(await realmOf(server)).toBe('https://registry.example.com:8443/v2/token');
  });

  it('follows X-Forwarded-Proto and -Host from a trusted proxy', async () => {
    server = await startServer({
      auth: true,
      configure: (c) => {
        c.trustedProxies = ['127.0.0.1', '::1'];
      },
    });
    expect(
      await realmOf(server, {
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'registry.example.com',
      }),
    ).toBe('https://registry.example.com/v2/token');
  });
});
