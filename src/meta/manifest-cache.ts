/**
 * @module meta/manifest-cache
 * The newest manifest reads (by tag and by digest) kept in memory, for the pull path.
 *
 * A `docker pull` of a popular tag is the registry's hottest request, and its database read (a
 * join that copies the manifest's bytes out of SQLite, plus the query builder) is a third of its
 * CPU. Entries are only valid while the database is unchanged: before every read the cache asks
 * the store for a change stamp, which moves at once on any row this process writes and, within a
 * bound the store sets (SQLite: 50 ms), on any commit by another connection (a CLI command beside
 * the server); a moved stamp empties the cache. So a read never returns anything older than what
 * this process last wrote; it only skips the database when nothing has been written since the
 * entry was read.
 */
import type { ManifestWithPayload } from './store.js';

/** Synchronous and cheap: a value that changes whenever any row of the database may have changed. */
export type ChangeStamp = () => string;

export interface ManifestCacheLimits {
  maxEntries: number;
  maxBytes: number;
  /** Larger manifests (indexes of hundreds of platforms) are read from the database each time. */
  maxPayloadBytes: number;
}

const DEFAULT_LIMITS: ManifestCacheLimits = {
  maxEntries: 1000,
  maxBytes: 8 * 1024 * 1024,
  maxPayloadBytes: 256 * 1024,
};

export class ManifestCache {
  /** Map order is recency: a hit moves its entry to the end, eviction takes from the front. */
  private readonly entries = new Map<string, Readonly<ManifestWithPayload>>();
  private bytes = 0;
  private stampOfEntries = '';

  constructor(
    private readonly stamp: ChangeStamp,
    private readonly limits: ManifestCacheLimits = DEFAULT_LIMITS,
  ) {}

  /** `key` must name the read exactly (kind, repository, tag or digest). */
  async read(
    key: string,
    load: () => Promise<ManifestWithPayload | null>,
  ): Promise<Readonly<ManifestWithPayload> | null> {
    const before = this.stamp();
    if (before !== this.stampOfEntries) this.clear(before);
    const hit = this.entries.get(key);
    if (hit) {
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit;
    }
    const row = await load();
    // Keep it only if nothing was written while it was read: the row is then the current one.
    if (row && this.stamp() === before && row.payload.length <= this.limits.maxPayloadBytes) {
      this.add(key, Object.freeze(row));
    }
    return row;
  }

  get size(): number {
    return this.entries.size;
  }

  private add(key: string, row: Readonly<ManifestWithPayload>): void {
    // Two concurrent misses of one key both land here.
    const previous = this.entries.get(key);
    if (previous) {
      this.entries.delete(key);
      this.bytes -= previous.payload.length;
    }
    this.entries.set(key, row);
    this.bytes += row.payload.length;
    for (const [oldest, value] of this.entries) {
      if (this.entries.size <= this.limits.maxEntries && this.bytes <= this.limits.maxBytes) break;
      this.entries.delete(oldest);
      this.bytes -= value.payload.length;
    }
  }

  private clear(stamp: string): void {
    this.entries.clear();
    this.bytes = 0;
    this.stampOfEntries = stamp;
  }
}
