/**
 * Memory of the built server while a 1 GiB blob goes in and comes back out: blobs must stream
 * through the process, so its resident set may not grow with the size of the blob.
 *
 * The client never holds the blob either: it is generated piece by piece (an AES-CTR keystream)
 * and hashed as it is sent and as it is received.
 */
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import http, { type IncomingHttpHeaders } from 'node:http';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pullBlobHashed } from '../helpers/oci.js';
import { ROOT, startServerProcess, type ServerProcess } from '../helpers/server.js';

const MiB = 1024 * 1024;
const MB = 1_000_000;
const BLOB_SIZE = 1024 * MiB;
/** How much the server's RSS may grow while it moves the blob. */
const MAX_GROWTH = 40 * MB;
const SAMPLE_MS = 50;
/**
 * Each measurement starts right after a small transfer of the same kind: the baseline is then the
 * server in the middle of streaming work (code compiled, heap at its working size, which V8 shrinks
 * again when idle), so the delta shows only what grows with the size of the blob.
 */
const WARM_UP_SIZE = 32 * MiB;
const REPO = 'library/big';
const RESULTS = path.join(ROOT, 'bench/results/memory-e2e.json');

// ── measuring ────────────────────────────────────────────────────────────────

function statusField(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(
    readFileSync(`/proc/${pid}/status`, 'utf8'),
  );
  if (!m?.[1]) throw new Error(`no ${field} for ${pid}`);
  return Number(m[1]) * 1024;
}

const rssOf = (pid: number): number => statusField(pid, 'VmRSS');

/**
 * Resets the kernel's high-water mark of the process's RSS (VmHWM) to its current RSS, so VmHWM
 * afterwards is the true peak, including spikes shorter than the sampling interval.
 */
function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/**
 * Samples VmRSS on a worker thread, so the samples keep coming on time while the main thread is
 * busy generating and hashing the blob.
 */
const SAMPLER = `
const { parentPort, workerData } = require('node:worker_threads');
const { readFileSync } = require('node:fs');
const flag = new Int32Array(workerData.flag);
let peak = 0;
let samples = 0;
while (Atomics.load(flag, 0) === 0) {
  const m = /^VmRSS:\\s+(\\d+) kB$/m.exec(readFileSync(workerData.file, 'utf8'));
  if (m) {
    peak = Math.max(peak, Number(m[1]) * 1024);
    samples++;
  }
  Atomics.wait(flag, 0, 0, workerData.interval);
}
parentPort.postMessage({ peak, samples });
`;

interface Sampled {
  peak: number;
  samples: number;
}

function sampleRss(pid: number): { stop(): Promise<Sampled> } {
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(SAMPLER, {
    eval: true,
    workerData: { flag: flag.buffer, file: `/proc/${pid}/status`, interval: SAMPLE_MS },
  });
  const result = once(worker, 'message') as Promise<[Sampled]>;
  return {
    async stop() {
      Atomics.store(flag, 0, 1);
      Atomics.notify(flag, 0);
      const [sampled] = await result;
      await worker.terminate();
      return sampled;
    },
  };
}

interface Measured {
  baselineMB: number;
  /** The highest of the samples and the kernel's high-water mark. */
  peakMB: number;
  /** VmHWM after the transfer (reset just before it); null where clear_refs is not writable. */
  kernelPeakMB: number | null;
  sampledPeakMB: number;
  deltaMB: number;
  samples: number;
  seconds: number;
  MBps: number;
}

/** Runs `work` while sampling the server's RSS; the baseline is read just before it starts. */
async function measure(
  pid: number,
  work: () => Promise<void>,
): Promise<Measured & { delta: number }> {
  const kernelPeak = resetPeak(pid);
  const baseline = rssOf(pid);
  const sampler = sampleRss(pid);
  const started = performance.now();
  try {
    await work();
  } catch (e) {
    await sampler.stop();
    throw e;
  }
  const elapsed = (performance.now() - started) / 1000;
  const sampled = await sampler.stop();
  const hwm = kernelPeak ? statusField(pid, 'VmHWM') : null;
  const peak = Math.max(sampled.peak, hwm ?? 0, rssOf(pid));
  const round = (n: number): number => Math.round(n * 10) / 10;
  return {
    delta: peak - baseline,
    baselineMB: round(baseline / MB),
    peakMB: round(peak / MB),
    kernelPeakMB: hwm === null ? null : round(hwm / MB),
    sampledPeakMB: round(sampled.peak / MB),
    deltaMB: round((peak - baseline) / MB),
    samples: sampled.samples,
    seconds: Math.round(elapsed * 100) / 100,
    MBps: round(BLOB_SIZE / MB / elapsed),
  };
}

