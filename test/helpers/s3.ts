/**
 * S3 for test files of the `s3` project: clients of the run's throwaway Ceph gateways
 * (`ceph-setup.ts`), and buckets of their own that `removeBucket` leaves no trace of.
 */
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { inject } from 'vitest';

/** The run's gateways (`http://127.0.0.1:PORT`, all serving the same buckets) and keys. */
export function s3Cluster(): { endpoints: string[]; accessKey: string; secretKey: string } {
  return inject('s3');
}

function firstEndpoint(): string {
  const endpoint = s3Cluster().endpoints[0];
  if (endpoint === undefined) throw new Error('no S3 gateway: is this file in the s3 project?');
  return endpoint;
}

/**
 * A client as Berth configures its own (ENGINES.md §4): path-style addressing, and checksums only
 * where S3 requires them (with the SDK's default, streamed bodies are sent aws-chunked with a
 * trailer, which RGW 16 refuses with 411).
 */
export function s3Client(endpoint = firstEndpoint()): S3Client {
  const { accessKey, secretKey } = s3Cluster();
  return new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: accessKey, secretAccessKey: secretKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** The credentials as Berth reads them: from the environment of `berth serve` and the CLI. */
export function s3Env(): { AWS_ACCESS_KEY_ID: string; AWS_SECRET_ACCESS_KEY: string } {
  const { accessKey, secretKey } = s3Cluster();
  return { AWS_ACCESS_KEY_ID: accessKey, AWS_SECRET_ACCESS_KEY: secretKey };
}

export interface TestBucket {
  name: string;
  /** Berth's storage URL for the bucket: `s3://BUCKET[/PREFIX]?endpoint=…&region=…&forcePathStyle=true`. */
  storageUrl(prefix?: string, endpoint?: string): string;
}

/** A new bucket of a unique name; remove it with `removeBucket` in afterAll. */
export async function createTestBucket(): Promise<TestBucket> {
  const name = `berth-test-${String(process.pid)}-${Math.random().toString(36).slice(2, 10)}`;
  const client = s3Client();
  try {
    await client.send(new CreateBucketCommand({ Bucket: name }));
  } finally {
    client.destroy();
  }
  return {
    name,
    storageUrl(prefix, endpoint = firstEndpoint()) {
      const query = new URLSearchParams({ endpoint, region: 'us-east-1', forcePathStyle: 'true' });
      return `s3://${name}${prefix === undefined ? '' : `/${prefix}`}?${query.toString()}`;
    },
  };
}

/**
 * Aborts the bucket's open multipart uploads, deletes every object (page by page) and then the
 * bucket. A bucket that does not exist (never made, or removed already) is no error.
 */
export async function removeBucket(name: string): Promise<void> {
  const client = s3Client();
  try {
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      const page = await client.send(
        new ListMultipartUploadsCommand({
          Bucket: name,
          KeyMarker: keyMarker,
          UploadIdMarker: uploadIdMarker,
        }),
      );
      for (const upload of page.Uploads ?? [])
        await client.send(
          new AbortMultipartUploadCommand({
            Bucket: name,
            Key: upload.Key,
            UploadId: upload.UploadId,
          }),
        );
      if (page.IsTruncated !== true) break;
      keyMarker = page.NextKeyMarker;
      uploadIdMarker = page.NextUploadIdMarker;
    }
    let token: string | undefined;
    do {
      const page = await client.send(
        new ListObjectsV2Command({ Bucket: name, ContinuationToken: token }),
      );
      const keys = (page.Contents ?? []).map(({ Key }) => ({ Key }));
      if (keys.length > 0) {
        const result = await client.send(
          new DeleteObjectsCommand({ Bucket: name, Delete: { Objects: keys, Quiet: true } }),
        );
        const failed = result.Errors?.[0];
        if (failed)
          throw new Error(
            `cannot delete ${String(failed.Key)} from ${name}: ${String(failed.Code)}`,
          );
      }
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    await client.send(new DeleteBucketCommand({ Bucket: name }));
  } catch (e) {
    if (e instanceof S3ServiceException && e.name === 'NoSuchBucket') return;
    throw e;
  } finally {
    client.destroy();
  }
}
