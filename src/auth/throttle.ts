/**
 * @module auth/throttle
 * Slows down password guessing without locking the real user out for long: after a few failures a
 * user name is blocked for a delay that doubles with each further failure (capped at 5 minutes),
 * and a client address that fails too often in a window is blocked until the window ends. A
 * success clears the user's count. In memory: a restart forgets, which only helps the real user.
 */
export interface ThrottleOptions {
  /** Failures per user before delays start. */
  userFree: number;
  maxUserDelaySeconds: number;
  /** Failures per client address within the window before it is blocked. */
  clientLimit: number;
  clientWindowSeconds: number;
  now?: () => number;
}

interface Counter {
  failures: number;
  blockedUntil: number;
  windowStart: number;
}

export interface Throttle {
  /** Seconds the caller must wait, or 0 if it may try now. */
  retryAfter(user: string, client: string): number;
  failed(user: string, client: string): void;
  succeeded(user: string): void;
}

export function createThrottle(options: ThrottleOptions): Throttle {
  const now = options.now ?? (() => Date.now());
  const users = new Map<string, Counter>();
  const clients = new Map<string, Counter>();

  function sweep(map: Map<string, Counter>, t: number): void {
    if (map.size < 10_000) return;
    for (const [k, c] of map)
      if (c.blockedUntil < t && t - c.windowStart > options.clientWindowSeconds * 1000)
        map.delete(k);
  }

  return {
    retryAfter(user, client) {
      const t = now();
      const until = Math.max(
        users.get(user)?.blockedUntil ?? 0,
        clients.get(client)?.blockedUntil ?? 0,
      );
      return until > t ? Math.ceil((until - t) / 1000) : 0;
    },
    failed(user, client) {
      const t = now();
      sweep(users, t);
      sweep(clients, t);
      const u = users.get(user) ?? { failures: 0, blockedUntil: 0, windowStart: t };
      u.failures++;
      if (u.failures > options.userFree) {
        const delay = Math.min(
          2 ** (u.failures - options.userFree - 1),
          options.maxUserDelaySeconds,
        );
        u.blockedUntil = t + delay * 1000;
      }
      users.set(user, u);
      let c = clients.get(client);
      if (!c || t - c.windowStart > options.clientWindowSeconds * 1000)
        c = { failures: 0, blockedUntil: 0, windowStart: t };
      c.failures++;
      if (c.failures > options.clientLimit)
        c.blockedUntil = c.windowStart + options.clientWindowSeconds * 1000;
      clients.set(client, c);
    },
    succeeded(user) {
      users.delete(user);
    },
  };
}
