/**
 * Blob contents without holding blobs in memory. One random pattern of a few MiB is generated per
 * run; a blob is a 32-byte header derived from its id followed by the pattern repeated, so every
 * blob is distinct (no registry can deduplicate one against another) and any byte range of it can
 * be produced as views of the pattern, without copying. Digests are computed once per run, before
 * any server is measured, and cached.
 */
import { createHash, randomFillSync } from 'node:crypto';

export const MiB = 1024 * 1024;
const PATTERN_BYTES = 4 * MiB;
const HEADER_BYTES = 32;

export interface Blob {
  id: string;
  size: number;
  digest: string;
  /** The 32 first bytes: what makes this blob distinct. */
  header: Buffer;
}

export class BlobFactory {
  readonly pattern: Buffer;
  private readonly cache = new Map<string, Blob>();

  constructor() {
    this.pattern = randomFillSync(Buffer.allocUnsafe(PATTERN_BYTES));
  }

  /** The blob named `id` of `size` bytes; its digest is computed on first use. */
  blob(id: string, size: number): Blob {
    const key = `${id}\0${size}`;
    const cached = this.cache.get(key);
    if (cached) return cached;
    const header = createHash('sha256').update(`berth-bench:${id}:${size}`).digest();
    const partial = { id, size, header, digest: '' };
    const hash = createHash('sha256');
    for (const chunk of this.chunks(partial, 0, size)) hash.update(chunk);
    const blob: Blob = { ...partial, digest: `sha256:${hash.digest('hex')}` };
    this.cache.set(key, blob);
    return blob;
  }

  /** Bytes [start, end) of `blob`, as views of the pattern (at most 4 MiB each). */
  *chunks(blob: Pick<Blob, 'header' | 'size'>, start = 0, end = blob.size): Generator<Buffer> {
    let pos = Math.max(0, start);
    const stop = Math.min(end, blob.size);
    while (pos < stop) {
      if (pos < HEADER_BYTES) {
        const upTo = Math.min(HEADER_BYTES, stop);
        yield blob.header.subarray(pos, upTo);
        pos = upTo;
        continue;
      }
      const offset = pos % PATTERN_BYTES;
      const length = Math.min(PATTERN_BYTES - offset, stop - pos);
      yield this.pattern.subarray(offset, offset + length);
      pos += length;
    }
  }

  /** A small blob held in memory (configs, tiny layers). */
  bytes(blob: Blob): Buffer {
    return Buffer.concat([...this.chunks(blob)]);
  }
}
