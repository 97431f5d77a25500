/**
 * The throwaway Ceph cluster behaves as Berth's S3 storage relies on (ENGINES.md §1a, §4): objects
 * and ranges read back exactly; one multipart upload spans both gateways, as an upload spans the
 * replicas behind a load balancer; a streamed part body is stored byte for byte with checksums
 * only where required; parts under 5 MiB are refused unless last; a part can be copied from an
 * object; and `removeBucket` leaves nothing behind.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  PutObjectCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTestBucket,
  removeBucket,
  s3Client,
  s3Cluster,
  s3Env,
  type TestBucket,
} from '../helpers/s3.js';

const MiB = 1024 * 1024;
const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

let bucket: TestBucket;
let gateway1: S3Client;
let gateway2: S3Client;

beforeAll(async () => {
  const [first, second] = s3Cluster().endpoints;
  expect(first).toBeDefined();
  expect(second).toBeDefined();
  expect(second).not.toBe(first);
  gateway1 = s3Client(first);
  gateway2 = s3Client(second);
  bucket = await createTestBucket();
});
afterAll(async () => {
  await removeBucket(bucket.name);
  gateway1.destroy();
  gateway2.destroy();
});

async function getBytes(client: S3Client, key: string, range?: string): Promise<Buffer> {
  const object = await client.send(
    new GetObjectCommand({ Bucket: bucket.name, Key: key, Range: range }),
  );
  if (object.Body === undefined) throw new Error(`no body for ${key}`);
  return Buffer.from(await object.Body.transformToByteArray());
}

/** Starts an upload on `starter`, sends each part through its client, completes on `starter`. */
async function multipart(
  key: string,
  starter: S3Client,
  parts: { client: S3Client; body: Buffer | (() => Readable); length?: number }[],
): Promise<void> {
  const { UploadId } = await starter.send(
    new CreateMultipartUploadCommand({ Bucket: bucket.name, Key: key }),
  );
  const done: { PartNumber: number; ETag: string | undefined }[] = [];
  for (const [i, part] of parts.entries()) {
    const body = typeof part.body === 'function' ? part.body() : part.body;
    const { ETag } = await part.client.send(
      new UploadPartCommand({
        Bucket: bucket.name,
        Key: key,
        UploadId,
        PartNumber: i + 1,
        Body: body,
        ContentLength: part.length ?? (Buffer.isBuffer(body) ? body.length : undefined),
      }),
    );
    done.push({ PartNumber: i + 1, ETag });
  }
  await starter.send(
    new CompleteMultipartUploadCommand({
      Bucket: bucket.name,
      Key: key,
      UploadId,
      MultipartUpload: { Parts: done },
    }),
  );
}

