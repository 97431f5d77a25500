/**
 * Pulls answered with a presigned-URL redirect (`redirect=true` on the S3 storage URL): a blob GET
 * is a 307 to the store, after the usual authorization and link check; the URL serves exactly the
 * blob (a Range too) to a client holding no Berth credentials and stops working when it expires;
 * HEAD, If-Range requests and a blob whose bytes are gone stay with Berth; the log never holds
 * the signature; skopeo pulls through the redirect. Without the flag, pulls stream as before.
 */
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDigest } from '../../src/core/digest.js';
import { blobKey } from '../../src/registry/layout.js';
import { createS3Driver, parseS3Url, type S3Driver } from '../../src/storage/s3/driver.js';
import { clientSandbox } from '../e2e/client-sandbox.js';
import { runOk } from '../e2e/images.js';
import { pushBlob, pushImage, randomBlob, sha256 } from '../helpers/oci.js';
import { createTestBucket, removeBucket, s3Client, s3Env, type TestBucket } from '../helpers/s3.js';
import { ADMIN_PASSWORD, makeTempDir, startServer, type TestServer } from '../helpers/server.js';

let bucket: TestBucket;
const servers: TestServer[] = [];
const drivers: S3Driver[] = [];
let log = '';

beforeAll(async () => {
  // The server reads its S3 keys from the AWS default chain, as `berth serve` does.
  Object.assign(process.env, s3Env());
  bucket = await createTestBucket();
});
afterAll(async () => {
  for (const server of servers) await server.close();
  for (const driver of drivers) driver.destroy();
  await removeBucket(bucket.name);
});

async function serve(
  prefix: string,
  options: { redirect: boolean; auth?: boolean },
): Promise<TestServer> {
  const server = await startServer({
    auth: options.auth ?? false,
    logStream: { write: (chunk: string) => void (log += chunk) },
    configure: (c) => {
      c.storage = `${bucket.storageUrl(prefix)}${options.redirect ? '&redirect=true' : ''}`;
    },
  });
  servers.push(server);
  await server.app.registry.namespaces.create('team');
  return server;
}

const hashOf = (data: ArrayBuffer): string =>
  `sha256:${createHash('sha256').update(Buffer.from(data)).digest('hex')}`;

