/**
 * @module federation/fills
 * One upstream fetch per blob at a time, however many clients pull it: the first pull leads the
 * fetch (its client gets the bytes as they arrive, while they are cached); the others wait until
 * the blob is cached and are served from the cache, as nginx's `proxy_cache_lock` does. Waiting
 * clients then read from the local store, and no bytes are held in memory for them, so memory
 * does not grow with the number of pullers or with the blob's size.
 *
 * Per process: replicas behind a load balancer may each fetch a blob once.
 */

export interface Fills {
  /** The fill under way for `key`: it settles when the blob is cached or the fill failed. */
  get(key: string): Promise<void> | undefined;
  /**
   * Runs `start` as the one fill of `key`, unless one is under way ('taken'). The fill lasts until
   * the `done` that `start` returns settles; `start` resolving null (nothing to fetch) or failing
   * ends it at once.
   */
  lead<T extends { done: Promise<void> }>(
    key: string,
    start: () => Promise<T | null>,
  ): Promise<T | null | 'taken'>;
}

export function createFills(): Fills {
  const running = new Map<string, Promise<void>>();
  return {
    get: (key) => running.get(key),

    async lead<T extends { done: Promise<void> }>(
      key: string,
      start: () => Promise<T | null>,
    ): Promise<T | null | 'taken'> {
      if (running.has(key)) return 'taken';
      let settle!: (failed: Error | undefined) => void;
      const fill = new Promise<void>((resolve, reject) => {
        settle = (failed) => (failed === undefined ? resolve() : reject(failed));
      });
      // Waiters only look at the cache afterwards; nobody must see an unhandled rejection.
      fill.catch(() => undefined);
      running.set(key, fill);
      const end = (failed?: unknown): void => {
        running.delete(key);
        settle(
          failed === undefined || failed instanceof Error
            ? failed
            : new Error('fill failed', { cause: failed }),
        );
      };
      let started: T | null;
      try {
        started = await start();
      } catch (e) {
        end(e);
        throw e;
      }
      if (started === null) {
        end();
        return null;
      }
      started.done.then(
        () => end(),
        (e: unknown) => end(e ?? new Error('fill failed')),
      );
      return started;
    },
  };
}