// ── client plumbing ──────────────────────────────────────────────────────────

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** One request whose body is written piece by piece, honouring backpressure. */
function send(
  url: string | URL,
  method: string,
  headers: Record<string, string | number> = {},
  pieces: AsyncIterable<Buffer> | Iterable<Buffer> = [],
): Promise<Reply> {
  return new Promise<Reply>((resolve, reject) => {
    const req = http.request(url, { method, headers, agent: false });
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
        for await (const piece of pieces) if (!req.write(piece)) await once(req, 'drain');
        req.end();
      } catch (e) {
        req.destroy(e as Error);
      }
    })();
  });
}

/** `length` pseudo-random bytes in 1 MiB pieces, fed to `hash` as they are produced. */
function* keystream(length: number, hash: ReturnType<typeof createHash>): Generator<Buffer> {
  const cipher = createCipheriv('aes-128-ctr', randomBytes(16), randomBytes(16));
  const zeros = Buffer.alloc(MiB);
  for (let done = 0; done < length; done += MiB) {
    const piece = cipher.update(zeros.subarray(0, Math.min(MiB, length - done)));
    hash.update(piece);
    yield piece;
  }
}

/** POST, one streamed PATCH without Content-Range (as docker sends a layer), PUT ?digest=. */
async function pushStreamed(base: string, size: number): Promise<string> {
  const post = await send(`${base}/v2/${REPO}/blobs/uploads/`, 'POST');
  expect(post.status).toBe(202);
  const location = new URL(String(post.headers.location), base);
  const hash = createHash('sha256');
  const patch = await send(
    location,
    'PATCH',
    { 'content-type': 'application/octet-stream' },
    keystream(size, hash),
  );
  expect(patch.status, patch.body.toString()).toBe(202);
  expect(patch.headers.range).toBe(`0-${size - 1}`);
  const digest = `sha256:${hash.digest('hex')}`;
  const next = new URL(String(patch.headers.location), base);
  next.searchParams.set('digest', digest);
  const put = await send(next, 'PUT', { 'content-length': 0 });
  expect(put.status, put.body.toString()).toBe(201);
  expect(put.headers['docker-content-digest']).toBe(digest);
  return digest;
}

// ── the tests ────────────────────────────────────────────────────────────────

describe('server memory while a 1 GiB blob streams through', () => {
  let server: ServerProcess;
  let digest = '';
  let warmDigest = '';
  const results: { push?: Measured; pull?: Measured } = {};

  beforeAll(async () => {
    server = await startServerProcess();
    warmDigest = await pushStreamed(server.url, WARM_UP_SIZE);
  });

  afterAll(async () => {
    await server.stop();
    await rm(server.dataDir, { recursive: true, force: true });
    if (results.push ?? results.pull) {
      await mkdir(path.dirname(RESULTS), { recursive: true });
      const report = {
        blobBytes: BLOB_SIZE,
        maxGrowthMB: MAX_GROWTH / MB,
        sampleMs: SAMPLE_MS,
        node: process.version,
        at: new Date().toISOString(),
        ...results,
      };
      await writeFile(RESULTS, `${JSON.stringify(report, null, 2)}\n`);
    }
  });

  it('pushes 1 GiB in one streamed PATCH with RSS growth under 40 MB', async () => {
    await pushStreamed(server.url, WARM_UP_SIZE);
    const { delta, ...push } = await measure(server.pid, async () => {
      digest = await pushStreamed(server.url, BLOB_SIZE);
    });
    results.push = push;
    console.log(
      `push 1 GiB: RSS baseline ${push.baselineMB} MB, peak ${push.peakMB} MB, delta ${push.deltaMB} MB (${push.samples} samples); ${push.seconds} s, ${push.MBps} MB/s`,
    );
    expect(push.samples).toBeGreaterThan(10);
    expect(delta).toBeLessThan(MAX_GROWTH);
  });

  it('pulls the 1 GiB blob back with RSS growth under 40 MB', async () => {
    expect(digest).not.toBe('');
    expect((await pullBlobHashed(server.url, REPO, warmDigest)).digest).toBe(warmDigest);
    let pulled = { status: 0, digest: '', size: 0 };
    const { delta, ...pull } = await measure(server.pid, async () => {
      pulled = await pullBlobHashed(server.url, REPO, digest);
    });
    results.pull = pull;
    console.log(
      `pull 1 GiB: RSS baseline ${pull.baselineMB} MB, peak ${pull.peakMB} MB, delta ${pull.deltaMB} MB (${pull.samples} samples); ${pull.seconds} s, ${pull.MBps} MB/s`,
    );
    expect(pulled).toEqual({ status: 200, digest, size: BLOB_SIZE });
    expect(pull.samples).toBeGreaterThan(10);
    expect(delta).toBeLessThan(MAX_GROWTH);
  });
});
