/**
 * @module storage/s3/pointer
 * S3 has no rename, and a blob's digest (its key) is known only once its last byte arrived. So a
 * committed blob's bytes stay where the upload assembled them, `data/<upload id>`, and its key
 * holds a 0-byte pointer object whose user metadata names that data object and its size
 * (docs/adr/0007-s3-blob-storage.md). Moving a blob (GC's trash, fsck's quarantine) copies the
 * pointer only.
 */

/** User metadata names (sent as `x-amz-meta-berth-*`; S3 lower-cases them). */
export const META_DATA = 'berth-data';
export const META_SIZE = 'berth-size';
/**
 * The key the pointer was first written at. A crash between a move's copy and its delete leaves
 * two pointers to one data object; deleting the one that is not at home then keeps the data
 * while the home pointer still names it.
 */
export const META_HOME = 'berth-home';

export interface Pointer {
  dataKey: string;
  size: number;
  home: string;
}

const DATA_KEY = /^data\/[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;

export function pointerMetadata(pointer: Pointer): Record<string, string> {
  return {
    [META_DATA]: pointer.dataKey,
    [META_SIZE]: String(pointer.size),
    [META_HOME]: pointer.home,
  };
}

/**
 * The pointer an object's metadata describes, or null for a plain object. A pointer naming
 * anything but a `data/` object is not ours to follow, and reads as a plain object.
 */
export function readPointer(
  metadata: Record<string, string> | undefined,
  key: string,
): Pointer | null {
  const dataKey = metadata?.[META_DATA];
  const size = Number(metadata?.[META_SIZE]);
  if (dataKey === undefined || !DATA_KEY.test(dataKey) || !Number.isSafeInteger(size) || size < 0)
    return null;
  return { dataKey, size, home: metadata?.[META_HOME] ?? key };
}

/**
 * Resolved pointers, most recently used last. A pointer never changes while it exists, so an
 * entry can only be stale by the pointer having gone: a read that then misses the data object
 * drops the entry and resolves again.
 */
export class PointerCache {
  private readonly entries = new Map<string, Pointer>();

  constructor(private readonly capacity = 10_000) {}

  get(key: string): Pointer | undefined {
    const hit = this.entries.get(key);
    if (hit) {
      this.entries.delete(key);
      this.entries.set(key, hit);
    }
    return hit;
  }

  set(key: string, pointer: Pointer): void {
    this.entries.delete(key);
    this.entries.set(key, pointer);
    if (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
  }

  delete(key: string): void {
    this.entries.delete(key);
  }
}
