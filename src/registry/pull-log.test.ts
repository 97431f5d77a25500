import { afterEach, describe, expect, it, vi } from 'vitest';
import type { PullRecord } from '../meta/store.js';
import { createPullLog } from './pull-log.js';

/** A store that keeps each batch it is given: one call is one write. */
function recordingMeta() {
  const batches: PullRecord[][] = [];
  return {
    batches,
    meta: {
      recordPulls: (pulls: readonly PullRecord[]) => {
        batches.push([...pulls]);
        return Promise.resolve();
      },
    },
  };
}

const digest = (n: number): string => `sha256:${n.toString(16).padStart(64, '0')}`;

describe('pull log', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('writes many GETs as one batch, one entry per manifest with its latest time', async () => {
    const { batches, meta } = recordingMeta();
    let clock = Date.parse('2026-12-01T00:00:00Z');
    const log = createPullLog({ meta, onError: () => undefined, now: () => clock });
    for (let i = 0; i < 1000; i++) {
      log.record('library/a', digest(i % 3));
      clock += 1000;
    }
    log.record('library/b', digest(0));
    expect(batches).toHaveLength(0);
    await log.flush();
    expect(batches).toHaveLength(1);
    const batch = batches[0] ?? [];
    expect(batch).toHaveLength(4);
    // The last of the 1000 GETs was of digest(0) at i = 999.
    expect(batch.find((p) => p.repository === 'library/a' && p.digest === digest(0))?.at).toBe(
      new Date(Date.parse('2026-12-01T00:00:00Z') + 999_000).toISOString(),
    );
    await log.flush();
    expect(batches).toHaveLength(1);
  });

  it('writes once per interval, and early when the map is full', async () => {
    vi.useFakeTimers();
    const { batches, meta } = recordingMeta();
    const log = createPullLog({
      meta,
      onError: () => undefined,
      intervalMs: 10_000,
      maxEntries: 5,
    });
    log.record('library/a', digest(1));
    log.record('library/a', digest(2));
    await vi.advanceTimersByTimeAsync(9_999);
    expect(batches).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(batches.map((b) => b.length)).toEqual([2]);

    for (let i = 0; i < 5; i++) log.record('library/a', digest(i));
    await vi.advanceTimersByTimeAsync(0);
    expect(batches.map((b) => b.length)).toEqual([2, 5]);
    // Nothing pending: the timer wrote nothing more.
    await vi.advanceTimersByTimeAsync(60_000);
    expect(batches).toHaveLength(2);
    await log.close();
  });

  it('reports a failed write and goes on recording', async () => {
    const errors: unknown[] = [];
    let fail = true;
    const written: PullRecord[][] = [];
    const log = createPullLog({
      meta: {
        recordPulls: (pulls) => {
          if (fail) return Promise.reject(new Error('database is locked'));
          written.push([...pulls]);
          return Promise.resolve();
        },
      },
      onError: (err) => errors.push(err),
    });
    log.record('library/a', digest(1));
    await log.flush();
    expect(errors).toHaveLength(1);
    fail = false;
    log.record('library/a', digest(2));
    await log.close();
    expect(written.map((b) => b.map((p) => p.digest))).toEqual([[digest(2)]]);
  });
});
