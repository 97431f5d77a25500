/**
 * @module storage/s3/handle
 * An S3 upload's state, as the text handle the registry keeps in the upload row. The bytes
 * received so far are, in order: the multipart upload's parts (at `data/<id>`, each a full part),
 * then the pieces (`uploads/<id>/piece-<offset>-<nonce>`, small objects holding what did not
 * fill a part).
 *
 * A handle comes back from the database, so it is validated before use: it may only name this
 * upload's own keys (`data/<id>`, `uploads/<id>/piece-<offset>-…` at the offsets its sizes give),
 * never a blob or another upload's objects.
 */
import { randomBytes } from 'node:crypto';
import { assertKey, StorageError, type UploadHandle } from '../driver.js';
import { MIN_PART_SIZE, MAX_PART_SIZE } from './config.js';

export interface Part {
  /** Part number, 1-based and contiguous. */
  n: number;
  etag: string;
  size: number;
}

export interface Piece {
  key: string;
  size: number;
  /**
   * The ETag its PUT returned; reading the piece back is conditional on it (`If-Match`), a
   * second guard beside the key's nonce against bytes the hash did not see.
   */
  etag: string;
}

export interface UploadState {
  v: 1;
  id: string;
  size: number;
  multipart?: { uploadId: string; parts: Part[] };
  pieces: Piece[];
  /** `data/<id>` holds all `size` bytes (readUpload assembled them): only the pointer is left. */
  done?: true;
  /**
   * Continued after readUpload: `data/<id>` holds an earlier assembly (uncommitted), which an
   * abort must delete too.
   */
  assembled?: true;
}

/** S3 allows 10 000 parts; pieces are bounded by what one part buffer re-reads. */
const MAX_PARTS = 10_000;
const MAX_PIECES = 10_000;
/** Upload ids are one plain key segment (the registry mints UUIDs). */
const ID = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;

export function dataKey(id: string): string {
  return `data/${id}`;
}

export function piecesPrefix(id: string): string {
  return `uploads/${id}`;
}

/**
 * A new piece's key: its offset, and a nonce that no other write uses. A key is never written
 * twice: a write whose handle is never recorded (failed, or lost the race to a second writer of
 * the same upload at the same offset: two replicas, a client sending two chunks at once) cannot
 * replace the bytes a recorded handle names, and RGW 16 ignores the copy preconditions
 * (`x-amz-copy-source-if-match`) that could otherwise catch it at commit.
 */
export function pieceKey(id: string, offset: number): string {
  return `${piecesPrefix(id)}/piece-${offset}-${randomBytes(6).toString('hex')}`;
}

/** Whether `key` is a piece key of upload `id` at `offset`. */
function isPieceKey(key: unknown, id: string, offset: number): key is string {
  const prefix = `${piecesPrefix(id)}/piece-${offset}-`;
  return (
    typeof key === 'string' &&
    key.startsWith(prefix) &&
    /^[0-9a-f]{12}$/.test(key.slice(prefix.length))
  );
}

export function assertUploadId(id: string): void {
  if (!ID.test(id)) throw new StorageError(`invalid upload id ${JSON.stringify(id)}`);
}

export function newUpload(id: string): UploadState {
  assertUploadId(id);
  return { v: 1, id, size: 0, pieces: [] };
}

export function piecesSize(state: UploadState): number {
  return state.pieces.reduce((n, p) => n + p.size, 0);
}

export function partsSize(state: UploadState): number {
  return (state.multipart?.parts ?? []).reduce((n, p) => n + p.size, 0);
}

export function formatHandle(state: UploadState): UploadHandle {
  return JSON.stringify(state);
}

/** Parses and checks a handle; `id`, when given, is the upload it must belong to. */
export function parseHandle(handle: UploadHandle, id?: string): UploadState {
  let raw: unknown;
  try {
    raw = JSON.parse(handle);
  } catch {
    throw bad('not JSON');
  }
  if (!isRecord(raw) || raw['v'] !== 1) throw bad('unknown version');
  const { id: hid, size, multipart, pieces, done, assembled } = raw;
  if (typeof hid !== 'string' || !ID.test(hid)) throw bad('invalid id');
  if (id !== undefined && hid !== id) throw bad(`belongs to upload ${hid}, not ${id}`);
  if (!isCount(size)) throw bad('invalid size');
  if (done !== undefined && done !== true) throw bad('invalid done');
  if (assembled !== undefined && assembled !== true) throw bad('invalid assembled');
  const state: UploadState = { v: 1, id: hid, size, pieces: [] };
  let offset = 0;
  if (multipart !== undefined) {
    if (!isRecord(multipart)) throw bad('invalid multipart');
    const { uploadId, parts } = multipart;
    if (typeof uploadId !== 'string' || !/^[\x21-\x7e]{1,1024}$/.test(uploadId))
      throw bad('invalid multipart upload id');
    if (!Array.isArray(parts) || parts.length > MAX_PARTS) throw bad('invalid parts');
    const checked: Part[] = [];
    for (const [i, part] of (parts as unknown[]).entries()) {
      if (!isRecord(part)) throw bad('invalid part');
      const { n, etag, size: partSize } = part;
      if (n !== i + 1) throw bad('parts out of order');
      if (typeof etag !== 'string' || !/^[\x20-\x7e]{1,256}$/.test(etag)) throw bad('invalid etag');
      // Every recorded part is followed by more bytes or is the last: all are full-size parts.
      if (!isCount(partSize) || partSize < MIN_PART_SIZE || partSize > MAX_PART_SIZE)
        throw bad('invalid part size');
      checked.push({ n, etag, size: partSize });
      offset += partSize;
    }
    state.multipart = { uploadId, parts: checked };
  }
  if (!Array.isArray(pieces) || pieces.length > MAX_PIECES) throw bad('invalid pieces');
  for (const piece of pieces as unknown[]) {
    if (!isRecord(piece)) throw bad('invalid piece');
    const { key, size: pieceSize, etag } = piece;
    if (!isCount(pieceSize) || pieceSize === 0) throw bad('invalid piece size');
    if (typeof etag !== 'string' || !/^[\x20-\x7e]{1,256}$/.test(etag))
      throw bad('invalid piece etag');
    // The key is implied by the offset: a handle cannot point a piece at any other object.
    if (!isPieceKey(key, hid, offset)) throw bad('piece key does not match its offset');
    assertKey(key);
    state.pieces.push({ key, size: pieceSize, etag });
    offset += pieceSize;
  }
  if (done) {
    if (state.multipart || state.pieces.length > 0) throw bad('a finished upload has no parts');
    state.done = true;
  } else if (offset !== size) throw bad('sizes do not add up');
  if (assembled) state.assembled = true;
  return state;
}

function bad(why: string): StorageError {
  return new StorageError(`invalid S3 upload handle: ${why}`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}
