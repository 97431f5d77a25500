/**
 * @module registry/uploads
 * Upload sessions: POST starts one, PATCH appends, PUT `?digest=` verifies and commits.
 *
 * Bytes are hashed as they are written. The running hash lives in this process's memory; when it
 * is missing (a restart, an aborted chunk, or a final digest of another algorithm than the one we
 * hashed with) the stored bytes are re-hashed at commit: never skipped. The offset in the database
 * is the truth about how much of an upload is durable; a chunk is acknowledged only after its
 * bytes are fsync'ed and the offset advanced with a compare-and-set.
 */
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  createDigester,
  digestAlgorithm,
  type Digest,
  type DigestAlgorithm,
  type Digester,
} from '../core/digest.js';
import { RegistryError, digestInvalid, uploadUnknown } from '../core/errors.js';
import type { NamespaceMeta, UploadMeta, UploadRow } from '../meta/store.js';
import { LengthMismatchError, ObjectMissingError, type StorageDriver } from '../storage/driver.js';
import type { BlobInfo } from './blobs.js';
import type { QuotaService } from './quota.js';
import { blobKey, parseUploadId, UPLOADS_PREFIX, uploadKey, type UploadId } from './layout.js';
import { assertNamespace, namespaceMissing, type RepositoryRef } from './repository.js';

export interface UploadState {
  id: UploadId;
  /** Bytes received so far. */
  offset: number;
}

/** `Content-Range: <start>-<end>` of a chunk, inclusive. */
export interface ChunkRange {
  start: number;
  end: number;
}

export interface Chunk {
  body: Readable;
  /** When given, the chunk must start at the current offset and be exactly this long. */
  range: ChunkRange | null;
}

export interface UploadService {
  /** `owner` is the principal starting the session: only it may continue, finish or cancel it. */
  start(repo: RepositoryRef, owner: string, algorithm?: DigestAlgorithm): Promise<UploadState>;
  status(repo: RepositoryRef, id: string, owner: string): Promise<UploadState>;
  append(
    repo: RepositoryRef,
    id: string,
    owner: string,
    chunk: Chunk,
    signal?: AbortSignal,
  ): Promise<UploadState>;
  /** Appends the optional last chunk, verifies the digest and makes the blob visible in `repo`. */
  complete(
    repo: RepositoryRef,
    id: string,
    owner: string,
    digest: Digest,
    chunk: Chunk | null,
    signal?: AbortSignal,
  ): Promise<BlobInfo>;
  cancel(repo: RepositoryRef, id: string, owner: string): Promise<void>;
  /** Deletes sessions idle since before `idleSince`; returns how many. */
  purgeStale(idleSince: Date): Promise<number>;
  /** At start, before serving: drops upload files that have no session (a crash mid-POST). */
  removeOrphans(): Promise<number>;
}

/** Stale sessions read per query by purgeStale. */
export const PURGE_PAGE_SIZE = 100;

interface HashState {
  digester: Digester;
  offset: number;
}

