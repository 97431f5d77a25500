/**
 * @module registry/uploads
 * Upload sessions: POST starts one, PATCH appends, PUT `?digest=` verifies and commits.
 *
 * Bytes are hashed as they are written. The running hash lives in this process's memory and, when
 * `persistHashState` is on (several replicas share the metadata), its saved state also lives in
 * the session row, so whichever replica gets the next request goes on hashing. When there is none
 * (a restart without saved state, an aborted chunk, or a final digest of another algorithm than
 * the one we hashed with) the stored bytes are re-hashed at commit: never skipped. The row is the
 * truth about how much of an upload is durable and where (the storage driver's handle); a chunk
 * is acknowledged only after its bytes are durable and the row advanced with a compare-and-set.
 */
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  createDigester,
  digestAlgorithm,
  resumeDigester,
  type Digest,
  type DigestAlgorithm,
  type Digester,
} from '../core/digest.js';
import { RegistryError, digestInvalid, uploadUnknown } from '../core/errors.js';
import type { NamespaceMeta, UploadMeta, UploadRow } from '../meta/store.js';
import {
  LengthMismatchError,
  ObjectMissingError,
  type StorageDriver,
  type UploadHandle,
} from '../storage/driver.js';
import type { BlobInfo } from './blobs.js';
import type { QuotaService } from './quota.js';
import { blobKey, parseUploadId, type UploadId } from './layout.js';
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
  /** Save the running hash in the session row after each chunk (replicas share the uploads). */
  persistHashState?: boolean;
  clock?: () => Date;
}): UploadService {
  const { meta, storage } = deps;
  const persist = deps.persistHashState ?? false;
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
    const digester = await runningHash(row);
    hashes.delete(row.id);
    let written: { size: number; handle: UploadHandle };
    try {
      written = await storage.writeUpload(await handleOf(row), row.offset, chunk.body, {
        ...(signal ? { signal } : {}),
        ...(digester ? { onData: (b: Buffer) => digester.update(b) } : {}),
        ...(range ? { expectedLength: range.end - range.start + 1 } : {}),
      });
    } catch (e) {
      if (e instanceof ObjectMissingError) {
        // The session's bytes are gone (a power cut before they were committed): it is unknown now.
        await discard(row);
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
    const offset = written.size;
    const updatedAt = clock().toISOString();
    const state = {
      handle: written.handle,
      hashState: persist && digester?.save ? digester.save() : null,
    };
    if (record && !(await meta.advanceUpload(row.id, row.offset, offset, updatedAt, state))) {
      // Cancelled or expired while we wrote.
      throw uploadUnknown(row.id);
    }
    if (digester) hashes.set(row.id, { digester, offset });
    return { ...row, offset, updatedAt, ...state };
  }

  /**
   * The hash of the session's bytes so far: this process's own, else the one saved in the row,
   * else a new one at offset 0; undefined when only re-reading the bytes can tell.
   */
  async function runningHash(row: UploadRow): Promise<Digester | undefined> {
    const own = hashes.get(row.id);
    if (own?.offset === row.offset) return own.digester;
    const algorithm = row.algorithm as DigestAlgorithm;
    if (row.offset === 0)
      return persist ? await newResumable(algorithm) : createDigester(algorithm);
    if (!persist || !row.hashState) return undefined;
    return (await resumeDigester(algorithm, row.hashState)) ?? undefined;
  }

  async function newResumable(algorithm: DigestAlgorithm): Promise<Digester> {
    const digester = await resumeDigester(algorithm);
    if (!digester) throw new Error('a new digester has no state to load');
    return digester;
  }

  /** Sessions from before handles were stored ('') are files the driver finds by id. */
  async function handleOf(row: UploadRow): Promise<UploadHandle> {
    return row.handle === '' ? storage.beginUpload(row.id) : row.handle;
  }

  /** The digest of the stored bytes, and the handle to commit them with from then on. */
  async function computeDigest(
    row: UploadRow,
    algorithm: DigestAlgorithm,
  ): Promise<{ digest: Digest; handle: UploadHandle }> {
    const handle = await handleOf(row);
    const running = row.algorithm === algorithm ? await runningHash(row) : undefined;
    if (running) return { digest: running.digest(), handle };
    const stored = await storage.readUpload(handle);
    if (!stored) throw uploadUnknown(row.id);
    const digester = createDigester(algorithm);
    for await (const chunk of stored.body) digester.update(chunk as Buffer);
    return { digest: digester.digest(), handle: stored.handle };
  }

  async function discard(row: Pick<UploadRow, 'id' | 'handle'>): Promise<void> {
    hashes.delete(row.id);
    await meta.deleteUpload(row.id);
    await storage.abortUpload(row.id, row.handle === '' ? undefined : row.handle);
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
        handle: await storage.beginUpload(id),
      });
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
        const computed = await computeDigest(row, digestAlgorithm(digest));
        const handle = computed.handle;
        const settled = { id: row.id, handle };
        if (computed.digest !== digest) {
          // Nothing half-written stays behind: the session and its bytes go.
          await discard(settled);
          throw digestInvalid('provided digest did not match uploaded content', {
            digest,
            actual: computed.digest,
            size: row.offset,
          });
        }
        const size = row.offset;
        const overQuota = await deps.quota.refusal(repo.namespace, { digest, size });
        if (overQuota) {
          await discard(settled);
          throw overQuota;
        }
        const target = blobKey(digest);
        const commit = async (): Promise<void> => {
          try {
            await storage.commitUpload(handle, size, target);
          } catch (e) {
            if (e instanceof ObjectMissingError) throw uploadUnknown(row.id);
            throw e;
          }
        };
        // Stored already (the same content pushed before): our copy stays an upload until the
        // row is committed, because GC may be taking the stored file away right now.
        const stored = (await storage.stat(target)) !== null;
        if (!stored) await commit();
        hashes.delete(row.id);
        const result = await meta.completeUpload(
          row.id,
          repo.namespace,
          { repository: repo.name, digest, size },
          // Inside the transaction, under GC's lock: the file is there, or ours goes in now.
          async () => {
            if (await storage.stat(target)) return true;
            if (!stored) return false;
            await commit();
            return true;
          },
        );
        if (result === 'content-missing') {
          // Only when a row without its file was being collected at this very moment.
          await discard(settled);
          throw new RegistryError(
            'BLOB_UPLOAD_UNKNOWN',
            'the uploaded blob was removed by garbage collection as the upload completed; push it again',
            { digest },
          );
        }
        if (stored) await storage.abortUpload(row.id, handle);
        if (result === 'namespace-missing') throw namespaceMissing(repo.namespace);
        return { digest, size };
      });
    },

    async cancel(repo, id, owner) {
      const row = await load(repo, id, owner);
      await discard(row);
    },

    async purgeStale(idleSince) {
      let purged = 0;
      // Pages by id: busy sessions stay in the table, so reading "the first page" again would
      // find them again, forever once a whole page is busy.
      let after: string | undefined;
      for (;;) {
        const stale = await meta.listStaleUploads(idleSince.toISOString(), PURGE_PAGE_SIZE, after);
        const idle = stale.filter((u) => !busy.has(u.id));
        for (const upload of idle) await discard(upload);
        purged += idle.length;
        after = stale.at(-1)?.id;
        if (stale.length < PURGE_PAGE_SIZE) return purged;
      }
    },

    async removeOrphans() {
      let removed = 0;
      for await (const upload of storage.listUploads()) {
        const id = parseUploadId(upload.id);
        if (id && (await meta.getUpload(id))) continue;
        await storage.abortUpload(upload.id);
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
