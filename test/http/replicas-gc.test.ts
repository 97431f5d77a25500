/**
 * Garbage collection in the scale-out mode: three replicas on PostgreSQL and Ceph RGW behind
 * nginx (test/helpers/replicas.ts). On S3 a blob is a pointer at its content address and a data
 * object where its upload put the bytes (ADR 0007); GC moves the pointer to the trash inside the
 * transaction that deletes the row and empties the trash after it. Checked in the bucket itself:
 * what GC removes leaves neither pointer nor data behind, and what it keeps pulls back intact.
 */
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pullBlobHashed, pushImage, sha256, type PushedImage } from '../helpers/oci.js';
import { startReplicaSet, type ReplicaSet } from '../helpers/replicas.js';
import { s3Client } from '../helpers/s3.js';

let set: ReplicaSet;

/** Keys in the bucket per top-level prefix (`blobs`, `data`, `trash`, `uploads`, …). */
async function objectsByPrefix(): Promise<Record<string, number>> {
  const client = s3Client();
  const counts: Record<string, number> = {};
  try {
    let token: string | undefined;
    do {
      const page = await client.send(
        new ListObjectsV2Command({ Bucket: set.bucket, ContinuationToken: token }),
      );
      for (const { Key } of page.Contents ?? []) {
        const top = (Key ?? '').split('/')[0] ?? '';
        counts[top] = (counts[top] ?? 0) + 1;
      }
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
    } while (token);
  } finally {
    client.destroy();
  }
  return counts;
}

const blobsOf = (image: PushedImage): string[] => [
  sha256(image.config),
  ...image.layers.map((l) => sha256(l)),
];

beforeAll(async () => {
  set = await startReplicaSet({ count: 3 });
  await set.replicas[0]?.app.registry.namespaces.create('team');
});

afterAll(async () => {
  await set.close();
});

describe('GC on three replicas over S3', () => {
  it('removes a deleted image, pointer and data, and keeps the other pulling intact', async () => {
    const gone = await pushImage(set.url, 'team/a', 'v1', { layers: 2 });
    const kept = await pushImage(set.url, 'team/b', 'v1', { layers: 2 });
    const before = await objectsByPrefix();
    expect(before['blobs']).toBe(6);
    expect(before['data']).toBe(6);
    expect(before['uploads'] ?? 0).toBe(0);

    const deleted = await fetch(`${set.url}/v2/team/a/manifests/${gone.digest}`, {
      method: 'DELETE',
    });
    expect(deleted.status).toBe(202);
    const run = await fetch(`${set.url}/api/v1/gc?grace=0`, { method: 'POST' });
    expect(run.status).toBe(200);
    const report = ((await run.json()) as { report: { removed: { blobs: string[] } } }).report;
    expect([...report.removed.blobs].sort()).toEqual(blobsOf(gone).sort());

    const after = await objectsByPrefix();
    expect(after['blobs']).toBe(3);
    expect(after['data']).toBe(3);
    expect(after['trash'] ?? 0).toBe(0);
    // Every replica answers for what is left and for what went (round robin: one request each).
    for (let i = 0; i < set.replicas.length; i++) {
      for (const digest of blobsOf(kept)) {
        expect(await pullBlobHashed(set.url, 'team/b', digest)).toMatchObject({
          status: 200,
          digest,
        });
      }
      for (const digest of blobsOf(gone)) {
        expect((await pullBlobHashed(set.url, 'team/a', digest)).status).toBe(404);
      }
    }

    // A second run, on whichever replica nginx picks, finds nothing more.
    const again = await fetch(`${set.url}/api/v1/gc?grace=0`, { method: 'POST' });
    const second = ((await again.json()) as { report: { removed: { blobs: string[] } } }).report;
    expect(second.removed.blobs).toEqual([]);
    expect(await objectsByPrefix()).toEqual(after);
  });
});
