/**
 * @module registry/layout
 * The only place that builds storage keys. Keys are identical for every driver (the S3 object
 * keys are the same paths):
 *
 * ```
 * blobs/<algorithm>/<first 2 hex>/<hex>   immutable content, sharded into 256 folders per algorithm
 * trash/…  quarantine/…                   GC's and fsck's, below
 * ```
 *
 * An upload's bytes are the driver's own business (storage/driver.ts: the filesystem appends to
 * `uploads/<uuid>`; S3 keeps parts and pieces), reached through the handle in the session row.
 *
 * Inputs are already-validated Digests and upload ids, so no key can contain `..` or `/` tricks.
 */
import { digestAlgorithm, digestHex, tryParseDigest, type Digest } from '../core/digest.js';

export function blobKey(digest: Digest): string {
  const hex = digestHex(digest);
  return `blobs/${digestAlgorithm(digest)}/${hex.slice(0, 2)}/${hex}`;
}

/**
 * Where `berth fsck --repair` moves a blob whose bytes do not match its digest: kept (not deleted)
 * for the operator, outside `blobs/` so nothing serves it.
 */
export function quarantineKey(digest: Digest): string {
  return `quarantine/${digestAlgorithm(digest)}/${digestHex(digest)}`;
}

/**
 * Where GC moves a blob's file in the transaction that deletes its row (lifecycle/gc.ts): out of
 * `blobs/` at once, yet back in place if that transaction does not commit. Emptied after commit;
 * what a crash leaves here is sorted out by the next collection or server start.
 */
export function trashKey(digest: Digest): string {
  return `trash/${digestAlgorithm(digest)}/${digestHex(digest)}`;
}

export const TRASH_PREFIX = 'trash';

/** The digest a trash key names, or null. */
export function digestOfTrashKey(key: string): Digest | null {
  const parts = key.split('/');
  if (parts.length !== 3 || parts[0] !== TRASH_PREFIX) return null;
  return tryParseDigest(`${parts[1] ?? ''}:${parts[2] ?? ''}`);
}

/** The 256 shard folders of sha256 blobs (sha512 blobs are rare: their shards appear on use). */
export const BLOB_SHARDS: readonly string[] = Array.from(
  { length: 256 },
  (_, i) => `blobs/sha256/${i.toString(16).padStart(2, '0')}`,
);

export type UploadId = string & { readonly __brand: 'UploadId' };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Upload ids are UUIDs we minted; anything else is not ours (and never reaches a key). */
export function parseUploadId(value: string): UploadId | null {
  return UUID.test(value) ? (value as UploadId) : null;
}
