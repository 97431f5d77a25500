/**
 * Crash safety of the built server: a SIGKILL in the middle of a streamed chunk loses nothing that
 * was acknowledged and exposes nothing that was not; aborted requests and refused commits leave no
 * half-written state behind.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { once } from 'node:events';
import { rm, stat } from 'node:fs/promises';
import http, { type ClientRequest, type IncomingHttpHeaders } from 'node:http';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  descriptor,
  errorCode,
  OCI_CONFIG,
  OCI_LAYER,
  OCI_MANIFEST,
  pushBlob,
  pullBlobHashed,
  pushImage,
  putManifest,
  randomBlob,
  sha256,
  type PushedImage,
} from '../helpers/oci.js';
import { makeTempDir, startServerProcess, type ServerProcess } from '../helpers/server.js';

const MiB = 1024 * 1024;
/** The large upload: 26 chunks of 8 MiB (208 MiB), the crash hits while chunk 10 streams. */
const CHUNK = 8 * MiB;
const CHUNKS = 26;
const ACKED_BEFORE_CRASH = 10;
const REPO = 'library/crashy';

// ── client plumbing ──────────────────────────────────────────────────────────

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/**
 * One request on its own connection whose body is written piece by piece with backpressure, so a
 * test can stop in the middle of a body (the generator awaits) and cut the connection there.
 */
function send(
  url: string | URL,
  method: string,
  headers: Record<string, string | number> = {},
  pieces?: AsyncIterable<Buffer> | Iterable<Buffer>,
  onRequest?: (req: ClientRequest) => void,
): Promise<Reply> {
  return new Promise<Reply>((resolve, reject) => {
    const req = http.request(url, { method, headers, agent: false });
    onRequest?.(req);
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
      });
    });
    void (async () => {
      try {
        if (pieces) {
          for await (const piece of pieces) {
            if (req.destroyed) return;
            if (!req.write(piece)) await once(req, 'drain');
          }
        }
        if (!req.destroyed) req.end();
      } catch (e) {
        req.destroy(e as Error);
      }
    })();
  });
}

function codeOf(reply: Reply): string | undefined {
  const parsed = JSON.parse(reply.body.toString('utf8')) as { errors?: { code?: string }[] };
  return parsed.errors?.[0]?.code;
}

/**
 * Deterministic pseudo-random bytes (an AES-CTR keystream): chunk `index` of `seed` is the same
 * every time it is generated, so the client can re-send chunks after the crash without keeping
 * 200 MB around.
 */
function* keystream(seed: string, index: number, length: number, piece = MiB): Generator<Buffer> {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  const iv = Buffer.alloc(16);
  iv.writeUInt32BE(index, 0);
  const cipher = createCipheriv('aes-128-ctr', key, iv);
  const zeros = Buffer.alloc(piece);
  for (let done = 0; done < length; done += piece) {
    yield cipher.update(zeros.subarray(0, Math.min(piece, length - done)));
  }
}

function digestOfChunks(seed: string, count: number, chunkLength: number): string {
  const hash = createHash('sha256');
  for (let i = 0; i < count; i++)
    for (const piece of keystream(seed, i, chunkLength)) hash.update(piece);
  return `sha256:${hash.digest('hex')}`;
}

/** Yields the pieces of `source` until `stopAfter` bytes went out, then waits for `gate`. */
async function* pauseAfter(
  source: Iterable<Buffer>,
  stopAfter: number,
  gate: Promise<void>,
): AsyncGenerator<Buffer> {
  let sent = 0;
  for (const piece of source) {
    if (sent >= stopAfter) {
      await gate;
      return;
    }
    sent += piece.length;
    yield piece;
  }
}

interface Upload {
  url: URL;
  id: string;
}

async function startUpload(base: string, name: string): Promise<Upload> {
  const res = await send(`${base}/v2/${name}/blobs/uploads/`, 'POST');
  expect(res.status).toBe(202);
  const location = String(res.headers.location);
  const id = String(res.headers['docker-upload-uuid']);
  return { url: new URL(location, base), id };
}

/** The same upload session on another server process (a restart binds a new port). */
function rebase(upload: Upload, base: string): Upload {
  return { ...upload, url: new URL(upload.url.pathname + upload.url.search, base) };
}

function withQuery(url: URL, key: string, value: string): URL {
  const next = new URL(url);
  next.searchParams.set(key, value);
  return next;
}

