/**
 * Route schemas compile on first use (src/http/lazy-schemas.ts). These tests make sure that
 * laziness hides nothing: every schema of every route compiles, validation still answers with
 * its error, and a response is still shaped by its serializer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compilePendingSchemas } from '../../src/http/lazy-schemas.js';
import { ADMIN_PASSWORD, startServer, type TestServer } from '../helpers/server.js';

let server: TestServer;

beforeAll(async () => {
  server = await startServer({ auth: true });
});
afterAll(async () => server.close());

async function signIn(): Promise<string> {
  const res = await fetch(`${server.url}/api/v1/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password: ADMIN_PASSWORD }),
  });
  expect(res.status).toBe(200);
  const cookie = res.headers.get('set-cookie') ?? '';
  return cookie.split(';')[0] ?? '';
}

describe('lazy route schemas', () => {
  it('compiles a route schema on its first request, not at start', async () => {
    const fastify = server.app.server;
    // Start compiled nothing; the sign-in below compiles its own body validator and serializer.
    const cookie = await signIn();
    const res = await fetch(`${server.url}/api/v1/users`, { headers: { cookie } });
    expect(res.status).toBe(200);
    // Everything the two requests did not touch is still pending: dozens of admin API routes.
    expect(compilePendingSchemas(fastify)).toBeGreaterThan(40);
    // …and after that, nothing is.
    expect(compilePendingSchemas(fastify)).toBe(0);
  });

  it('still rejects a bad body with the validator’s message', async () => {
    const res = await fetch(`${server.url}/api/v1/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin' }),
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { errors: { code: string; message: string }[] };
    expect(body.errors[0]?.message).toMatch(/password/);
  });
});
