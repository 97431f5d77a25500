/**
 * @module storage/driver
 * A StorageDriver is a byte store addressed by opaque keys (`blobs/sha256/ab/ab…`, `uploads/<id>`).
 * It knows nothing about images, repositories or HTTP. Keys are built only by
 * `registry/layout.ts`; every driver checks them with {@link assertKey} before any I/O.
 *
 * Contract shared by every implementation (filesystem now, S3 later):
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
   * The smallest chunk (but the last) an append may bring; 0 when any size works.
   * S3 multipart uploads need 5 MiB.
   */
  readonly minChunkLength: number;

  stat(key: string): Promise<ObjectStat | null>;
  /** Opens a stream of the object (or of `range`, inclusive); null when absent. The caller consumes or destroys it. */
  read(
    key: string,
    options?: { range?: ByteRange; signal?: AbortSignal },
  ): Promise<Readable | null>;
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
   * Writes `body` at `offset` of an appendable object (an upload), discarding anything stored
   * beyond it (left by a crash), and returns the new length once the bytes are durable. An append
   * at offset 0 creates the object; at a later offset a missing object is {@link ObjectMissingError}.
   * On failure the object is cut back to `offset` before the error is rethrown, so a retry can
   * resume there. The object's name becomes durable when it is moved into place.
   */
  append(key: string, offset: number, body: Readable, options?: AppendOptions): Promise<number>;
}

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
