import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Digest } from '../core/digest.js';
import type { RepoName } from '../core/names.js';
import { openSqliteMetaStore } from '../meta/sqlite/open.js';
import type { MetaStore } from '../meta/store.js';
import type { StorageDriver, UploadHandle } from '../storage/driver.js';
import { createFsDriver } from '../storage/fs/driver.js';
import { blobKey } from './layout.js';
import { createQuotaService } from './quota.js';
import { createUploadService, type UploadService } from './uploads.js';

// Two upload services over one database and one storage stand for two replicas: a session
// started on one must go on and finish on the other, from the row alone.

const repo = { requested: 'team/app' as RepoName, name: 'team/app' as RepoName, namespace: 'team' };
let dir: string;
let meta: MetaStore;
let storage: StorageDriver;
/** The storage's reads of upload bytes: each one is a re-hash of everything received so far. */
let rereads: number;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'berth-uploads-'));
  meta = await openSqliteMetaStore(path.join(dir, 'meta.sqlite'));
  await meta.createNamespace({ name: 'team', public: false });
  const fs = await createFsDriver({ root: path.join(dir, 'blobs') });
  rereads = 0;
  // The real driver, with its upload reads counted.
  storage = Object.assign(Object.create(fs) as StorageDriver, {
    readUpload: (handle: UploadHandle) => {
      rereads += 1;
      return fs.readUpload(handle);
    },
  });
});

afterEach(async () => {
  await meta.close();
  await rm(dir, { recursive: true, force: true });
});

function replica(persistHashState: boolean): UploadService {
  return createUploadService({
    meta,
    storage,
    quota: createQuotaService({ meta, graceMs: 3_600_000 }),
    persistHashState,
  });
}

const chunk = (bytes: Buffer) => ({ body: Readable.from([bytes]), range: null });
const sha256 = (bytes: Buffer) =>
  `sha256:${createHash('sha256').update(bytes).digest('hex')}` as Digest;

describe('an upload moving between replicas', () => {
  it('finishes on another replica from the saved hash state, without reading the bytes again', async () => {
    const [a, b] = [replica(true), replica(true)];
    const [first, second, last] = [randomBytes(300_000), randomBytes(1), randomBytes(70_000)];
    const blob = Buffer.concat([first, second, last]);
    const { id } = await a.start(repo, 'alice');
    await a.append(repo, id, 'alice', chunk(first));
    await b.append(repo, id, 'alice', chunk(second));
    const done = await a.complete(repo, id, 'alice', sha256(blob), chunk(last));
    expect(done).toEqual({ digest: sha256(blob), size: blob.length });
    expect(rereads).toBe(0);
    const stored = await storage.read(blobKey(sha256(blob)));
    const back: Buffer[] = [];
    for await (const c of stored ?? []) back.push(c as Buffer);
    expect(Buffer.concat(back).equals(blob)).toBe(true);
  });

  it('refuses a wrong digest on the other replica as it would on the first', async () => {
    const [a, b] = [replica(true), replica(true)];
    const { id } = await a.start(repo, 'alice');
    await a.append(repo, id, 'alice', chunk(randomBytes(1000)));
    await expect(
      b.complete(repo, id, 'alice', sha256(Buffer.from('something else')), null),
    ).rejects.toMatchObject({ code: 'DIGEST_INVALID' });
    expect(rereads).toBe(0);
    await expect(b.status(repo, id, 'alice')).rejects.toMatchObject({
      code: 'BLOB_UPLOAD_UNKNOWN',
    });
  });

  it('without saved state (one process owns its uploads) the other replica re-reads the bytes', async () => {
    const [a, b] = [replica(false), replica(false)];
    const blob = randomBytes(50_000);
    const { id } = await a.start(repo, 'alice');
    await a.append(repo, id, 'alice', chunk(blob));
    expect((await meta.getUpload(id))?.hashState).toBeNull();
    await b.complete(repo, id, 'alice', sha256(blob), null);
    expect(rereads).toBe(1);
  });

  it('a saved state that does not load (a damaged row) falls back to re-reading, never to trusting', async () => {
    const [a, b] = [replica(true), replica(true)];
    const blob = randomBytes(40_000);
    const { id } = await a.start(repo, 'alice');
    await a.append(repo, id, 'alice', chunk(blob));
    const row = await meta.getUpload(id);
    if (!row?.hashState) throw new Error('no hash state was saved');
    const damaged = Uint8Array.from(row.hashState, (v) => v ^ 0xff);
    expect(
      await meta.advanceUpload(id, row.offset, row.offset, row.updatedAt, {
        handle: row.handle,
        hashState: damaged,
      }),
    ).toBe(true);
    await b.complete(repo, id, 'alice', sha256(blob), null);
    expect(rereads).toBe(1);
  });
});
