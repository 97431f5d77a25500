import {
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
} from '@aws-sdk/client-s3';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeStorageDriver } from '../../../test/contract/storage-driver.contract.js';
import {
  createTestBucket,
  removeBucket,
  s3Client,
  s3Cluster,
  type TestBucket,
} from '../../../test/helpers/s3.js';
import { StorageError, type StorageDriver, type UploadHandle } from '../driver.js';
import { partBuffers } from './buffers.js';
import type { S3Driver } from './driver.js';
import { createS3Driver, parseS3Url, type S3DriverOptions } from './driver.js';

const KiB = 1024;
const MiB = 1024 * KiB;

let bucket: TestBucket;
const drivers: S3Driver[] = [];
/** The key prefix each driver was opened on (its own "empty storage"). */
const prefixOf = new Map<StorageDriver, string>();

beforeAll(async () => {
  bucket = await createTestBucket();
});
afterAll(async () => {
  for (const driver of drivers) driver.destroy();
  await removeBucket(bucket.name);
});

function endpoint(i: number): string {
  const found = s3Cluster().endpoints[i];
  if (!found) throw new Error(`no gateway ${i}`);
  return found;
}

/** A driver on gateway `gateway` (0 or 1, both serving the same cluster) under `prefix`. */
async function driverAt(
  prefix: string,
  gateway = 0,
  options: Partial<S3DriverOptions> = {},
): Promise<S3Driver> {
  const { accessKey, secretKey } = s3Cluster();
  const driver = await createS3Driver({
    bucket: bucket.name,
    prefix,
    endpoint: endpoint(gateway),
    forcePathStyle: true,
    credentials: { accessKeyId: accessKey, secretAccessKey: secretKey },
    ...options,
  });
  drivers.push(driver);
  prefixOf.set(driver, prefix);
  return driver;
}

let opened = 0;
/** 5 MiB parts in the contract: its sizes sit around S3's minimum part. */
async function open(): Promise<S3Driver> {
  opened += 1;
  return driverAt(`contract-${opened}`, 0, { partSize: 5 * MiB });
}

/** The same storage through the other gateway: every upload step alternates "replicas". */
async function reopen(driver: StorageDriver): Promise<S3Driver> {
  return driverAt(prefixOf.get(driver) ?? '', 1, { partSize: 5 * MiB });
}

/**
 * What the listings of the driver do not show: open multipart uploads, and `data/` objects that
 * no pointer names (an upload's bytes kept after its commit or abort).
 */
async function leftovers(driver: StorageDriver): Promise<string[]> {
  const prefix = `${prefixOf.get(driver) ?? ''}/`;
  const client = s3Client();
  try {
    const found: string[] = [];
    const multipart = await client.send(
      new ListMultipartUploadsCommand({ Bucket: bucket.name, Prefix: prefix }),
    );
    for (const upload of multipart.Uploads ?? []) found.push(`multipart ${upload.Key ?? ''}`);
    const data = new Set<string>();
    const named = new Set<string>();
    let token: string | undefined;
    do {
      const page = await client.send(
        new ListObjectsV2Command({ Bucket: bucket.name, Prefix: prefix, ContinuationToken: token }),
      );
      for (const { Key } of page.Contents ?? []) {
        const key = (Key ?? '').slice(prefix.length);
        if (key.startsWith('data/')) data.add(key);
        else {
          const head = await client.send(new HeadObjectCommand({ Bucket: bucket.name, Key }));
          const target = head.Metadata?.['berth-data'];
          if (target) named.add(target);
        }
      }
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    for (const key of data) if (!named.has(key)) found.push(`unnamed ${key}`);
    return found;
  } finally {
    client.destroy();
  }
}

describeStorageDriver('s3', open, reopen, leftovers);

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}

