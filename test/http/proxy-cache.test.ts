/**
 * Proxy namespaces over HTTP: a Berth proxy of a real CNCF Distribution (docker-registry), with a
 * fault-injecting proxy between them to make the upstream fail, hang or lie. Upstream traffic is
 * counted where it passes (the fault proxy records every request as it arrives).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startDistribution, type Distribution } from '../helpers/distribution.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import {
  OCI_INDEX,
  OCI_MANIFEST,
  descriptor,
  errorCode,
  pushBlob,
  pushImage,
  putManifest,
  randomBlob,
  sha256,
  type PushedImage,
} from '../helpers/oci.js';
import { runRetention } from '../../src/lifecycle/retention.js';
import { startServer, type TestServer } from '../helpers/server.js';

function firstLayer(image: { layers: Buffer[] }): Buffer {
  const [layer] = image.layers;
  if (!layer) throw new Error('the image has no layer');
  return layer;
}

let upstream: Distribution;
let faults: FaultProxy;
let berth: TestServer;
let image: PushedImage;
let counter = 0;

/** A repository of its own per test: nothing cached by another test can answer for it. */
function fresh(): string {
  counter += 1;
  return `team/app${String(counter)}`;
}

async function proxyNamespace(name: string, ttl = '1h'): Promise<void> {
  await berth.app.registry.namespaces.create(name, { proxy: { url: faults.url, ttl } });
}

function manifestGet(path: string): Promise<Response> {
  return fetch(`${berth.url}/v2/${path}`, { headers: { accept: `${OCI_MANIFEST}, ${OCI_INDEX}` } });
}

/** Waits until `ms` have passed since `since` (a TTL running out: the condition is the clock). */
async function until(since: number, ms: number): Promise<void> {
  while (Date.now() - since <= ms) await new Promise((r) => setTimeout(r, 50));
}

beforeAll(async () => {
  upstream = await startDistribution({ label: 'proxy-cache' });
  faults = await startFaultProxy(upstream.url);
  berth = await startServer({
    configure: (c) => {
      c.proxy.upstreamTimeout = '2s';
      c.proxy.notFoundTtl = '1h';
    },
  });
  await proxyNamespace('hub');
  image = await pushImage(upstream.url, 'team/app', 'v1', { layers: 2 });
});

beforeEach(() => faults.clear());

afterAll(async () => {
  await berth.close();
  await faults.stop();
  await upstream.stop();
});

