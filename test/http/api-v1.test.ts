/**
 * The admin API as a whole: the OpenAPI document describes exactly the routes the server has,
 * the system summary holds no secret, and the audit log records every change with who, what and
 * from where, with filters and paging.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, ROOT, startServer, type TestServer } from '../helpers/server.js';
import {
  adminSession,
  ApiClient,
  outcomeOf,
  passwordFor,
  userSession,
  type AuditBody,
} from './api-v1-helpers.js';

let server: TestServer;
let admin: ApiClient;

beforeAll(async () => {
  server = await startServer({ auth: true });
  admin = await adminSession(server);
});
afterAll(async () => server.close());

interface OpenApiDoc {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<
    string,
    Record<
      string,
      {
        operationId: string;
        security: unknown[];
        parameters?: { name: string; in: string }[];
        requestBody?: { content: Record<string, { schema: { type?: string } }> };
        responses: Record<string, unknown>;
      }
    >
  >;
}

/** `METHOD /path` of every route under /api/v1, read from Fastify's own router. */
function registeredRoutes(): string[] {
  const tree = server.app.server.printRoutes({ commonPrefix: false });
  const stack: string[] = [];
  const routes: string[] = [];
  for (const line of tree.split('\n')) {
    const m = /^((?:│ {3}| {4})*)[├└]── (\S+) \(([^)]+)\)$/.exec(line);
    if (!m?.[2] || m[3] === undefined) continue;
    const depth = (m[1] ?? '').length / 4;
    stack.length = depth;
    stack.push(m[2]);
    const path = stack.join('');
    if (!path.startsWith('/api/v1/')) continue;
    for (const method of m[3].split(', ')) routes.push(`${method} ${path}`);
  }
  return routes.sort();
}

describe('OpenAPI document', () => {
  it('is served without credentials as OpenAPI 3.1 JSON', async () => {
    const res = await new ApiClient(server).get<OpenApiDoc>('/openapi.json');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.body.openapi).toBe('3.1.0');
    expect(res.body.info.version).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('lists every registered route, and nothing else', async () => {
    const doc = (await admin.get<OpenApiDoc>('/openapi.json')).body;
    const documented = Object.entries(doc.paths)
      .flatMap(([path, ops]) =>
        Object.keys(ops).map((m) => `${m.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`),
      )
      .sort();
    const registered = registeredRoutes();
    expect(registered.length).toBeGreaterThan(20);
    expect(documented).toEqual(registered);
  });

  it('describes bodies, path parameters and security for each operation', async () => {
    const doc = (await admin.get<OpenApiDoc>('/openapi.json')).body;
    const operationIds = new Set<string>();
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        operationIds.add(op.operationId);
        const pathParams = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
        const declared = (op.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name);
        expect(declared, `${method} ${path}`).toEqual(pathParams);
        if (method === 'post' || method === 'put' || method === 'patch') {
          // A command without a body (POST /gc, POST /retention) takes its options in the query.
          if (op.requestBody === undefined) {
            const query = (op.parameters ?? []).filter((p) => p.in === 'query');
            expect(query.length, `${method} ${path}`).toBeGreaterThan(0);
          } else {
            expect(op.requestBody.content['application/json']?.schema.type).toBe('object');
          }
        }
        expect(Object.keys(op.responses)).toContain('4XX');
      }
    }
    expect(operationIds.size).toBe(registeredRoutes().length);
    const users = doc.paths['/api/v1/users']?.['get'];
    expect(users?.security).toEqual([{ basic: [] }, { session: [] }]);
    expect(doc.paths['/api/v1/session']?.['post']?.security).toEqual([]);
  });
});

describe('system', () => {
  it('summarises version, storage, auth and registry settings for any signed-in user', async () => {
    const { client } = await userSession(server, admin, [{ role: 'viewer' }]);
    const res = await client.get<Record<string, unknown>>('/system');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      storage: { backend: 'filesystem' },
      auth: { enabled: true, service: 'berth', tokenTtlSeconds: 300 },
      externalUrl: null,
      registry: { defaultNamespace: 'library', verifyManifestReferences: true },
    });
    expect(res.body['version']).toBe(packageVersion());
    const text = JSON.stringify(res.body);
    expect(text).not.toContain(ADMIN_PASSWORD);
    expect(text).not.toMatch(/private|secret|password|"d":/i);
  });
});