describe('the Ceph test cluster', () => {
  it('stores an object, reads it whole, by its head and by ranges', async () => {
    const data = randomBytes(64 * 1024);
    await gateway1.send(new PutObjectCommand({ Bucket: bucket.name, Key: 'small', Body: data }));
    expect(sha256(await getBytes(gateway1, 'small'))).toBe(sha256(data));
    const head = await gateway1.send(new HeadObjectCommand({ Bucket: bucket.name, Key: 'small' }));
    expect(head.ContentLength).toBe(data.length);
    expect(await getBytes(gateway1, 'small', 'bytes=1000-1999')).toEqual(data.subarray(1000, 2000));
    expect(await getBytes(gateway1, 'small', `bytes=${String(data.length - 10)}-`)).toEqual(
      data.subarray(-10),
    );
  });

  it('completes a multipart upload whose parts went through the other gateway', async () => {
    const parts = [randomBytes(5 * MiB), randomBytes(5 * MiB), randomBytes(MiB + 17)];
    await multipart(
      'across',
      gateway1,
      parts.map((body) => ({ client: gateway2, body })),
    );
    const whole = Buffer.concat(parts);
    for (const client of [gateway1, gateway2])
      expect(sha256(await getBytes(client, 'across'))).toBe(sha256(whole));
    // A range across the boundary of parts 1 and 2.
    const boundary = 5 * MiB;
    expect(await getBytes(gateway2, 'across', `bytes=${boundary - 5}-${boundary + 4}`)).toEqual(
      whole.subarray(boundary - 5, boundary + 5),
    );
  });

  it('stores a streamed part body byte for byte (checksums only when required)', async () => {
    const data = randomBytes(6 * MiB + 3);
    // Chunks of 64 KiB, as a registry streams a PATCH: no Buffer body the SDK could measure.
    const stream = (): Readable =>
      Readable.from(
        (function* () {
          for (let at = 0; at < data.length; at += 64 * 1024)
            yield data.subarray(at, at + 64 * 1024);
        })(),
      );
    await multipart('streamed', gateway1, [
      { client: gateway1, body: stream, length: data.length },
    ]);
    const stored = await getBytes(gateway2, 'streamed');
    expect(stored.length).toBe(data.length);
    expect(sha256(stored)).toBe(sha256(data));
  });

  it('refuses a part under 5 MiB that is not the last one', async () => {
    const small = randomBytes(1024);
    await expect(
      multipart('too-small', gateway1, [
        { client: gateway1, body: small },
        { client: gateway1, body: small },
      ]),
    ).rejects.toMatchObject({ name: 'EntityTooSmall' });
  });

  it('copies an existing object in as the last part', async () => {
    const first = randomBytes(5 * MiB);
    const source = randomBytes(300 * 1024);
    await gateway1.send(new PutObjectCommand({ Bucket: bucket.name, Key: 'source', Body: source }));
    const { UploadId } = await gateway1.send(
      new CreateMultipartUploadCommand({ Bucket: bucket.name, Key: 'copied' }),
    );
    const one = await gateway1.send(
      new UploadPartCommand({
        ...{ Bucket: bucket.name, Key: 'copied', UploadId, PartNumber: 1, Body: first },
      }),
    );
    const two = await gateway2.send(
      new UploadPartCopyCommand({
        ...{ Bucket: bucket.name, Key: 'copied', UploadId, PartNumber: 2 },
        CopySource: `${bucket.name}/source`,
      }),
    );
    await gateway1.send(
      new CompleteMultipartUploadCommand({
        ...{ Bucket: bucket.name, Key: 'copied', UploadId },
        MultipartUpload: {
          Parts: [
            { PartNumber: 1, ETag: one.ETag },
            { PartNumber: 2, ETag: two.CopyPartResult?.ETag },
          ],
        },
      }),
    );
    expect(sha256(await getBytes(gateway1, 'copied'))).toBe(sha256(Buffer.concat([first, source])));
  });
});

describe('the S3 test helpers', () => {
  it("give Berth's storage URL and credentials", () => {
    const [endpoint] = s3Cluster().endpoints;
    const url = new URL(bucket.storageUrl('blobs/here'));
    expect(url.protocol).toBe('s3:');
    expect(url.hostname).toBe(bucket.name);
    expect(url.pathname).toBe('/blobs/here');
    expect(Object.fromEntries(url.searchParams)).toEqual({
      endpoint,
      region: 'us-east-1',
      forcePathStyle: 'true',
    });
    expect(new URL(bucket.storageUrl()).pathname).toBe('');
    expect(s3Env()).toEqual({
      AWS_ACCESS_KEY_ID: s3Cluster().accessKey,
      AWS_SECRET_ACCESS_KEY: s3Cluster().secretKey,
    });
  });

  it('remove a bucket with more than a page of objects and an open upload', async () => {
    const other = await createTestBucket();
    const keys = Array.from({ length: 1001 }, (_, i) => `k/${String(i)}`);
    for (let at = 0; at < keys.length; at += 50)
      await Promise.all(
        keys
          .slice(at, at + 50)
          .map((Key) =>
            gateway1.send(new PutObjectCommand({ Bucket: other.name, Key, Body: Key })),
          ),
      );
    await gateway1.send(new CreateMultipartUploadCommand({ Bucket: other.name, Key: 'open' }));
    await removeBucket(other.name);
    await expect(
      gateway2.send(new HeadBucketCommand({ Bucket: other.name })),
    ).rejects.toMatchObject({ $metadata: { httpStatusCode: 404 } });
    // Removing it again is no error (an afterAll after a failed create).
    await removeBucket(other.name);
  });
});