describe('pulling through a proxy namespace', () => {
  it('fetches a tag and its blobs once, then serves them from the cache', async () => {
    const res = await manifestGet('hub/team/app/manifests/v1');
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-content-digest')).toBe(image.digest);
    expect(res.headers.get('warning')).toBeNull();
    expect(await res.text()).toBe(image.manifest);
    for (const layer of image.layers) {
      const blob = await fetch(`${berth.url}/v2/hub/team/app/blobs/${sha256(layer)}`);
      expect(blob.status).toBe(200);
      expect(blob.headers.get('content-length')).toBe(String(layer.length));
      expect(Buffer.from(await blob.arrayBuffer()).equals(layer)).toBe(true);
    }
    const again = await fetch(`${berth.url}/v2/hub/team/app/blobs/${sha256(firstLayer(image))}`);
    expect(Buffer.from(await again.arrayBuffer()).equals(firstLayer(image))).toBe(true);
    const cached = await manifestGet(`hub/team/app/manifests/${image.digest}`);
    expect(cached.status).toBe(200);
    expect(faults.count('GET', /\/blobs\//)).toBe(2);
    expect(faults.count('GET', new RegExp(`/manifests/${image.digest}`))).toBe(1);
    // Stored like any pushed content: the repository is in the catalog.
    const catalog = (await (await fetch(`${berth.url}/v2/_catalog`)).json()) as {
      repositories: string[];
    };
    expect(catalog.repositories).toContain('hub/team/app');
  });

  it('revalidates a tag with one HEAD after the TTL, never a tags list, and follows a moved tag', async () => {
    // Within the TTL (an hour in `hub`) the upstream is not asked at all.
    const steady = fresh();
    await pushImage(upstream.url, steady, 'v1');
    for (let i = 0; i < 3; i++)
      expect((await manifestGet(`hub/${steady}/manifests/v1`)).status).toBe(200);
    expect(faults.count('HEAD', new RegExp(`/v2/${steady}/manifests/`))).toBe(1);
    expect(faults.count('GET', new RegExp(`/v2/${steady}/manifests/`))).toBe(1);

    const repo = fresh();
    const first = await pushImage(upstream.url, repo, 'v1');
    await proxyNamespace('ttl', '1s');
    expect((await manifestGet(`ttl/${repo}/manifests/v1`)).status).toBe(200);
    const fetchedAt = Date.now();
    const manifests = new RegExp(`/v2/${repo}/manifests/`);
    expect(faults.count('HEAD', manifests)).toBe(1);
    expect(faults.count('GET', manifests)).toBe(1);

    await until(fetchedAt, 1000);
    const confirmed = await manifestGet(`ttl/${repo}/manifests/v1`);
    expect(confirmed.headers.get('docker-content-digest')).toBe(first.digest);
    expect(faults.count('HEAD', manifests)).toBe(2);
    expect(faults.count('GET', manifests)).toBe(1);

    const moved = await pushImage(upstream.url, repo, 'v1');
    const confirmedAt = Date.now();
    await until(confirmedAt, 1000);
    const now = await manifestGet(`ttl/${repo}/manifests/v1`);
    expect(now.headers.get('docker-content-digest')).toBe(moved.digest);
    expect(await now.text()).toBe(moved.manifest);
    expect(faults.count('HEAD', manifests)).toBe(3);
    expect(faults.count('GET', manifests)).toBe(2);
    expect(faults.count('GET', /\/tags\/list/)).toBe(0);
  });

  it('serves a cached tag stale with Warning 299 when the upstream answers 429 or 5xx, times out or is down', async () => {
    await proxyNamespace('stale', '1s');
    const faultsToTry = [
      { fault: { status: 429, headers: { 'retry-after': '60' } }, says: /429/ },
      { fault: { status: 503 }, says: /503/ },
      { fault: { hang: true as const }, says: /did not answer|timeout/i },
    ];
    for (const { fault, says } of faultsToTry) {
      faults.clear();
      const repo = fresh();
      const pushed = await pushImage(upstream.url, repo, 'v1');
      expect((await manifestGet(`stale/${repo}/manifests/v1`)).headers.get('warning')).toBeNull();
      await until(Date.now(), 1000);
      faults.inject({ path: /\/manifests\//, fault });
      const res = await manifestGet(`stale/${repo}/manifests/v1`);
      expect(res.status).toBe(200);
      expect(res.headers.get('docker-content-digest')).toBe(pushed.digest);
      expect(await res.text()).toBe(pushed.manifest);
      expect(res.headers.get('warning')).toMatch(/^299 - "/);
      expect(res.headers.get('warning')).toMatch(says);
    }
    faults.clear();
    const repo = fresh();
    const pushed = await pushImage(upstream.url, repo, 'v1');
    expect((await manifestGet(`stale/${repo}/manifests/v1`)).status).toBe(200);
    await until(Date.now(), 1000);
    faults.setDown(true);
    try {
      const down = await manifestGet(`stale/${repo}/manifests/v1`);
      expect(down.status).toBe(200);
      expect(down.headers.get('warning')).toMatch(/^299 /);
      // By digest the cache never asks.
      const byDigest = await manifestGet(`stale/${repo}/manifests/${pushed.digest}`);
      expect(byDigest.status).toBe(200);
      expect(byDigest.headers.get('warning')).toBeNull();
    } finally {
      faults.setDown(false);
    }
  }, 30_000);

  it('names the upstream failure when nothing is cached: 429 stays 429, down is a 404 saying why', async () => {
    const repo = fresh();
    await pushImage(upstream.url, repo, 'v1');
    faults.inject({
      path: /\/manifests\//,
      fault: { status: 429, headers: { 'retry-after': '30' } },
    });
    const limited = await manifestGet(`hub/${repo}/manifests/v1`);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('30');
    const body = (await limited.json()) as { errors: { code: string; message: string }[] };
    expect(body.errors[0]?.code).toBe('TOOMANYREQUESTS');
    expect(body.errors[0]?.message).toContain(faults.url);
    expect(body.errors[0]?.message).toMatch(/429/);

    faults.clear();
    faults.setDown(true);
    try {
      const down = await manifestGet(`hub/${repo}/manifests/v1`);
      // A 4xx, because clients show only a 4xx's error body to their user.
      expect(down.status).toBe(404);
      const error = (await down.json()) as { errors: { code: string; message: string }[] };
      expect(error.errors[0]?.code).toBe('MANIFEST_UNKNOWN');
      expect(error.errors[0]?.message).toMatch(/not cached and the upstream could not provide it/);
      expect(error.errors[0]?.message).toMatch(/did not answer/);
    } finally {
      faults.setDown(false);
    }
  });

  it('remembers a 404 for a while instead of asking the upstream on every try', async () => {
    const repo = fresh();
    for (let i = 0; i < 3; i++) {
      const res = await manifestGet(`hub/${repo}/manifests/missing`);
      expect(res.status).toBe(404);
      expect(await errorCode(res)).toBe('MANIFEST_UNKNOWN');
    }
    expect(faults.count('HEAD', new RegExp(`/v2/${repo}/manifests/missing`))).toBe(1);
  });

  it('refuses wrong bytes from the upstream: not served whole, not cached, fetched again after', async () => {
    const repo = fresh();
    const pushed = await pushImage(upstream.url, repo, 'v1', { layers: 1 });
    const layer = firstLayer(pushed);
    faults.inject({ path: /\/blobs\//, fault: { corrupt: true }, times: 1 });
    const bad = await fetch(`${berth.url}/v2/hub/${repo}/blobs/${sha256(layer)}`);
    const received = await bad.arrayBuffer().then(
      (b) => Buffer.from(b),
      () => null,
    );
    // The last chunk is held back until the digest checks out: a client gets a cut body.
    expect(received === null || received.length < layer.length).toBe(true);
    const good = await fetch(`${berth.url}/v2/hub/${repo}/blobs/${sha256(layer)}`);
    expect(Buffer.from(await good.arrayBuffer()).equals(layer)).toBe(true);
    expect(faults.count('GET', new RegExp(`/v2/${repo}/blobs/`))).toBe(2);

    // The tag's digest comes from a HEAD; the manifest is then fetched by that digest.
    faults.inject({ path: /\/manifests\/sha256:/, method: 'GET', fault: { corrupt: true } });
    const repo2 = fresh();
    await pushImage(upstream.url, repo2, 'v1');
    const wrong = await manifestGet(`hub/${repo2}/manifests/v1`);
    expect(wrong.status).toBe(404);
    expect(((await wrong.json()) as { errors: { message: string }[] }).errors[0]?.message).toMatch(
      /neither served nor cached/,
    );
    faults.clear();
    const right = await manifestGet(`hub/${repo2}/manifests/v1`);
    expect(right.status).toBe(200);
    expect(faults.count('GET', new RegExp(`/v2/${repo2}/manifests/sha256:`))).toBe(2);
  });

  it('fetches a blob once however many clients pull it at the same time', async () => {
    const repo = fresh();
    const big = randomBlob(8 * 1024 * 1024);
    const digest = await pushBlob(upstream.url, repo, big);
    // Slow the upstream's answer so that every puller arrives while the first fetch runs.
    faults.inject({ path: /\/blobs\//, method: 'GET', fault: { delayMs: 500 } });
    const bodies = await Promise.all(
      Array.from({ length: 8 }, async () => {
        const res = await fetch(`${berth.url}/v2/hub/${repo}/blobs/${digest}`);
        expect(res.status).toBe(200);
        return sha256(Buffer.from(await res.arrayBuffer()));
      }),
    );
    expect(new Set(bodies)).toEqual(new Set([digest]));
    expect(faults.count('GET', new RegExp(`/blobs/${digest}`))).toBe(1);
  });

  it('answers a HEAD of an uncached blob with its size and a range from the filled cache', async () => {
    const repo = fresh();
    const data = randomBlob(300_000);
    const digest = await pushBlob(upstream.url, repo, data);
    const head = await fetch(`${berth.url}/v2/hub/${repo}/blobs/${digest}`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(data.length));
    expect(faults.count('GET', new RegExp(`/blobs/${digest}`))).toBe(0);
    const ranged = await fetch(`${berth.url}/v2/hub/${repo}/blobs/${digest}`, {
      headers: { range: 'bytes=1000-1999' },
    });
    expect(ranged.status).toBe(206);
    expect(Buffer.from(await ranged.arrayBuffer()).equals(data.subarray(1000, 2000))).toBe(true);
    expect(faults.count('GET', new RegExp(`/blobs/${digest}`))).toBe(1);
  });

  it('lists tags and referrers from the upstream, and the cached tags when it is down', async () => {
    const repo = fresh();
    await pushImage(upstream.url, repo, 'a');
    await pushImage(upstream.url, repo, 'b');
    const listed = await fetch(`${berth.url}/v2/hub/${repo}/tags/list`);
    expect(((await listed.json()) as { tags: string[] }).tags.sort()).toEqual(['a', 'b']);
    expect((await manifestGet(`hub/${repo}/manifests/a`)).status).toBe(200);
    faults.setDown(true);
    try {
      const cached = await fetch(`${berth.url}/v2/hub/${repo}/tags/list`);
      expect(cached.status).toBe(200);
      expect(cached.headers.get('warning')).toMatch(/only the cached tags/);
      expect(((await cached.json()) as { tags: string[] }).tags).toEqual(['a']);
    } finally {
      faults.setDown(false);
    }
  });

  it('pulls an index and then its children by digest, each fetched when asked', async () => {
    const repo = fresh();
    const child = await pushImage(upstream.url, repo, 'child');
    const index = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [
        {
          ...descriptor(OCI_MANIFEST, child.manifest),
          platform: { os: 'linux', architecture: 'amd64' },
        },
      ],
    });
    expect((await putManifest(upstream.url, repo, 'multi', index, OCI_INDEX)).status).toBe(201);
    const res = await manifestGet(`hub/${repo}/manifests/multi`);
    expect(res.headers.get('content-type')).toBe(OCI_INDEX);
    expect(await res.text()).toBe(index);
    const childRes = await manifestGet(`hub/${repo}/manifests/${child.digest}`);
    expect(await childRes.text()).toBe(child.manifest);
  });
});

describe('writing into a proxy namespace', () => {
  it('refuses pushes with 405 UNSUPPORTED naming the upstream', async () => {
    const post = await fetch(`${berth.url}/v2/hub/team/mine/blobs/uploads/`, { method: 'POST' });
    expect(post.status).toBe(405);
    const body = (await post.json()) as { errors: { code: string; message: string }[] };
    expect(body.errors[0]?.code).toBe('UNSUPPORTED');
    expect(body.errors[0]?.message).toContain(faults.url);
    const put = await putManifest(berth.url, 'hub/team/mine', 'v1', { schemaVersion: 2 });
    expect(put.status).toBe(405);
  });

  it('deletes from the cache only: the next pull fetches again', async () => {
    const repo = fresh();
    await pushImage(upstream.url, repo, 'v1');
    expect((await manifestGet(`hub/${repo}/manifests/v1`)).status).toBe(200);
    const del = await fetch(`${berth.url}/v2/hub/${repo}/manifests/v1`, { method: 'DELETE' });
    expect(del.status).toBe(202);
    expect((await manifestGet(`hub/${repo}/manifests/v1`)).status).toBe(200);
    expect(faults.count('HEAD', new RegExp(`/v2/${repo}/manifests/v1`))).toBe(2);
    expect(
      (
        await fetch(`${upstream.url}/v2/${repo}/manifests/v1`, {
          method: 'HEAD',
          headers: { accept: OCI_MANIFEST },
        })
      ).status,
    ).toBe(200);
  });

  it('evicts by retention what was not pulled for a while; the next pull fetches it again', async () => {
    const repo = fresh();
    const pushed = await pushImage(upstream.url, repo, 'v1');
    await berth.app.registry.namespaces.create('evict', { proxy: { url: faults.url } });
    await berth.app.registry.namespaces.setPolicy('evict', { retention: { keepDays: 30 } });
    expect((await manifestGet(`evict/${repo}/manifests/v1`)).status).toBe(200);
    await berth.app.pulls.flush();
    const report = await runRetention(
      { meta: berth.app.dataDir.meta },
      { namespace: 'evict', dryRun: false, now: new Date(Date.now() + 40 * 86_400_000) },
    );
    expect(report.tags.map((t) => t.tag)).toEqual(['v1']);
    expect(report.manifests.map((m) => m.digest)).toEqual([pushed.digest]);
    const again = await manifestGet(`evict/${repo}/manifests/v1`);
    expect(again.status).toBe(200);
    expect(faults.count('GET', new RegExp(`/v2/${repo}/manifests/sha256:`))).toBe(2);
  });
});