describe('audit log', () => {
  it('records user, role-binding, role and token changes with actor and client', async () => {
    const { name } = await userSession(server, admin, [{ role: 'viewer' }], 'audited');
    expect((await admin.post(`/users/${name}/roles`, { role: 'developer' })).status).toBe(200);
    expect((await admin.delete(`/users/${name}/roles/developer`)).status).toBe(200);
    expect((await admin.patch(`/users/${name}`, { disabled: true })).status).toBe(200);
    expect((await admin.put(`/users/${name}/password`, { password: 'another-one-1' })).status).toBe(
      204,
    );
    expect(
      (
        await admin.post('/roles', {
          name: 'audited-role',
          privileges: [{ pattern: '*', actions: ['pull'] }],
        })
      ).status,
    ).toBe(201);
    const token = await admin.post<{ token: { id: string } }>('/tokens', { name: 'audited' });
    expect((await admin.delete(`/tokens/${token.body.token.id}`)).status).toBe(204);
    expect((await admin.delete(`/users/${name}`)).status).toBe(204);

    const res = await admin.get<{ items: AuditBody[] }>('/audit?actor=admin&limit=50');
    expect(res.status).toBe(200);
    const seen = res.body.items.map((e) => `${e.action} ${e.target}`);
    for (const expected of [
      `user.create ${name}`,
      `role.bind ${name}`,
      `role.unbind ${name}`,
      `user.disable ${name}`,
      `user.password ${name}`,
      `role.put audited-role`,
      `token.create admin/${token.body.token.id}`,
      `token.revoke admin/${token.body.token.id}`,
      `user.delete ${name}`,
    ]) {
      expect(seen).toContain(expected);
    }
    expect(res.body.items.every((e) => e.actor === 'admin' && e.client === '127.0.0.1')).toBe(true);
    // Newest first.
    const ids = res.body.items.map((e) => e.id);
    expect(ids).toEqual([...ids].sort((a, b) => b - a));
    expect(JSON.stringify(res.body)).not.toContain('another-one-1');
    expect(JSON.stringify(res.body)).not.toContain(passwordFor(name));
  });

  it('records failed and successful sign-ins and logouts', async () => {
    const failed = await new ApiClient(server).login('admin', 'not-the-password');
    expect(failed.status).toBe(401);
    const client = await adminSession(server);
    expect((await client.delete('/session')).status).toBe(204);
    const logins = await admin.get<{ items: AuditBody[] }>('/audit?action=login&limit=20');
    const outcomes = logins.body.items.map((e) => e.outcome);
    expect(outcomes).toContain('failure');
    expect(outcomes).toContain('success');
    const logouts = await admin.get<{ items: AuditBody[] }>('/audit?action=logout');
    expect(logouts.body.items[0]).toMatchObject({ actor: 'admin', target: 'admin' });
  });

  it('pages backwards with before/nextBefore and filters by time', async () => {
    const first = await admin.get<{ items: AuditBody[]; more: boolean; nextBefore: number | null }>(
      '/audit?limit=2',
    );
    expect(first.body.items).toHaveLength(2);
    expect(first.body.more).toBe(true);
    expect(first.body.nextBefore).toBe(first.body.items[1]?.id);
    const second = await admin.get<{ items: AuditBody[] }>(
      `/audit?limit=2&before=${first.body.nextBefore ?? 0}`,
    );
    expect(second.body.items[0]?.id).toBeLessThan(first.body.nextBefore ?? 0);

    const future = new Date(Date.now() + 3600_000).toISOString();
    const none = await admin.get<{ items: AuditBody[]; nextBefore: number | null }>(
      `/audit?since=${encodeURIComponent(future)}`,
    );
    expect(none.body.items).toEqual([]);
    expect(none.body.nextBefore).toBeNull();
    const past = new Date(Date.now() - 3600_000).toISOString();
    const some = await admin.get<{ items: AuditBody[] }>(
      `/audit?since=${encodeURIComponent(past)}`,
    );
    expect(some.body.items.length).toBeGreaterThan(0);
  });

  it.each(['limit=0', 'limit=5000', 'limit=abc', 'before=-1', 'since=yesterday'])(
    'answers 400 INVALID_REQUEST to ?%s',
    async (query) => {
      expect(outcomeOf(await admin.get(`/audit?${query}`))).toBe('400 INVALID_REQUEST');
    },
  );
});

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}
