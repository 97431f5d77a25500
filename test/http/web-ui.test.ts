/**
 * Serving the web UI's build: the SPA shell for browser navigations (deep links included) under a
 * strict CSP, hashed assets cached for a year and gzipped on request, nothing outside the build
 * reachable, and /v2 and /api keeping their own 404s.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, startServer, type TestServer } from '../helpers/server.js';

const INDEX =
  '<!doctype html><title>Berth</title><script type="module" src="/assets/app-1a2b3c.js"></script>';
const SCRIPT = `console.log(${JSON.stringify('x'.repeat(4000))});`;
const HTML = { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' };

let server: TestServer;
let bare: TestServer;

beforeAll(async () => {
  const root = await makeTempDir('berth-web-');
  await mkdir(path.join(root, 'assets', 'nested'), { recursive: true });
  await writeFile(path.join(root, 'index.html'), INDEX);
  await writeFile(path.join(root, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
  await writeFile(path.join(root, 'assets', 'app-1a2b3c.js'), SCRIPT);
  await writeFile(path.join(root, 'assets', 'nested', 'deep.js'), 'deep');
  await writeFile(path.join(root, 'secret.key'), 'not served');
  server = await startServer({ webRoot: root });
  bare = await startServer({ webRoot: await makeTempDir('berth-noweb-') });
});
afterAll(async () => {
  await server.close();
  await bare.close();
});

/** A request with the path sent exactly as written (fetch would normalise `..`). */
function rawGet(
  base: string,
  rawPath: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: url.hostname, port: url.port, path: rawPath, headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('the SPA shell', () => {
  it('answers browser navigations, deep links included, with index.html under a strict CSP', async () => {
    for (const url of [
      '/',
      '/repositories/library%2Fnginx/-/manifests/sha256:ab',
      '/admin/users?x=1',
    ]) {
      const res = await fetch(`${server.url}${url}`, { headers: HTML });
      expect(res.status).toBe(200);
      expect(await res.text()).toBe(INDEX);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      expect(res.headers.get('cache-control')).toBe('no-cache');
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toContain('unsafe-inline');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    }
  });

  it('leaves /v2, /api and non-browser clients their JSON 404s', async () => {
    const v2 = await fetch(`${server.url}/v2/nope/x/y/z`, { headers: HTML });
    expect(v2.headers.get('content-type')).toMatch(/json/);
    expect(v2.status).toBeGreaterThanOrEqual(400);
    const api = await fetch(`${server.url}/api/v1/nope`, { headers: HTML });
    expect(api.status).toBe(404);
    expect(((await api.json()) as { errors: { code: string }[] }).errors[0]?.code).toBe(
      'NOT_FOUND',
    );
    const curl = await fetch(`${server.url}/somewhere`, { headers: { accept: '*/*' } });
    expect(curl.status).toBe(404);
    expect(curl.headers.get('content-type')).toMatch(/json/);
    const post = await fetch(`${server.url}/`, { method: 'POST', headers: HTML });
    expect(post.status).toBe(404);
  });

  it('serves no shell when the UI is not built', async () => {
    const res = await fetch(`${bare.url}/`, { headers: HTML });
    expect(res.status).toBe(404);
  });
});

describe('assets', () => {
  it('serves hashed assets with a year-long immutable cache, gzipped when asked', async () => {
    const plain = await rawGet(server.url, '/assets/app-1a2b3c.js');
    expect(plain.status).toBe(200);
    expect(plain.body.toString()).toBe(SCRIPT);
    expect(plain.headers['content-type']).toMatch(/^text\/javascript/);
    expect(plain.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(plain.headers['content-encoding']).toBeUndefined();

    const zipped = await rawGet(server.url, '/assets/app-1a2b3c.js', {
      'accept-encoding': 'gzip, deflate, br',
    });
    expect(zipped.headers['content-encoding']).toBe('gzip');
    expect(zipped.body.length).toBeLessThan(SCRIPT.length / 10);
    expect(gunzipSync(zipped.body).toString()).toBe(SCRIPT);

    const icon = await rawGet(server.url, '/favicon.svg');
    expect(icon.status).toBe(200);
    expect(icon.headers['content-type']).toBe('image/svg+xml');
  });

  it('reaches nothing outside the build table', async () => {
    for (const raw of [
      '/assets/../secret.key',
      '/assets/..%2fsecret.key',
      '/assets/%2e%2e/%2e%2e/package.json',
      '/assets/nested/deep.js',
      '/assets/missing.js',
      '/secret.key',
      '/index.html/../secret.key',
    ]) {
      const res = await rawGet(server.url, raw, { accept: 'application/json' });
      expect(res.status, raw).toBe(404);
      expect(res.body.toString(), raw).not.toContain('not served');
    }
  });
});
