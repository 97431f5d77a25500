/**
 * The token realm in the 401 challenge is absolute and names where clients really reach Berth:
 * the configured external URL, else what a trusted proxy forwarded, else the request.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.js';

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const forwarded = {
  'x-forwarded-proto': 'https',
  'x-forwarded-host': 'registry.example.com',
  'x-forwarded-port': '8443',
  'x-forwarded-for': '203.0.113.7',
};

async function realmOf(headers: Record<string, string> = {}): Promise<string> {
  const res = await fetch(`${server?.url ?? ''}/v2/`, { headers });
  expect(res.status).toBe(401);
  const challenge = res.headers.get('www-authenticate') ?? '';
  return /realm="([^"]+)"/.exec(challenge)?.[1] ?? '';
}

describe('token realm', () => {
  it('comes from the request when nothing else is configured, ignoring untrusted forwarded headers', async () => {
    server = await startServer({ auth: true });
    expect(await realmOf()).toBe(`${server.url}/v2/token`);
    expect(await realmOf(forwarded)).toBe(`${server.url}/v2/token`);
  });

  it('follows X-Forwarded-Proto/Host/Port from a trusted proxy', async () => {
    server = await startServer({
      auth: true,
      configure: (c) => (c.trustedProxies = ['127.0.0.1']),
    });
    expect(await realmOf(forwarded)).toBe('https://registry.example.com:8443/v2/token');
    expect(await realmOf({ ...forwarded, 'x-forwarded-port': '443' })).toBe(
      'https://registry.example.com/v2/token',
    );
    expect(await realmOf()).toBe(`${server.url}/v2/token`);
  });

  it('is the configured external URL whatever the request says', async () => {
    server = await startServer({
      auth: true,
      configure: (c) => (c.externalUrl = 'https://registry.example.com'),
    });
    expect(await realmOf()).toBe('https://registry.example.com/v2/token');
    expect(await realmOf(forwarded)).toBe('https://registry.example.com/v2/token');
  });

  it('challenges with the service and, for a repository, the scope to ask for', async () => {
    server = await startServer({ auth: true });
    const res = await fetch(`${server.url}/v2/library/app/manifests/latest`);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe(
      `Bearer realm="${server.url}/v2/token",service="berth",scope="repository:library/app:pull"`,
    );
    const body = (await res.json()) as { errors: { code: string }[] };
    expect(body.errors[0]?.code).toBe('UNAUTHORIZED');
    expect(res.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
  });
});
