/**
 * @module registry/layout
 * The only place that builds storage keys. Keys are identical for every driver (the S3 object
 * keys are the same paths):
 *
 * ```
 * blobs/<algorithm>/<first 2 hex>/<hex>   immutable content, sharded into 256 folders per algorithm
 * uploads/<uuid>                          the bytes of one upload session, appended in place
 * ```
 *
 * Inputs are already-validated Digests and upload ids, so no key can contain `..` or `/` tricks.
 */
import { digestAlgorithm, digestHex, type Digest } from '../core/digest.js';

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

/** The 256 shard folders of sha256 blobs (sha512 blobs are rare: their shards appear on use). */
export const BLOB_SHARDS: readonly string[] = Array.from(
  { length: 256 },
  (_, i) => `blobs/sha256/${i.toString(16).padStart(2, '0')}`,
);

export function uploadKey(id: UploadId): string {
  return `uploads/${id}`;
}

export const UPLOADS_PREFIX = 'uploads';

export type UploadId = string & { readonly __brand: 'UploadId' };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Upload ids are UUIDs we minted; anything else is not ours (and never reaches a key). */
export function parseUploadId(value: string): UploadId | null {
  return UUID.test(value) ? (value as UploadId) : null;
}