async function readAll(stream: Readable | null): Promise<Buffer> {
  if (!stream) throw new Error('expected a stream');
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * A large blob made on the fly (never held whole): MiB `i` is one random MiB with `i` written
 * over its first 4 bytes, so every MiB differs and any range can be rebuilt to compare.
 */
class Blob {
  private readonly block = randomBytes(MiB);
  readonly sha256: string;

  constructor(readonly size: number) {
    const hash = createHash('sha256');
    for (const chunk of this.chunks(0, size, MiB)) hash.update(chunk);
    this.sha256 = hash.digest('hex');
  }

  get key(): string {
    return `blobs/sha256/${this.sha256.slice(0, 2)}/${this.sha256}`;
  }

  /** Bytes [start, end). */
  slice(start: number, end: number): Buffer {
    const out = Buffer.allocUnsafe(end - start);
    let at = start;
    while (at < end) {
      const mib = Math.floor(at / MiB);
      const block = Buffer.from(this.block);
      block.writeUInt32BE(mib, 0);
      const from = at - mib * MiB;
      const n = Math.min(MiB - from, end - at);
      block.copy(out, at - start, from, from + n);
      at += n;
    }
    return out;
  }

  *chunks(start: number, end: number, size: number): Generator<Buffer> {
    for (let at = start; at < end; at += size) yield this.slice(at, Math.min(end, at + size));
  }

  /** A request body of [start, end), arriving in 64 KiB socket reads. */
  body(start: number, end: number): Readable {
    return Readable.from(this.chunks(start, end, 64 * KiB));
  }
}

/** Writes `blob` in writes of `writeSize` bytes (the whole blob in one write by default). */
async function push(driver: S3Driver, blob: Blob, writeSize = blob.size): Promise<UploadHandle> {
  let handle = await driver.beginUpload(randomUUID());
  let size = 0;
  const hash = createHash('sha256');
  while (size < blob.size) {
    const end = Math.min(blob.size, size + writeSize);
    const result = await driver.writeUpload(handle, size, blob.body(size, end), {
      expectedLength: end - size,
      onData: (chunk) => hash.update(chunk),
    });
    ({ size, handle } = result);
  }
  expect(hash.digest('hex')).toBe(blob.sha256);
  return handle;
}

async function digestOf(stream: Readable | null): Promise<string> {
  if (!stream) throw new Error('expected a stream');
  const hash = createHash('sha256');
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

describe('S3 driver', () => {
  it('sends each byte of a blob written in one request once: parts, and the last piece copied server-side', async () => {
    const driver = await driverAt(`once-${randomUUID()}`);
    expect(driver.minChunkLength).toBe(8 * MiB);
    for (const size of [64 * MiB, 64 * MiB + 3 * MiB + 5, 3 * MiB]) {
      const blob = new Blob(size);
      const before = driver.traffic.bytesSent;
      const handle = await push(driver, blob);
      await driver.commitUpload(handle, blob.size, blob.key);
      expect(driver.traffic.bytesSent - before).toBe(blob.size);
      expect(await digestOf(await driver.read(blob.key))).toBe(blob.sha256);
    }
    expect(await collect(driver.list('uploads'))).toEqual([]);
  });

  it('written in 1 MiB requests, only the bytes that waited in pieces for a later request are sent again', async () => {
    const driver = await driverAt(`mib-${randomUUID()}`);
    const blob = new Blob(64 * MiB);
    const before = driver.traffic.bytesSent;
    const handle = await push(driver, blob, MiB);
    await driver.commitUpload(handle, blob.size, blob.key);
    // Per 8 MiB part: seven 1 MiB pieces, then the part (the 8th MiB fills it): 15 MiB sent.
    expect(driver.traffic.bytesSent - before).toBe((blob.size / (8 * MiB)) * 15 * MiB);
    // Chunks of the announced minimum length are sent once.
    const aligned = new Blob(32 * MiB + 100);
    const start = driver.traffic.bytesSent;
    const alignedHandle = await push(driver, aligned, driver.minChunkLength);
    await driver.commitUpload(alignedHandle, aligned.size, aligned.key);
    expect(driver.traffic.bytesSent - start).toBe(aligned.size);
    expect(await digestOf(await driver.read(aligned.key))).toBe(aligned.sha256);
  });

  it('an upload of 64 MiB holds one part buffer of memory', async () => {
    const driver = await driverAt(`memory-${randomUUID()}`);
    // The same 64 KiB chunk again and again: the test itself allocates nothing while it runs.
    const chunk = randomBytes(64 * KiB);
    const size = 64 * MiB;
    const body = Readable.from(
      (function* () {
        for (let i = 0; i < size / chunk.length; i++) yield chunk;
      })(),
    );
    const before = process.memoryUsage();
    let peakBuffers = 0;
    let peakRss = 0;
    let peakLent = 0;
    const id = randomUUID();
    const result = await driver.writeUpload(await driver.beginUpload(id), 0, body, {
      onData: () => {
        const now = process.memoryUsage();
        peakBuffers = Math.max(peakBuffers, now.arrayBuffers);
        peakRss = Math.max(peakRss, now.rss);
        peakLent = Math.max(peakLent, partBuffers.lent);
      },
    });
    expect(result.size).toBe(size);
    await driver.abortUpload(id, result.handle);
    const growth = {
      arrayBuffers: (peakBuffers - before.arrayBuffers) / MiB,
      rss: (peakRss - before.rss) / MiB,
    };
    process.stderr.write(`s3 upload of 64 MiB, peak growth (MiB): ${JSON.stringify(growth)}\n`);
    // One 8 MiB part buffer; the SDK's own buffers in flight on top, loosely.
    expect(peakLent).toBe(8 * MiB);
    expect(growth.arrayBuffers).toBeLessThan(3 * 8);
    expect(partBuffers.lent).toBe(0);
  });

  it('tiny chunks: pieces are joined before they pile up, and the handle before a join stays valid', async () => {
    const prefix = `join-${randomUUID()}`;
    const [first, second] = [
      await driverAt(prefix, 0, { joinPiecesAt: 3 }),
      await driverAt(prefix, 1, { joinPiecesAt: 3 }),
    ];
    const chunks = Array.from({ length: 10 }, (_, i) => randomBytes(i === 4 ? 1 : 700));
    let handle = await first.beginUpload(randomUUID());
    let size = 0;
    let beforeJoin: { handle: UploadHandle; size: number } | undefined;
    for (const [i, chunk] of chunks.entries()) {
      const pieces = (JSON.parse(handle) as { pieces: unknown[] }).pieces.length;
      expect(pieces).toBeLessThanOrEqual(3);
      if (pieces === 3) beforeJoin ??= { handle, size };
      ({ handle, size } = await (i % 2 ? second : first).writeUpload(
        handle,
        size,
        Readable.from([chunk]),
      ));
    }
    const all = Buffer.concat(chunks);
    const read = await first.readUpload(handle);
    expect((await readAll(read?.body ?? null)).equals(all)).toBe(true);
    // The handle recorded before the first join still continues (the join wrote a new key), as
    // when the registry never recorded the handles after it.
    if (!beforeJoin) throw new Error('no join happened');
    const head = all.subarray(0, beforeJoin.size);
    const tail = Buffer.from('another ending');
    const other = await second.writeUpload(
      beforeJoin.handle,
      beforeJoin.size,
      Readable.from([tail]),
    );
    const hex = createHash('sha256').update(head).update(tail).digest('hex');
    const key = `blobs/sha256/${hex.slice(0, 2)}/${hex}`;
    await first.commitUpload(other.handle, other.size, key);
    expect((await readAll(await second.read(key))).equals(Buffer.concat([head, tail]))).toBe(true);
    expect(await leftovers(first)).toEqual([]);
    expect(await collect(first.list('uploads'))).toEqual([]);
  });

  it('a write cancelled by its signal mid-part rejects, gives its buffers back and keeps the old handle', async () => {
    const driver = await driverAt(`cancel-${randomUUID()}`);
    const blob = new Blob(20 * MiB);
    const id = randomUUID();
    const first = await driver.writeUpload(await driver.beginUpload(id), 0, blob.body(0, MiB));
    const controller = new AbortController();
    let received = 0;
    const cancelled = driver.writeUpload(first.handle, MiB, blob.body(MiB, blob.size), {
      signal: controller.signal,
      onData: (chunk) => {
        received += chunk.length;
        // Past the first part (sent or being sent), inside the second.
        if (received >= 10 * MiB) controller.abort(new Error('client went away'));
      },
    });
    await expect(cancelled).rejects.toThrow('client went away');
    expect(partBuffers.lent).toBe(0);
    const rest = await driver.writeUpload(first.handle, MiB, blob.body(MiB, blob.size));
    await driver.commitUpload(rest.handle, blob.size, blob.key);
    expect(await digestOf(await driver.read(blob.key))).toBe(blob.sha256);
    expect(await leftovers(driver)).toEqual([]);
    expect(await collect(driver.listUploads())).toEqual([]);
  });

  it('a pull cancelled by its signal ends its stream', async () => {
    const driver = await driverAt(`pull-${randomUUID()}`);
    const blob = new Blob(12 * MiB);
    await driver.commitUpload(await push(driver, blob), blob.size, blob.key);
    const controller = new AbortController();
    const stream = await driver.read(blob.key, { signal: controller.signal });
    if (!stream) throw new Error('expected a stream');
    const consumed = (async () => {
      let bytes = 0;
      for await (const chunk of stream) {
        bytes += (chunk as Buffer).length;
        if (bytes > 0) controller.abort(new Error('puller went away'));
      }
    })();
    await expect(consumed).rejects.toThrow('puller went away');
  });

  it('reads a pointed blob by ranges across its parts, through either gateway', async () => {
    const prefix = `range-${randomUUID()}`;
    const [first, second] = [await driverAt(prefix, 0), await driverAt(prefix, 1)];
    const blob = new Blob(20 * MiB + 11);
    await first.commitUpload(await push(first, blob, 3 * MiB), blob.size, blob.key);
    expect(await second.stat(blob.key)).toMatchObject({ size: blob.size });
    for (const [start, end] of [
      [8 * MiB - 5, 8 * MiB + 5],
      [16 * MiB - 1, 16 * MiB],
      [0, 0],
      [blob.size - 3, blob.size - 1],
    ] as const) {
      for (const driver of [first, second]) {
        const got = await readAll(await driver.read(blob.key, { range: { start, end } }));
        expect(got.equals(blob.slice(start, end + 1))).toBe(true);
      }
    }
    // The key is a 0-byte pointer; the bytes stay in the upload's data object.
    expect(await collect(first.list('data'))).toHaveLength(1);
  });

  it('GC-style moves to trash and back keep the data; deleting the trash pointer removes it', async () => {
    const prefix = `trash-${randomUUID()}`;
    const [first, second] = [await driverAt(prefix, 0), await driverAt(prefix, 1)];
    const blob = new Blob(6 * MiB + 1);
    await first.commitUpload(await push(first, blob), blob.size, blob.key);
    const trash = `trash/sha256/${blob.sha256}`;
    const before = first.traffic.bytesSent;
    await first.move(blob.key, trash);
    expect(await second.stat(blob.key)).toBeNull();
    expect(await second.read(blob.key)).toBeNull();
    expect(await digestOf(await second.read(trash))).toBe(blob.sha256);
    await second.move(trash, blob.key);
    expect(await digestOf(await first.read(blob.key))).toBe(blob.sha256);
    // Pointers only moved: nothing was uploaded.
    expect(first.traffic.bytesSent - before).toBe(0);
    await first.move(blob.key, trash);
    await second.delete(trash);
    expect(await collect(first.list('data'))).toEqual([]);
    expect(await collect(first.list('trash'))).toEqual([]);
    // A reader that had the pointer cached finds it gone, not stale bytes.
    expect(await first.read(blob.key)).toBeNull();
  });

  it('a move that crashed after its copy leaves two pointers; deleting the trash one keeps the data', async () => {
    const prefix = `crash-${randomUUID()}`;
    const driver = await driverAt(prefix);
    const blob = new Blob(MiB);
    await driver.commitUpload(await push(driver, blob), blob.size, blob.key);
    const trash = `trash/sha256/${blob.sha256}`;
    // The copy half of a move, as a crash before the delete of the source leaves it.
    const client = s3Client();
    try {
      const { CopyObjectCommand } = await import('@aws-sdk/client-s3');
      await client.send(
        new CopyObjectCommand({
          Bucket: bucket.name,
          Key: `${prefix}/${trash}`,
          CopySource: `${bucket.name}/${prefix}/${blob.key}`,
        }),
      );
    } finally {
      client.destroy();
    }
    // GC's recovery (registry/trash.ts): the row is there and so is the blob, so the trash goes.
    await driver.delete(trash);
    expect(await digestOf(await driver.read(blob.key))).toBe(blob.sha256);
    await driver.delete(blob.key);
    expect(await collect(driver.list('data'))).toEqual([]);
  });

  it('two replicas committing the same blob at once keep one pointer and one data object', async () => {
    const prefix = `race-${randomUUID()}`;
    const [first, second] = [await driverAt(prefix, 0), await driverAt(prefix, 1)];
    const blob = new Blob(2 * MiB);
    const [a, b] = await Promise.all([push(first, blob), push(second, blob)]);
    await Promise.all([
      first.commitUpload(a, blob.size, blob.key),
      second.commitUpload(b, blob.size, blob.key),
    ]);
    expect(await digestOf(await second.read(blob.key))).toBe(blob.sha256);
    expect(await collect(first.list('data'))).toHaveLength(1);
    expect(await leftovers(first)).toEqual([]);
    expect(await collect(first.listUploads())).toEqual([]);
  });

  it('collects data objects no pointer names and no session owns, and nothing else', async () => {
    const prefix = `unreferenced-${randomUUID()}`;
    const driver = await driverAt(prefix, 0, { partSize: 5 * MiB });
    const dataObjects = async (): Promise<string[]> => (await collect(driver.list('data'))).sort();
    // A committed blob, and one whose pointer GC moved to the trash: both still named.
    const kept = new Blob(MiB);
    await driver.commitUpload(await push(driver, kept), kept.size, kept.key);
    const trashed = new Blob(6 * MiB);
    await driver.commitUpload(await push(driver, trashed), trashed.size, trashed.key);
    await driver.move(trashed.key, `trash/sha256/${trashed.sha256}`);
    // Assembled by readUpload, not committed: owned by its session while that lives.
    const assembled = new Blob(2 * MiB);
    const open = await push(driver, assembled);
    const read = await driver.readUpload(open);
    read?.body.destroy();
    const openId = (JSON.parse(open) as { id: string }).id;
    // A crash between assembly and pointer: nothing names it.
    const lost = new Blob(3 * MiB);
    const lostHandle = await push(driver, lost);
    (await driver.readUpload(lostHandle))?.body.destroy();
    const lostId = (JSON.parse(lostHandle) as { id: string }).id;
    const all = await dataObjects();
    expect(all).toHaveLength(4);

    const future = new Date(Date.now() + 60_000);
    const live = new Set([openId]);
    const hasSession = (id: string) => Promise.resolve(live.has(id));
    // Nothing is old enough yet; then a dry run counts without removing.
    expect(
      await driver.collectUnreferenced({ olderThan: new Date(0), dryRun: false, hasSession }),
    ).toBe(0);
    expect(await driver.collectUnreferenced({ olderThan: future, dryRun: true, hasSession })).toBe(
      1,
    );
    expect(await dataObjects()).toEqual(all);
    expect(await driver.collectUnreferenced({ olderThan: future, dryRun: false, hasSession })).toBe(
      1,
    );
    expect(await dataObjects()).toEqual(all.filter((k) => k !== `data/${lostId}`));
    // The session gone (expired without an abort): its assembly goes too.
    live.clear();
    expect(await driver.collectUnreferenced({ olderThan: future, dryRun: false, hasSession })).toBe(
      1,
    );
    expect(await dataObjects()).toHaveLength(2);
    expect(await digestOf(await driver.read(kept.key))).toBe(kept.sha256);
    expect(await digestOf(await driver.read(`trash/sha256/${trashed.sha256}`))).toBe(
      trashed.sha256,
    );
  });

  it('two writers of one upload at the same offset: the recorded handle commits its own bytes', async () => {
    // Two replicas (two gateways) given the same chunk position at once, e.g. a client sending
    // two chunks of one session in parallel: both writes succeed in S3, the registry records one
    // handle (its offset compare-and-set). Committing that handle must store exactly its bytes.
    const prefix = `two-writers-${randomUUID()}`;
    const [a, b] = await Promise.all([
      driverAt(prefix, 0, { partSize: 5 * MiB }),
      driverAt(prefix, 1, { partSize: 5 * MiB }),
    ]);
    const sha = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');
    // A blob under a part (its piece copied to data/), one over a part (the last piece copied as
    // the last part), and a tail written after a piece (read back to fill a part).
    for (const [head, tail] of [
      [0, MiB],
      [0, 6 * MiB],
      [MiB, 5 * MiB + 3],
    ] as const) {
      const first = randomBytes(head);
      let handle = await a.beginUpload(randomUUID());
      if (head > 0) ({ handle } = await a.writeUpload(handle, 0, Readable.from([first])));
      const mine = randomBytes(tail);
      const theirs = randomBytes(tail);
      const [won] = await Promise.all([
        a.writeUpload(handle, head, Readable.from([mine])),
        b.writeUpload(handle, head, Readable.from([theirs])),
      ]);
      const whole = Buffer.concat([first, mine]);
      const key = `blobs/sha256/${sha(whole).slice(0, 2)}/${sha(whole)}`;
      await b.commitUpload(won.handle, won.size, key);
      expect(sha(await readAll(await a.read(key)))).toBe(sha(whole));
    }
  });

  it('refuses a handle tampered to name another upload or a blob', async () => {
    const prefix = `tamper-${randomUUID()}`;
    const driver = await driverAt(prefix, 0, { partSize: 5 * MiB });
    const victim = new Blob(MiB);
    const victimHandle = await push(driver, victim);
    const mine = await push(driver, new Blob(6 * MiB));
    const victimState = JSON.parse(victimHandle) as { id: string };
    const state = JSON.parse(mine) as {
      id: string;
      pieces: { key: string; size: number }[];
    };
    const tampered = [
      // My pieces renamed to the victim's.
      {
        ...state,
        pieces: state.pieces.map((p) => ({ ...p, key: p.key.replace(state.id, victimState.id) })),
      },
      // The victim's id with my parts: its pieces would be at other offsets.
      { ...state, id: victimState.id },
      // A blob as a piece.
      { ...state, pieces: state.pieces.map((p) => ({ ...p, key: victim.key })) },
    ].map((s) => JSON.stringify(s));
    for (const handle of tampered) {
      await expect(driver.commitUpload(handle, 6 * MiB, victim.key)).rejects.toBeInstanceOf(
        StorageError,
      );
      await expect(driver.abortUpload(state.id, handle)).rejects.toBeInstanceOf(StorageError);
      await expect(driver.readUpload(handle)).rejects.toBeInstanceOf(StorageError);
    }
    // Another upload's handle cannot abort under my id.
    await expect(driver.abortUpload(state.id, victimHandle)).rejects.toBeInstanceOf(StorageError);
    // The victim is untouched.
    await driver.commitUpload(victimHandle, victim.size, victim.key);
    expect(await digestOf(await driver.read(victim.key))).toBe(victim.sha256);
    await driver.abortUpload(state.id, mine);
  });

  it('parses storage URLs and refuses bad ones with the reason', () => {
    expect(
      parseS3Url(
        's3://my-bucket/berth/prod?endpoint=http://127.0.0.1:5420&region=eu-west-1&forcePathStyle=true',
      ),
    ).toEqual({
      bucket: 'my-bucket',
      prefix: '/berth/prod',
      endpoint: 'http://127.0.0.1:5420',
      region: 'eu-west-1',
      forcePathStyle: true,
    });
    expect(parseS3Url('s3://bucket')).toEqual({ bucket: 'bucket' });
    expect(parseS3Url('s3://bucket?redirect=true')).toEqual({ bucket: 'bucket', redirect: true });
    for (const [url, message] of [
      ['file:/data', /not an S3 storage URL/],
      ['s3://Bad_Bucket', /invalid S3 bucket name/],
      ['s3://key:secret@bucket', /must not carry credentials/],
      ['s3://bucket?endpoint=ftp://x', /http\(s\) only/],
      ['s3://bucket?endpoint=nope', /not a URL/],
      ['s3://bucket?forcePathStyle=yes', /forcePathStyle must be true or false/],
      ['s3://bucket?partSize=1024', /invalid S3 part size/],
      ['s3://bucket?redirect=1', /redirect must be true or false/],
      ['s3://bucket?region=EU%20West', /invalid S3 region/],
      ['s3://bucket?acl=public', /unknown parameter "acl"/],
      ['s3://bucket/a/.hidden', /invalid S3 key prefix/],
    ] as const)
      expect(() => parseS3Url(url), url).toThrow(message);
  });

  it('opening a missing bucket fails with the reason', async () => {
    const { accessKey, secretKey } = s3Cluster();
    const missing = await createS3Driver({
      bucket: `missing-${randomUUID().slice(0, 8)}`,
      endpoint: endpoint(0),
      forcePathStyle: true,
      credentials: { accessKeyId: accessKey, secretAccessKey: secretKey },
    }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(StorageError);
    expect((missing as Error).message).toMatch(/no such bucket/);
    // The cause names the store's answer, without the SDK's raw response (a log record each).
    expect((missing as Error).cause).toMatchObject({ status: 404 });
    expect(JSON.stringify((missing as Error).cause).length).toBeLessThan(500);
    await expect(
      createS3Driver({
        bucket: bucket.name,
        endpoint: endpoint(0),
        forcePathStyle: true,
        credentials: { accessKeyId: accessKey, secretAccessKey: 'wrong' },
      }),
    ).rejects.toThrow(/access denied/);
  });
});