export function createUploadService(deps: {
  meta: UploadMeta & Pick<NamespaceMeta, 'getNamespace'>;
  storage: StorageDriver;
  quota: QuotaService;
  clock?: () => Date;
}): UploadService {
  const { meta, storage } = deps;
  const clock = deps.clock ?? (() => new Date());
  /** Running hashes of the sessions this process is receiving. */
  const hashes = new Map<string, HashState>();
  /** Sessions with a request in flight: one writer at a time. */
  const busy = new Set<string>();

  async function load(repo: RepositoryRef, rawId: string, owner: string): Promise<UploadRow> {
    const id = parseUploadId(rawId);
    const row = id ? await meta.getUpload(id) : null;
    // A session is bound to the repository and the principal that started it: to anyone else
    // (a stolen upload URL, another repository) it does not exist.
    if (!row || row.repository !== repo.name || row.owner !== owner) throw uploadUnknown(rawId);
    return row;
  }

  async function withLock<T>(row: UploadRow, work: () => Promise<T>): Promise<T> {
    if (busy.has(row.id))
      throw rangeInvalid(row.offset, 'another request is writing to this upload');
    busy.add(row.id);
    try {
      return await work();
    } finally {
      busy.delete(row.id);
    }
  }

  /**
   * Appends a chunk. With `record` the new offset is stored (compare-and-set) before the chunk is
   * acknowledged; the final chunk of a PUT skips that, because the commit transaction that
   * follows replaces the session row anyway.
   */
  async function write(
    row: UploadRow,
    chunk: Chunk,
    record: boolean,
    signal?: AbortSignal,
  ): Promise<UploadRow> {
    const { range } = chunk;
    if (range && range.start !== row.offset) {
      throw rangeInvalid(
        row.offset,
        `chunk starts at ${range.start}, but the upload has ${row.offset} bytes`,
      );
    }
    let state = hashes.get(row.id);
    if (state?.offset !== row.offset) {
      state =
        row.offset === 0
          ? { digester: createDigester(row.algorithm as DigestAlgorithm), offset: 0 }
          : undefined;
    }
    hashes.delete(row.id);
    const digester = state?.digester;
    let offset: number;
    try {
      offset = await storage.append(uploadKey(row.id as UploadId), row.offset, chunk.body, {
        ...(signal ? { signal } : {}),
        ...(digester ? { onData: (b: Buffer) => digester.update(b) } : {}),
        ...(range ? { expectedLength: range.end - range.start + 1 } : {}),
      });
    } catch (e) {
      if (e instanceof ObjectMissingError) {
        // The session's bytes are gone (a power cut before they were committed): it is unknown now.
        await discard(row.id);
        throw uploadUnknown(row.id);
      }
      if (e instanceof LengthMismatchError) {
        throw new RegistryError(
          'SIZE_INVALID',
          `chunk length does not match its Content-Range (${e.expected} bytes)`,
          { expected: e.expected, received: e.actual },
        );
      }
      throw e;
    }
    const updatedAt = clock().toISOString();
    if (record && !(await meta.advanceUpload(row.id, row.offset, offset, updatedAt))) {
      // Cancelled or expired while we wrote.
      throw uploadUnknown(row.id);
    }
    if (digester) hashes.set(row.id, { digester, offset });
    return { ...row, offset, updatedAt };
  }

  async function computeDigest(row: UploadRow, algorithm: DigestAlgorithm): Promise<Digest> {
    const state = hashes.get(row.id);
    if (state && state.offset === row.offset && state.digester.algorithm === algorithm)
      return state.digester.digest();
    const digester = createDigester(algorithm);
    const stream = await storage.read(uploadKey(row.id as UploadId));
    if (!stream) throw uploadUnknown(row.id);
    for await (const chunk of stream) digester.update(chunk as Buffer);
    return digester.digest();
  }

  async function discard(id: string): Promise<void> {
    hashes.delete(id);
    await meta.deleteUpload(id);
    await storage.delete(uploadKey(id as UploadId));
  }

  return {
    async start(repo, owner, algorithm = 'sha256') {
      // One read of the namespace: it must exist, and its quota may refuse the upload.
      const overQuota = await deps.quota.refusal(await assertNamespace(meta, repo));
      if (overQuota) throw overQuota;
      const id = randomUUID() as UploadId;
      const at = clock().toISOString();
      await meta.createUpload({
        id,
        repository: repo.name,
        owner,
        algorithm,
        offset: 0,
        createdAt: at,
        updatedAt: at,
      });
      hashes.set(id, { digester: createDigester(algorithm), offset: 0 });
      return { id, offset: 0 };
    },

    async status(repo, id, owner) {
      const row = await load(repo, id, owner);
      return { id: row.id as UploadId, offset: row.offset };
    },

    async append(repo, id, owner, chunk, signal) {
      const row = await load(repo, id, owner);
      return withLock(row, async () => {
        const next = await write(row, chunk, true, signal);
        return { id: next.id as UploadId, offset: next.offset };
      });
    },

    async complete(repo, id, owner, digest, chunk, signal) {
      let row = await load(repo, id, owner);
      return withLock(row, async () => {
        // Without a final chunk an empty one is written all the same: it creates the bytes of an
        // empty upload, and it cuts away anything past the acknowledged offset that a crash
        // mid-chunk left in the file, so exactly the acknowledged bytes are committed.
        row = await write(row, chunk ?? { body: Readable.from([]), range: null }, false, signal);
        const actual = await computeDigest(row, digestAlgorithm(digest));
        if (actual !== digest) {
          // Nothing half-written stays behind: the session and its bytes go.
          await discard(row.id);
          throw digestInvalid('provided digest did not match uploaded content', {
            digest,
            actual,
            size: row.offset,
          });
        }
        const overQuota = await deps.quota.refusal(repo.namespace, { digest, size: row.offset });
        if (overQuota) {
          await discard(row.id);
          throw overQuota;
        }
        const source = uploadKey(row.id as UploadId);
        const target = blobKey(digest);
        // Stored already (the same content pushed before): our copy stays in uploads/ until the
        // row is committed, because GC may be taking the stored file away right now.
        const stored = (await storage.stat(target)) !== null;
        if (!stored) {
          try {
            await storage.move(source, target);
          } catch (e) {
            if (e instanceof ObjectMissingError) throw uploadUnknown(row.id);
            throw e;
          }
        }
        hashes.delete(row.id);
        const result = await meta.completeUpload(
          row.id,
          repo.namespace,
          { repository: repo.name, digest, size: row.offset },
          // Inside the transaction, under GC's lock: the file is there, or ours goes in now.
          async () => {
            if (await storage.stat(target)) return true;
            if (!stored) return false;
            await storage.move(source, target);
            return true;
          },
        );
        if (result === 'content-missing') {
          // Only when a row without its file was being collected at this very moment.
          await discard(row.id);
          throw new RegistryError(
            'BLOB_UPLOAD_UNKNOWN',
            'the uploaded blob was removed by garbage collection as the upload completed; push it again',
            { digest },
          );
        }
        if (stored) await storage.delete(source);
        if (result === 'namespace-missing') throw namespaceMissing(repo.namespace);
        return { digest, size: row.offset };
      });
    },

    async cancel(repo, id, owner) {
      const row = await load(repo, id, owner);
      await discard(row.id);
    },

    async purgeStale(idleSince) {
      let purged = 0;
      // Pages by id: busy sessions stay in the table, so reading "the first page" again would
      // find them again, forever once a whole page is busy.
      let after: string | undefined;
      for (;;) {
        const stale = await meta.listStaleUploads(idleSince.toISOString(), PURGE_PAGE_SIZE, after);
        const idle = stale.filter((u) => !busy.has(u.id));
        for (const upload of idle) await discard(upload.id);
        purged += idle.length;
        after = stale.at(-1)?.id;
        if (stale.length < PURGE_PAGE_SIZE) return purged;
      }
    },

    async removeOrphans() {
      let removed = 0;
      for await (const key of storage.list(UPLOADS_PREFIX)) {
        const id = parseUploadId(key.slice(UPLOADS_PREFIX.length + 1));
        if (id && (await meta.getUpload(id))) continue;
        await storage.delete(key);
        removed++;
      }
      return removed;
    },
  };
}

function rangeInvalid(offset: number, message: string): RegistryError {
  return new RegistryError(
    'RANGE_INVALID',
    message,
    { offset },
    { Range: `0-${Math.max(offset - 1, 0)}` },
  );
}
