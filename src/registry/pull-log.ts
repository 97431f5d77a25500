/**
 * @module registry/pull-log
 * The last pull time of each manifest (retention's "pulled within D days"), kept cheap: a manifest
 * GET only sets an entry in a map, and the map is written in one transaction every 10 s, when it
 * holds 10,000 entries, and on shutdown. A pull is worth one map entry however often it repeats,
 * so a busy tag costs one row update per batch. A crash loses at most one batch of pull times,
 * which only makes retention see an image as pulled a little earlier than it was.
 */
import type { PullRecord, RetentionMeta } from '../meta/store.js';

export interface PullLog {
  /** Notes a GET of the manifest now; never waits and never fails. */
  record(repository: string, digest: string): void;
  /** Writes what is pending (one transaction); resolves when it is written or failed. */
  flush(): Promise<void>;
  /** Stops the timer and writes what is pending: call after the last request has ended. */
  close(): Promise<void>;
}

export interface PullLogOptions {
  meta: Pick<RetentionMeta, 'recordPulls'>;
  /** A failed write: its pull times are dropped (the next pulls record them again). */
  onError: (err: unknown) => void;
  intervalMs?: number;
  /** Pending entries at which a batch is written before its interval is up. */
  maxEntries?: number;
  now?: () => number;
}

export const PULL_LOG_INTERVAL_MS = 10_000;
export const PULL_LOG_MAX_ENTRIES = 10_000;

export function createPullLog(options: PullLogOptions): PullLog {
  const intervalMs = options.intervalMs ?? PULL_LOG_INTERVAL_MS;
  const maxEntries = options.maxEntries ?? PULL_LOG_MAX_ENTRIES;
  // Date.now looked up on each call, not captured: tests move the clock.
  const now = options.now ?? (() => Date.now());
  /** `repository@digest` → the latest pull; a Map keeps the bound exact. */
  let pending = new Map<string, PullRecord>();
  let timer: NodeJS.Timeout | undefined;
  // Batches are written one after another, so a later pull time is never overwritten by an earlier.
  let writing: Promise<void> = Promise.resolve();

  function flush(): Promise<void> {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (pending.size === 0) return writing;
    const batch = [...pending.values()];
    pending = new Map();
    writing = writing.then(() => options.meta.recordPulls(batch)).catch(options.onError);
    return writing;
  }

  return {
    record(repository, digest) {
      pending.set(`${repository}@${digest}`, {
        repository,
        digest,
        at: new Date(now()).toISOString(),
      });
      if (pending.size >= maxEntries) void flush();
      // Unref'd: a pending batch never keeps a process alive; close() writes it.
      else timer ??= setTimeout(() => void flush(), intervalMs).unref();
    },
    flush,
    close: flush,
  };
}