/** PATCH of one chunk with Content-Range, as chunked-upload clients send it. */
function patchChunk(
  upload: Upload,
  start: number,
  pieces: AsyncIterable<Buffer> | Iterable<Buffer>,
  length: number,
): Promise<Reply> {
  return send(
    upload.url,
    'PATCH',
    {
      'content-type': 'application/octet-stream',
      'content-length': length,
      'content-range': `${start}-${start + length - 1}`,
    },
    pieces,
  );
}

/** How long a wait for the server may take: generous, a busy machine is slow to get there. */
const WAIT_MS = 60_000;

/** The upload's bytes on disk (registry/layout.ts: `uploads/<uuid>` under the data directory). */
async function uploadFileSize(dataDir: string, id: string): Promise<number | null> {
  try {
    return (await stat(path.join(dataDir, 'uploads', id))).size;
  } catch {
    return null;
  }
}

/** Waits until the server has written bytes past `offset` to the upload's file: it is mid-chunk. */
async function waitForBytesPast(dataDir: string, id: string, offset: number): Promise<number> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const size = await uploadFileSize(dataDir, id);
    if (size !== null && size > offset) return size;
    if (Date.now() > deadline) throw new Error(`server never wrote past ${offset} (size ${size})`);
    await sleep(10);
  }
}

/** Polls the upload's file until it has `size` bytes (or WAIT_MS pass); returns the last size. */
async function waitForSize(dataDir: string, id: string, size: number): Promise<number | null> {
  const deadline = Date.now() + WAIT_MS;
  let current = await uploadFileSize(dataDir, id);
  while (current !== size && Date.now() < deadline) {
    await sleep(20);
    current = await uploadFileSize(dataDir, id);
  }
  return current;
}

function expectRange(reply: Reply, offset: number): void {
  expect(reply.headers.range).toBe(`0-${offset - 1}`);
}

// ── the crash ────────────────────────────────────────────────────────────────

