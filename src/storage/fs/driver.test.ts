import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, expect, it } from 'vitest';
import { describeStorageDriver } from '../../../test/contract/storage-driver.contract.js';
import type { StorageDriver } from '../driver.js';
import { createFsDriver, writeBatchFor } from './driver.js';

const roots: string[] = [];
/** A fresh driver root, removed when the file's tests end. */
async function tempRoot(): Promise<string> {
  const root = await mkdtemp(path.join(tmpdir(), 'berth-fs-'));
  roots.push(root);
  return root;
}
afterAll(async () => {
  await Promise.all(roots.map((root) => rm(root, { recursive: true, force: true })));
});

/** Each driver's root, so a second instance can be opened on it (another replica). */
const rootOf = new WeakMap<StorageDriver, string>();

describeStorageDriver(
  'filesystem',
  async () => {
    const root = await tempRoot();
    const driver = await createFsDriver({ root });
    rootOf.set(driver, root);
    return driver;
  },
  async (driver) => createFsDriver({ root: rootOf.get(driver) ?? '' }),
  // Temporary files of writeSmall live in tmp/ only while it runs.
  async (driver) => {
    const temps: string[] = [];
    for await (const key of driver.list('tmp')) temps.push(key);
    return temps;
  },
);

it('keeps upload files private to the server user (0600)', async () => {
  const root = await tempRoot();
  const driver = await createFsDriver({ root });
  const id = randomUUID();
  const handle = await driver.beginUpload(id);
  await driver.writeUpload(handle, 0, Readable.from([Buffer.from('secret layer')]));
  expect((await stat(path.join(root, 'uploads', id))).mode & 0o777).toBe(0o600);
});

it('makes the given directories at open, keeps what is there, and writes into them', async () => {
  const root = await tempRoot();
  const shards = ['blobs/sha256/00', 'blobs/sha256/ab', 'blobs/sha256/ff'];
  const first = await createFsDriver({ root, directories: shards });
  for (const shard of shards) expect((await stat(path.join(root, shard))).isDirectory()).toBe(true);
  await first.writeSmall('blobs/sha256/ab/abcd', Buffer.from('kept'));

  const again = await createFsDriver({ root, directories: [...shards, 'blobs/sha256/12'] });
  expect((await stat(path.join(root, 'blobs/sha256/12'))).isDirectory()).toBe(true);
  expect((await again.stat('blobs/sha256/ab/abcd'))?.size).toBe(4);
});

it('shares one write budget among concurrent uploads: 1 MiB batches alone, smaller in a crowd', () => {
  const MiB = 1024 * 1024;
  expect(writeBatchFor(0)).toBe(MiB);
  expect(writeBatchFor(7)).toBe(MiB);
  expect(writeBatchFor(15)).toBe(MiB / 2);
  expect(writeBatchFor(31)).toBe(256 * 1024);
  expect(writeBatchFor(1000)).toBe(256 * 1024);
  // What 16, 32 and 64 concurrent uploads may hold in batches together stays bounded.
  for (const n of [16, 32]) expect(n * writeBatchFor(n - 1)).toBeLessThanOrEqual(8 * MiB);
  expect(64 * writeBatchFor(63)).toBeLessThanOrEqual(16 * MiB);
});
