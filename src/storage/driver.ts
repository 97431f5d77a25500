/**
 * @module storage/driver
 * A StorageDriver is a byte store addressed by opaque keys (`blobs/sha256/ab/ab…`, `uploads/<id>`).
 * It knows nothing about images, repositories or HTTP. Keys are built only by
 * `registry/layout.ts`; every driver checks them with {@link assertKey} before any I/O.
 *
 * Contract shared by every implementation (filesystem, S3):
 * - A method that resolves has made its effect durable (fsync on the filesystem, a completed
 *   request on S3). A 2xx answered by the registry rests on that.
 * - A miss is `null`, never an exception; failures throw {@link StorageError}.
 */
import type { Readable } from 'node:stream';
import type { ByteRange } from '../core/types.js';

export interface ObjectStat {
  size: number;
  /** The last write, where the store records one (fsck's grace period for files without a row). */
  modifiedAt?: Date;
}

export interface WriteOptions {
  /**
   * False skips making the change durable before resolving (no directory fsync): only for GC's
   * trash, where a crash that loses the change leaves a state the next run recovers either way.
   */
  sync?: boolean;
}

export interface AppendOptions {
  signal?: AbortSignal;
  /** Called with each chunk, in order, as it is written (the registry hashes here). */
  onData?: (chunk: Buffer) => void;
  /** When set, a body of any other length fails the append (and is cut back). */
  expectedLength?: number;
}

export interface StorageDriver {
  readonly name: string;
  /**
   * The chunk size (but the last) the driver stores without re-sending bytes, announced to
   * clients as `OCI-Chunk-Min-Length`; 0 when any size is as good. Smaller chunks still work.
   * S3 multipart parts need 5 MiB.
   */
  readonly minChunkLength: number;

  stat(key: string): Promise<ObjectStat | null>;
  /** Opens a stream of the object (or of `range`, inclusive); null when absent. The caller consumes or destroys it. */
  read(
    key: string,
    options?: { range?: ByteRange; signal?: AbortSignal },
  ): Promise<Readable | null>;
  /**
   * A URL that serves the object (a Range header included) to anyone holding it, without the
   * registry, until it expires: pulls are then redirected there and the bytes skip Berth. Only
   * drivers set up to hand reads off have it (S3 with `redirect=true`); null when the object is
   * absent, and the caller then reads as usual (and finds the miss there).
   */
  readUrl?(key: string, options: { expiresInSeconds: number }): Promise<string | null>;
  /** Atomically creates or replaces a small object. */
  writeSmall(key: string, data: Uint8Array): Promise<void>;
  /** Idempotent. */
  delete(key: string, options?: WriteOptions): Promise<void>;
  /**
   * Moves an object into place atomically. When `to` already exists the source is dropped
   * and the target kept: callers only move content-addressed data, so both hold the same bytes.
   */
  move(from: string, to: string, options?: WriteOptions): Promise<void>;
  /** Keys under a prefix, in no particular order. */
  list(prefix: string): AsyncIterable<string>;

  /**
   * Upload sessions, shaped as CNCF Distribution's FileWriter: open, write at the acknowledged
   * offset, commit into the content address, or abort. What a driver needs to continue an upload
   * (a file name; an S3 multipart upload id, its parts and the bytes not yet in a full part) is
   * the opaque `handle` the registry persists with the session row, so any replica can continue
   * any upload and nothing lives only in one process's memory.
   */
  beginUpload(id: string): Promise<UploadHandle>;
  /**
   * Writes `body` at `offset` (the upload's acknowledged size), discarding anything stored beyond
   * it (left by a crash or by a write whose handle was never recorded), and resolves once the
   * bytes are durable with the new size and the handle to record in place of the old one. On
   * failure the old handle stays valid at `offset`, so a retry can resume there. A missing upload
   * is {@link ObjectMissingError}; a body of another length than `expectedLength` is
   * {@link LengthMismatchError}.
   */
  writeUpload(
    handle: UploadHandle,
    offset: number,
    body: Readable,
    options?: AppendOptions,
  ): Promise<{ size: number; handle: UploadHandle }>;
  /**
   * The upload's bytes (to hash them again when no running hash is available), with the handle to
   * use from then on: an S3 driver must first assemble its parts. Null when the bytes are gone.
   */
  readUpload(handle: UploadHandle): Promise<{ body: Readable; handle: UploadHandle } | null>;
  /**
   * Makes `key` hold the upload's `size` bytes, without writing them again (a rename; on S3 a
   * completed multipart upload and a small pointer object at `key`). The upload is gone after.
   * When `key` exists already the target is kept and the upload dropped: both hold the same
   * content. {@link ObjectMissingError} when the upload's bytes are gone.
   */
  commitUpload(handle: UploadHandle, size: number, key: string): Promise<void>;
  /**
   * Removes what an uncommitted upload stored. Idempotent. Without a handle (a leftover found by
   * {@link listUploads} that has no session) it removes what it finds under the id.
   */
  abortUpload(id: string, handle?: UploadHandle): Promise<void>;
  /** Uploads that have something stored, with the time of their last write where known. */
  listUploads(): AsyncIterable<{ id: string; modifiedAt?: Date; size: number }>;
  /**
   * Only for drivers that keep an upload's bytes apart from the key they were committed to (S3:
   * `data/<id>` behind a pointer): removes those no key names any more and no session owns
   * (`hasSession(upload id)`), last written before `olderThan` (unless `dryRun`); how many. The
   * filesystem renames an upload into place, so it leaves nothing of the kind.
   */
  collectUnreferenced?(options: {
    olderThan: Date;
    dryRun: boolean;
    hasSession: (id: string) => Promise<boolean>;
  }): Promise<number>;
}

/**
 * A driver's state of one upload, as text (JSON for S3, the file's key for the filesystem). Read
 * back from the database, so a driver validates the handles it is given.
 */
export type UploadHandle = string;

export class StorageError extends Error {
  override readonly name = 'StorageError';
}

/**
 * The storage has no room for the write (a full disk, ENOSPC, or a quota, EDQUOT). What was being
 * written is cut back, as for any failed write; `where` names the file or object for the log.
 */
export class StorageFullError extends StorageError {
  constructor(
    readonly where: string,
    options?: ErrorOptions,
  ) {
    super(`no space left for ${where}`, options);
  }
}

/** The object an operation needs is not there (e.g. an upload's bytes lost with a power cut). */
export class ObjectMissingError extends StorageError {}

/** The body of an append was longer or shorter than `expectedLength`. */
export class LengthMismatchError extends StorageError {
  constructor(
    readonly expected: number,
    readonly actual: number,
  ) {
    super(`body length ${actual} differs from the expected ${expected} bytes`);
  }
}

const KEY = /^[A-Za-z0-9_-][A-Za-z0-9._-]*(?:\/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$/;

/** Rejects any key that is not a plain relative path of safe segments (no `..`, no absolute paths). */
export function assertKey(key: string): void {
  if (key.length > 1024 || !KEY.test(key))
    throw new StorageError(`invalid storage key ${JSON.stringify(key)}`);
}
