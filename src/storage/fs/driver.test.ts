import { mkdtemp, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { expect, it } from 'vitest';
import { describeStorageDriver } from '../../../test/contract/storage-driver.contract.js';
import { createFsDriver } from './driver.js';

describeStorageDriver('filesystem', async () =>
  createFsDriver({ root: await mkdtemp(path.join(tmpdir(), 'berth-fs-')) }),
);

it('keeps upload files private to the server user (0600)', async () => {
  const root = await mkdtemp(path.join(tmpdir(), 'berth-fs-'));
  const driver = await createFsDriver({ root });
  await driver.append('uploads/private', 0, Readable.from([Buffer.from('secret layer')]));
  expect((await stat(path.join(root, 'uploads', 'private'))).mode & 0o777).toBe(0o600);
});
