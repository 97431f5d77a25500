/**
 * The upstream helpers the proxy tests stand on: a real Distribution 2.8 whose access log counts
 * exactly what reached it (test/helpers/distribution.ts), and the fault proxy placed in front of
 * it (test/helpers/fault-proxy.ts), each of whose faults a client must actually see.
 */
import { existsSync } from 'node:fs';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Distribution,
  startDistribution,
  stopAllDistributions,
} from '../helpers/distribution.js';
import { type FaultProxy, startFaultProxy, stopAllFaultProxies } from '../helpers/fault-proxy.js';
import { type PushedImage, pullBlobHashed, pushImage, sha256 } from '../helpers/oci.js';

interface RawAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** Whether the whole announced body arrived. */
  complete: boolean;
}

/** A GET with node:http that reports a body cut short instead of throwing it away. */
function rawGet(url: string, headers: http.OutgoingHttpHeaders = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      // 'close' comes after 'end' or after the connection dropped mid-body ('aborted').
      res.on('close', () => {
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks),
          complete: res.complete,
        });
      });
    });
    req.on('error', reject);
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitFor(done: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const REPO = 'library/alpine';

describe('Distribution and the fault proxy as an upstream', () => {
  let upstream: Distribution;
  let proxy: FaultProxy;
  let image: PushedImage;
  let layer: Buffer;
  let layerDigest: string;
  /** The layer's path in either server: what a pull-through cache fetches. */
  let layerPath: RegExp;

  beforeAll(async () => {
    upstream = await startDistribution({ label: 'berth-upstream' });
    image = await pushImage(upstream.url, REPO, 'latest', { layers: 1 });
    layer = image.layers[0] ?? Buffer.alloc(0);
    layerDigest = sha256(layer);
    layerPath = new RegExp(`^/v2/${REPO}/blobs/${layerDigest}$`);
    proxy = await startFaultProxy(upstream.url);
  });

  afterAll(async () => {
    await stopAllFaultProxies();
    await stopAllDistributions();
  });

  it('forwards a pull unchanged, and the access log counts exactly one blob GET', async () => {
    const manifest = await rawGet(`${proxy.url}/v2/${REPO}/manifests/latest`, {
      accept: 'application/vnd.oci.image.manifest.v1+json',
    });
    expect(manifest.status).toBe(200);
    expect(manifest.body.toString()).toBe(image.manifest);
    expect(manifest.headers['docker-content-digest']).toBe(image.digest);

    const pulled = await pullBlobHashed(proxy.url, REPO, layerDigest);
    expect(pulled).toEqual({ status: 200, digest: layerDigest, size: layer.length });
    expect(proxy.count('GET', layerPath)).toBe(1);
    expect(await upstream.count('GET', layerPath)).toBe(1);
    const entries = await upstream.requests();
    expect(entries.filter((e) => layerPath.test(e.path))).toEqual([
      { method: 'GET', path: `/v2/${REPO}/blobs/${layerDigest}`, status: 200, bytes: layer.length },
    ]);
    // The helper's own readiness probes and markers are not counted.
    expect(entries.some((e) => e.path.includes('berth-test-helper'))).toBe(false);

    // A second pull is a second upstream GET: the log does not lag behind a finished request.
    await pullBlobHashed(proxy.url, REPO, layerDigest);
    expect(await upstream.count('GET', layerPath)).toBe(2);
  });

  it('counts a burst of parallel pulls exactly, once they have been read', async () => {
    const before = await upstream.count('GET', layerPath);
    const pulls = await Promise.all(
      Array.from({ length: 20 }, () => pullBlobHashed(proxy.url, REPO, layerDigest)),
    );
    expect(pulls.every((p) => p.digest === layerDigest)).toBe(true);
    expect(await upstream.count('GET', layerPath)).toBe(before + 20);
  });

  it('forwards request bodies, and leaves a Location naming the upstream as it is', async () => {
    const blob = Buffer.from('pushed through the fault proxy');
    const digest = sha256(blob);
    const post = await fetch(`${proxy.url}/v2/${REPO}/blobs/uploads/`, { method: 'POST' });
    expect(post.status).toBe(202);
    // Distribution builds it from the Host it was sent: the upstream's, as a reverse proxy sends.
    const location = new URL(post.headers.get('location') ?? '');
    expect(location.origin).toBe(upstream.url);
    const put = await fetch(
      `${proxy.url}${location.pathname}${location.search}&digest=${encodeURIComponent(digest)}`,
      { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: blob },
    );
    expect(put.status).toBe(201);
    expect(proxy.requests().at(-1)).toMatchObject({ method: 'PUT', status: 201 });
    expect(await pullBlobHashed(upstream.url, REPO, digest)).toMatchObject({ digest, size: 30 });
  });

  it('answers an injected status without forwarding, only as many times as asked', async () => {
    const before = await upstream.count('GET', layerPath);
    proxy.inject({
      method: 'GET',
      path: layerPath,
      times: 1,
      fault: { status: 429, headers: { 'retry-after': '1' }, body: 'slow down' },
    });
    const limited = await rawGet(`${proxy.url}/v2/${REPO}/blobs/${layerDigest}`);
    expect(limited.status).toBe(429);
    expect(limited.headers['retry-after']).toBe('1');
    expect(limited.body.toString()).toBe('slow down');
    expect(await upstream.count('GET', layerPath)).toBe(before);

    const next = await rawGet(`${proxy.url}/v2/${REPO}/blobs/${layerDigest}`);
    expect(next.status).toBe(200);
    expect(await upstream.count('GET', layerPath)).toBe(before + 1);
    expect(proxy.requests().slice(-2)).toEqual([
      { method: 'GET', path: `/v2/${REPO}/blobs/${layerDigest}`, status: 429, fault: 'status' },
      { method: 'GET', path: `/v2/${REPO}/blobs/${layerDigest}`, status: 200 },
    ]);
  });

  it('cuts a body after the given bytes: the client gets fewer than Content-Length', async () => {
    proxy.inject({ path: layerPath, times: 1, fault: { cutAfterBytes: 100 } });
    const cut = await rawGet(`${proxy.url}/v2/${REPO}/blobs/${layerDigest}`);
    expect(cut.status).toBe(200);
    expect(cut.headers['content-length']).toBe(String(layer.length));
    expect(cut.complete).toBe(false);
    expect(cut.body).toEqual(layer.subarray(0, 100));
  });

  it('corrupts a body: same length, another sha256', async () => {
    proxy.inject({ path: layerPath, times: 1, fault: { corrupt: true } });
    const corrupt = await pullBlobHashed(proxy.url, REPO, layerDigest);
    expect(corrupt.status).toBe(200);
    expect(corrupt.size).toBe(layer.length);
    expect(corrupt.digest).not.toBe(layerDigest);
    // Only the one request: the next is intact.
    expect((await pullBlobHashed(proxy.url, REPO, layerDigest)).digest).toBe(layerDigest);
  });

  it('holds a hanging request until clear() ends its connection', async () => {
    proxy.inject({ path: layerPath, fault: { hang: true } });
    const arrived = proxy.count('GET', layerPath) + 1;
    const hung = rawGet(`${proxy.url}/v2/${REPO}/blobs/${layerDigest}`).then(
      () => 'answered',
      (e: unknown) => (e as NodeJS.ErrnoException).code,
    );
    await waitFor(
      () => proxy.count('GET', layerPath) === arrived,
      'the request to reach the proxy',
    );
    const before = await upstream.count('GET', layerPath);
    expect(proxy.requests().at(-1)).toMatchObject({ status: 0, fault: 'hang' });
    proxy.clear();
    expect(await hung).toBe('ECONNRESET');
    expect(await upstream.count('GET', layerPath)).toBe(before);
    // clear() dropped the rule too.
    expect((await rawGet(`${proxy.url}/v2/${REPO}/blobs/${layerDigest}`)).status).toBe(200);
  });

  it('delays a request, then forwards it', async () => {
    proxy.inject({ path: layerPath, times: 1, fault: { delayMs: 300 } });
    const started = Date.now();
    const pulled = await pullBlobHashed(proxy.url, REPO, layerDigest);
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(pulled.digest).toBe(layerDigest);
  });

  it('refuses connections while down, and forwards again once up', async () => {
    proxy.setDown(true);
    await expect(fetch(`${proxy.url}/v2/`)).rejects.toThrow();
    proxy.setDown(false);
    expect((await fetch(`${proxy.url}/v2/`)).status).toBe(200);
  });

  it('passes Authorization through to an htpasswd upstream: 401 without, 200 with', async () => {
    const guarded = await startDistribution({
      label: 'berth-upstream-auth',
      auth: { users: [{ name: 'puller', password: 'pull-secret' }] },
    });
    const front = await startFaultProxy(guarded.url);
    const basic = (user: string, password: string): string =>
      `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    try {
      const challenge = await rawGet(`${front.url}/v2/`);
      expect(challenge.status).toBe(401);
      expect(challenge.headers['www-authenticate']).toBe('Basic realm="berth-test"');
      expect(
        (await rawGet(`${front.url}/v2/`, { authorization: basic('puller', 'nope') })).status,
      ).toBe(401);
      expect(
        (await rawGet(`${front.url}/v2/`, { authorization: basic('puller', 'pull-secret') }))
          .status,
      ).toBe(200);
      expect((await guarded.requests()).map((e) => e.status)).toEqual([401, 401, 200]);
    } finally {
      await front.stop();
      await guarded.stop();
    }
    expect(alive(guarded.pid)).toBe(false);
    expect(existsSync(guarded.dir)).toBe(false);
  });

  it('stop() ends the process by its PID and removes its directory', async () => {
    const extra = await startDistribution({ label: 'berth-upstream-stop' });
    expect(existsSync(`${extra.dir}/config.yml`)).toBe(true);
    await extra.stop();
    expect(alive(extra.pid)).toBe(false);
    expect(existsSync(extra.dir)).toBe(false);
  });
});