describe('a SIGKILL while a chunk is streaming', () => {
  let dataDir: string;
  let server: ServerProcess;
  let image: PushedImage;
  /** 208 MiB in Content-Range chunks, killed while chunk ACKED_BEFORE_CRASH streams. */
  let big: Upload;
  const bigSeed = `big-${Date.now()}`;
  let bigDigest: string;
  /** 1 MiB acknowledged, then killed while a second streamed PATCH was being written. */
  let small: Upload;
  const smallFirst = randomBlob(MiB);
  /** What the server had written of each upload when it died. */
  const onDiskAtCrash = { big: 0, small: 0 };

  beforeAll(async () => {
    dataDir = await makeTempDir('berth-crash-');
    server = await startServerProcess({ dataDir });
    const base = server.url;

    image = await pushImage(base, REPO, 'committed', { layers: 3 });
    bigDigest = digestOfChunks(bigSeed, CHUNKS, CHUNK);

    big = await startUpload(base, REPO);
    for (let i = 0; i < ACKED_BEFORE_CRASH; i++) {
      const res = await patchChunk(big, i * CHUNK, keystream(bigSeed, i, CHUNK), CHUNK);
      expect(res.status).toBe(202);
      expectRange(res, (i + 1) * CHUNK);
    }
    small = await startUpload(base, REPO);
    const first = await patchChunk(small, 0, [smallFirst], MiB);
    expect(first.status).toBe(202);

    // Both PATCHes send half their body and then hang; the kill comes while they are mid-body.
    let release = (): void => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const ackedBig = ACKED_BEFORE_CRASH * CHUNK;
    const bigPatch = patchChunk(
      big,
      ackedBig,
      pauseAfter(keystream(bigSeed, ACKED_BEFORE_CRASH, CHUNK), CHUNK / 2, gate),
      CHUNK,
    );
    const smallPatch = send(
      small.url,
      'PATCH',
      { 'content-type': 'application/octet-stream' },
      pauseAfter([randomBlob(MiB), randomBlob(MiB)], MiB, gate),
    );
    const outcomes = Promise.allSettled([bigPatch, smallPatch]);
    onDiskAtCrash.big = await waitForBytesPast(dataDir, big.id, ackedBig);
    onDiskAtCrash.small = await waitForBytesPast(dataDir, small.id, MiB);

    await server.kill();
    release();
    // Neither interrupted chunk was ever acknowledged.
    expect((await outcomes).map((o) => o.status)).toEqual(['rejected', 'rejected']);

    server = await startServerProcess({ dataDir });
    big = rebase(big, server.url);
    small = rebase(small, server.url);
  });

  afterAll(async () => {
    await server.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('died with unacknowledged bytes of both chunks already in the upload files', () => {
    // Guards the premise of the tests below: the kill really hit mid-chunk, after writes began.
    expect(onDiskAtCrash.big).toBeGreaterThan(ACKED_BEFORE_CRASH * CHUNK);
    expect(onDiskAtCrash.small).toBeGreaterThan(MiB);
  });

  it('serves the image committed before the crash byte for byte', async () => {
    const base = server.url;
    const res = await fetch(`${base}/v2/${REPO}/manifests/committed`, {
      headers: { accept: OCI_MANIFEST },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-content-digest')).toBe(image.digest);
    expect(Buffer.from(await res.arrayBuffer()).toString('utf8')).toBe(image.manifest);

    const blobs = [Buffer.from(image.config), ...image.layers];
    for (const blob of blobs) {
      const pulled = await pullBlobHashed(base, REPO, sha256(blob));
      expect(pulled).toEqual({ status: 200, digest: sha256(blob), size: blob.length });
    }
  });

  it('does not expose the blob whose upload was interrupted', async () => {
    const head = await fetch(`${server.url}/v2/${REPO}/blobs/${bigDigest}`, { method: 'HEAD' });
    expect(head.status).toBe(404);
    const get = await fetch(`${server.url}/v2/${REPO}/blobs/${bigDigest}`);
    expect(get.status).toBe(404);
    expect(await errorCode(get)).toBe('BLOB_UNKNOWN');
  });

  it('resumes the interrupted upload from the last acknowledged chunk', async () => {
    const acked = ACKED_BEFORE_CRASH * CHUNK;
    const status = await send(big.url, 'GET');
    expect(status.status).toBe(204);
    expectRange(status, acked);

    for (let i = ACKED_BEFORE_CRASH; i < CHUNKS; i++) {
      const res = await patchChunk(big, i * CHUNK, keystream(bigSeed, i, CHUNK), CHUNK);
      expect(res.status, res.body.toString()).toBe(202);
      expectRange(res, (i + 1) * CHUNK);
    }
    const put = await send(withQuery(big.url, 'digest', bigDigest), 'PUT', { 'content-length': 0 });
    expect(put.status, put.body.toString()).toBe(201);
    expect(put.headers['docker-content-digest']).toBe(bigDigest);

    const pulled = await pullBlobHashed(server.url, REPO, bigDigest);
    expect(pulled).toEqual({ status: 200, digest: bigDigest, size: CHUNKS * CHUNK });
  });

  it('commits exactly the acknowledged bytes when a bodiless PUT finishes an interrupted upload', async () => {
    const status = await send(small.url, 'GET');
    expect(status.status).toBe(204);
    expectRange(status, MiB);

    // The upload consists of what was acknowledged; the bytes of the chunk the crash cut off are
    // not part of it, so its digest is the digest of the first chunk alone.
    const digest = sha256(smallFirst);
    const put = await send(withQuery(small.url, 'digest', digest), 'PUT', { 'content-length': 0 });
    expect(put.status, put.body.toString()).toBe(201);
    const pulled = await pullBlobHashed(server.url, REPO, digest);
    expect(pulled).toEqual({ status: 200, digest, size: MiB });
  });

  it('accepts new pushes after the restart', async () => {
    const next = await pushImage(server.url, REPO, 'after-crash', { layers: 2 });
    const res = await fetch(`${server.url}/v2/${REPO}/manifests/after-crash`, {
      headers: { accept: OCI_MANIFEST },
    });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(next.manifest);
    for (const layer of next.layers) {
      expect((await pullBlobHashed(server.url, REPO, sha256(layer))).digest).toBe(sha256(layer));
    }
  });
});

// ── aborted requests and refused commits ─────────────────────────────────────

describe('requests that fail half-way', () => {
  let server: ServerProcess;

  beforeAll(async () => {
    server = await startServerProcess();
  });

  afterAll(async () => {
    await server.stop();
    await rm(server.dataDir, { recursive: true, force: true });
  });

  it('keeps only acknowledged bytes when a client drops a streamed PATCH mid-body, and the upload continues', async () => {
    const base = server.url;
    const upload = await startUpload(base, REPO);
    const first = randomBlob(3 * MiB);
    const firstPatch = await send(
      upload.url,
      'PATCH',
      { 'content-type': 'application/octet-stream' },
      [first],
    );
    expect(firstPatch.status).toBe(202);
    expectRange(firstPatch, first.length);

    // A streamed PATCH (chunked, no Content-Range) whose connection dies after 2 of its 4 MiB.
    let release = (): void => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let request: ClientRequest | undefined;
    const dropped = send(
      upload.url,
      'PATCH',
      { 'content-type': 'application/octet-stream' },
      pauseAfter(keystream('dropped', 0, 4 * MiB, 256 * 1024), 2 * MiB, gate),
      (req) => (request = req),
    );
    const droppedOutcome = dropped.then(
      () => 'answered',
      () => 'failed',
    );
    await waitForBytesPast(server.dataDir, upload.id, first.length);
    request?.destroy();
    release();
    expect(await droppedOutcome).toBe('failed');

    const status = await send(upload.url, 'GET');
    expect(status.status).toBe(204);
    expectRange(status, first.length);
    // The half chunk the server had written is cut off again once it notices the abort.
    expect(await waitForSize(server.dataDir, upload.id, first.length)).toBe(first.length);

    // The server may still be unwinding the dropped request (its session stays locked until
    // then, answered with 416 and the acknowledged Range); a retrying client gets through.
    const rest = randomBlob(4 * MiB);
    let next: Reply | undefined;
    for (const deadline = Date.now() + WAIT_MS; Date.now() < deadline; await sleep(50)) {
      next = await send(upload.url, 'PATCH', { 'content-type': 'application/octet-stream' }, [
        rest,
      ]);
      if (next.status !== 416) break;
      expectRange(next, first.length);
    }
    expect(next?.status, next?.body.toString()).toBe(202);
    expectRange(next as Reply, first.length + rest.length);
    expect(await uploadFileSize(server.dataDir, upload.id)).toBe(first.length + rest.length);

    const whole = Buffer.concat([first, rest]);
    const put = await send(withQuery(upload.url, 'digest', sha256(whole)), 'PUT', {
      'content-length': 0,
    });
    expect(put.status, put.body.toString()).toBe(201);
    const pulled = await pullBlobHashed(base, REPO, sha256(whole));
    expect(pulled).toEqual({ status: 200, digest: sha256(whole), size: whole.length });
  });

  it.each([
    { finish: 'a bodiless PUT after a PATCH', lastChunkInPut: false },
    { finish: 'a PUT carrying the last chunk', lastChunkInPut: true },
  ])(
    'refuses a wrong digest on $finish and keeps neither blob nor session',
    async ({ lastChunkInPut }) => {
      const base = server.url;
      const data = randomBlob(2 * MiB);
      const wrong = sha256(randomBlob(16));
      const upload = await startUpload(base, REPO);
      if (!lastChunkInPut) {
        const patch = await patchChunk(upload, 0, [data], data.length);
        expect(patch.status).toBe(202);
      }
      const put = await send(
        withQuery(upload.url, 'digest', wrong),
        'PUT',
        {
          'content-type': 'application/octet-stream',
          'content-length': lastChunkInPut ? data.length : 0,
        },
        lastChunkInPut ? [data] : [],
      );
      expect(put.status).toBe(400);
      expect(codeOf(put)).toBe('DIGEST_INVALID');

      for (const digest of [wrong, sha256(data)]) {
        const head = await fetch(`${base}/v2/${REPO}/blobs/${digest}`, { method: 'HEAD' });
        expect(head.status).toBe(404);
      }
      const status = await send(upload.url, 'GET');
      expect(status.status).toBe(404);
      expect(codeOf(status)).toBe('BLOB_UPLOAD_UNKNOWN');
      expect(await uploadFileSize(server.dataDir, upload.id)).toBeNull();
    },
  );

  it('refuses a manifest that names a missing blob and creates no tag', async () => {
    const base = server.url;
    const config = JSON.stringify({ architecture: 'amd64', os: 'linux', n: Math.random() });
    await pushBlob(base, REPO, config);
    const present = randomBlob(1024);
    await pushBlob(base, REPO, present);
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: descriptor(OCI_CONFIG, config),
      layers: [descriptor(OCI_LAYER, present), descriptor(OCI_LAYER, randomBlob(1024))],
    });
    const put = await putManifest(base, REPO, 'dangling', manifest);
    expect(put.status).toBe(400);
    expect(await errorCode(put)).toBe('MANIFEST_BLOB_UNKNOWN');

    for (const reference of ['dangling', sha256(manifest)]) {
      const get = await fetch(`${base}/v2/${REPO}/manifests/${reference}`, {
        headers: { accept: OCI_MANIFEST },
      });
      expect(get.status).toBe(404);
      expect(await errorCode(get)).toBe('MANIFEST_UNKNOWN');
    }
  });
});
