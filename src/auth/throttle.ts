/**
 * @module auth/throttle
 * Slows down password guessing without locking the real user out for long: after a few failures a
 * user name is blocked for a delay that doubles with each further failure (capped at 5 minutes),
 * and a client address that fails too often in a window is blocked until the window ends. A
 * success clears the user's count.
 *
 * The counters live in the metadata database (meta/shared-state.ts), shared by every replica: a
 * guesser spreading attempts over replicas behind a load balancer is counted as if one replica
 * got them all, and a restart forgets nothing. Only failed and uncached logins come here (the
 * credential cache answers a repeated good password first), so the table costs a busy registry
 * nothing.
 */
import type { ThrottleMeta } from '../meta/shared-state.js';

export interface ThrottleOptions {
  /** Failures per user before delays start. */
  userFree: number;
  maxUserDelaySeconds: number;
  /** Failures per client address within the window before it is blocked. */
  clientLimit: number;
  clientWindowSeconds: number;
  now?: () => number;
}

export interface Throttle {
  /** Seconds the caller must wait, or 0 if it may try now. */
  retryAfter(user: string, client: string): Promise<number>;
  failed(user: string, client: string): Promise<void>;
  succeeded(user: string): Promise<void>;
}

/**
 * A counter is forgotten once it has neither blocked nor started its window for an hour: a
 * guesser who waits that long between rounds gets fewer tries than the capped delay allows.
 */
const FORGET_AFTER_MS = 3600_000;
/** A failure sweeps forgotten counters at most this often per process, a bounded batch each. */
const SWEEP_EVERY_MS = 60_000;
const SWEEP_BATCH = 1_000;

export function createThrottle(meta: ThrottleMeta, options: ThrottleOptions): Throttle {
  const now = options.now ?? (() => Date.now());
  const windowMs = options.clientWindowSeconds * 1000;
  const forgetMs = Math.max(FORGET_AFTER_MS, windowMs);
  let sweptAt = -Infinity;

  return {
    async retryAfter(user, client) {
      const t = now();
      const until = await meta.loginBlockedUntil([
        { kind: 'user', key: user },
        { kind: 'client', key: client },
      ]);
      return until > t ? Math.ceil((until - t) / 1000) : 0;
    },
    async failed(user, client) {
      const t = now();
      if (t - sweptAt >= SWEEP_EVERY_MS) {
        sweptAt = t;
        await meta.sweepLoginFailures(t - forgetMs, SWEEP_BATCH);
      }
      const u = await meta.countLoginFailure('user', user, t);
      if (u.failures > options.userFree) {
        const delay = Math.min(
          2 ** (u.failures - options.userFree - 1),
          options.maxUserDelaySeconds,
        );
        await meta.blockLogin('user', user, u.windowStart, t + delay * 1000);
      }
      // A window that started more than its length ago starts over with this failure.
      const c = await meta.countLoginFailure('client', client, t, t - windowMs);
      if (c.failures > options.clientLimit)
        await meta.blockLogin('client', client, c.windowStart, c.windowStart + windowMs);
    },
    async succeeded(user) {
      await meta.clearLoginFailures('user', user);
    },
  };
}