/** Polls until `check` holds; fails with `what` after the deadline. */
async function until(what: string, check: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('with redirect=true', () => {
  let server: TestServer;
  const blob = randomBlob(3 * 1024 * 1024 + 17);
  let digest = '';
  let blobUrl = '';

  beforeAll(async () => {
    server = await serve('on', { redirect: true });
    digest = await pushBlob(server.url, 'team/app', blob);
    blobUrl = `${server.url}/v2/team/app/blobs/${digest}`;
  });

  it('answers a blob GET with a 307 to a short-lived URL that serves the blob without Berth', async () => {
    const res = await fetch(blobUrl, { redirect: 'manual' });
    expect(res.status).toBe(307);
    expect(res.headers.get('docker-content-digest')).toBe(digest);
    expect(res.headers.get('content-length')).toBe('0');
    expect(await res.text()).toBe('');
    const location = res.headers.get('location') ?? '';
    const target = new URL(location);
    // Straight to the store, never back through Berth.
    expect(target.origin).not.toBe(new URL(server.url).origin);
    expect(target.pathname).toMatch(new RegExp(`^/${bucket.name}/on/data/`));
    expect(target.searchParams.get('X-Amz-Expires')).toBe('600');
    expect(target.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);

    const direct = await fetch(location);
    expect(direct.status).toBe(200);
    expect(hashOf(await direct.arrayBuffer())).toBe(digest);

    // A Range goes along with the redirect and the store honours it.
    const ranged = await fetch(blobUrl, { headers: { range: 'bytes=1000-1999' } });
    expect(ranged.status).toBe(206);
    expect(Buffer.from(await ranged.arrayBuffer()).equals(blob.subarray(1000, 2000))).toBe(true);
  });

  it('keeps HEAD, If-Range and unsatisfiable ranges with Berth', async () => {
    const head = await fetch(blobUrl, { method: 'HEAD', redirect: 'manual' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(blob.length));
    expect(head.headers.get('location')).toBeNull();

    // The store's ETag is not Berth's: it would send the whole blob to a resuming client.
    const resumed = await fetch(blobUrl, {
      redirect: 'manual',
      headers: { range: 'bytes=10-19', 'if-range': `"${digest}"` },
    });
    expect(resumed.status).toBe(206);
    expect(Buffer.from(await resumed.arrayBuffer()).equals(blob.subarray(10, 20))).toBe(true);

    const beyond = await fetch(blobUrl, {
      redirect: 'manual',
      headers: { range: `bytes=${blob.length + 10}-` },
    });
    expect(beyond.status).toBe(416);
    expect(beyond.headers.get('location')).toBeNull();
  });

  it('presigned URLs expire', async () => {
    const driver = await createS3Driver(parseS3Url(`${bucket.storageUrl('on')}&redirect=true`));
    drivers.push(driver);
    const key = blobKey(parseDigest(digest));
    const short = new URL((await driver.readUrl(key, { expiresInSeconds: 1 })) ?? '');
    const long = new URL((await driver.readUrl(key, { expiresInSeconds: 60 })) ?? '');
    // The two differ in their expiry (and so their signature) only.
    expect(short.searchParams.get('X-Amz-Expires')).toBe('1');
    for (const same of ['X-Amz-Credential', 'X-Amz-SignedHeaders', 'X-Amz-Algorithm'])
      expect(short.searchParams.get(same)).toBe(long.searchParams.get(same));
    expect(short.pathname).toBe(long.pathname);
    // The pointer's data object, not the 0-byte pointer.
    expect(short.pathname).toMatch(new RegExp(`^/${bucket.name}/on/data/`));
    await until('the 1-second URL to expire', async () => {
      const res = await fetch(short);
      await res.arrayBuffer();
      return res.status === 403;
    });
    // The 60-second one still serves the blob: the 403 was the expiry.
    const fresh = await fetch(long);
    expect(fresh.status).toBe(200);
    expect(hashOf(await fresh.arrayBuffer())).toBe(digest);
    // Signing is local: it costs no request beyond the pointer's HEAD.
    const before = driver.traffic.requests;
    await driver.readUrl(key, { expiresInSeconds: 60 });
    expect(driver.traffic.requests - before).toBe(1);
    expect(
      await driver.readUrl(blobKey(parseDigest(sha256('absent'))), { expiresInSeconds: 60 }),
    ).toBeNull();
  });

  it('a blob whose bytes are gone gets the usual 404, not a redirect', async () => {
    const lost = await pushBlob(server.url, 'team/app', randomBlob(2048));
    const s3 = s3Client();
    try {
      await s3.send(
        new DeleteObjectCommand({
          Bucket: bucket.name,
          Key: `on/${blobKey(parseDigest(lost))}`,
        }),
      );
    } finally {
      s3.destroy();
    }
    const res = await fetch(`${server.url}/v2/team/app/blobs/${lost}`, { redirect: 'manual' });
    expect(res.status).toBe(404);
    expect(res.headers.get('location')).toBeNull();
    expect(((await res.json()) as { errors: { code: string }[] }).errors[0]?.code).toBe(
      'BLOB_UNKNOWN',
    );
  });

  it('skopeo copies an image out through the redirects, and the log holds no signature', async () => {
    const image = await pushImage(server.url, 'team/tool', 'v1', { layers: 2 });
    const work = await makeTempDir('berth-redirect-');
    const sandbox = await clientSandbox(work, { isolateCredentials: true });
    const out = path.join(work, 'out');
    await runOk(
      'skopeo',
      ['copy', '--src-tls-verify=false', `docker://${server.host}/team/tool:v1`, `dir:${out}`],
      sandbox.env,
    );
    for (const layer of image.layers) {
      const copied = await readFile(path.join(out, sha256(layer).slice('sha256:'.length)));
      expect(copied.equals(layer)).toBe(true);
    }
    // skopeo got its layers by redirect, and the access log shows that without the URL.
    const layerPath = `/v2/team/tool/blobs/${sha256(image.layers[0] ?? '')}`;
    await until('the layer GET in the log', () =>
      Promise.resolve(log.includes(`"url":"${layerPath}","status":307`)),
    );
    expect(log).not.toMatch(/X-Amz-Signature|X-Amz-Credential/i);
  });
});

describe('with redirect=true and authentication', () => {
  it('an unauthorized pull gets 401 and never a Location', async () => {
    const server = await serve('auth', { redirect: true, auth: true });
    const blob = randomBlob(4096);
    const digest = sha256(blob);
    const admin = `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`;
    const pushed = await fetch(`${server.url}/v2/team/app/blobs/uploads/?digest=${digest}`, {
      method: 'POST',
      headers: { authorization: admin, 'content-type': 'application/octet-stream' },
      body: new Uint8Array(blob),
    });
    expect(pushed.status).toBe(201);
    const url = `${server.url}/v2/team/app/blobs/${digest}`;

    const anonymous = await fetch(url, { redirect: 'manual' });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('location')).toBeNull();
    const wrong = await fetch(url, {
      redirect: 'manual',
      headers: { authorization: `Basic ${Buffer.from('admin:wrong').toString('base64')}` },
    });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('location')).toBeNull();

    const allowed = await fetch(url, { redirect: 'manual', headers: { authorization: admin } });
    expect(allowed.status).toBe(307);
    // Followed by fetch, which drops the Authorization header on the way to another origin.
    const followed = await fetch(url, { headers: { authorization: admin } });
    expect(hashOf(await followed.arrayBuffer())).toBe(digest);
  });
});

describe('without redirect (the default)', () => {
  it('streams the blob from Berth', async () => {
    const server = await serve('off', { redirect: false });
    const blob = randomBlob(100_000);
    const digest = await pushBlob(server.url, 'team/app', blob);
    const res = await fetch(`${server.url}/v2/team/app/blobs/${digest}`, { redirect: 'manual' });
    expect(res.status).toBe(200);
    expect(res.headers.get('location')).toBeNull();
    expect(hashOf(await res.arrayBuffer())).toBe(digest);

    const driver = await createS3Driver(parseS3Url(bucket.storageUrl('off')));
    drivers.push(driver);
    expect(await driver.readUrl(blobKey(parseDigest(digest)), { expiresInSeconds: 60 })).toBeNull();
  });
});
