/**
 * @module http/api/sessions
 * Browser sessions of the admin API: an opaque random id in an HttpOnly cookie, kept in memory
 * (a restart signs everyone out, which is acceptable for an admin console and keeps no session
 * secret on disk). Only a SHA-256 of the id is used as the key, so the map's lookup timing says
 * nothing about live ids. A session ends after a period without requests, at its maximum age
 * however busy (a stolen cookie does not live forever), on logout, or when its user's password
 * changes (the session remembers which password hash it was opened with).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export interface Session {
  user: string;
  /** Sent back by the client in X-CSRF-Token on every state-changing request. */
  csrfToken: string;
  /** SHA-256 of the user's password hash at login: a password change ends the session. */
  credential: string;
  createdAt: number;
  lastSeen: number;
}

export interface SessionStore {
  /** Opens a session; `id` goes into the cookie and is not kept anywhere. */
  create(user: string, passwordHash: string): { id: string; session: Session };
  /** The live session of a cookie value (and marks it used), or null. */
  get(id: string): Session | null;
  delete(id: string): void;
  /** Ends every session of a user, except the one whose id is `keep`. */
  deleteUser(user: string, keep?: string): void;
  /** Drops idle sessions; also runs on a timer. */
  sweep(): void;
  readonly size: number;
}

export function createSessionStore(options: {
  idleSeconds: number;
  /** A session ends this long after login, in use or not. */
  maxAgeSeconds: number;
  /** The oldest sessions are dropped beyond this many (a flood of logins cannot exhaust memory). */
  maxSessions: number;
  now?: () => number;
}): SessionStore {
  const now = options.now ?? Date.now;
  const idleMs = options.idleSeconds * 1000;
  const maxAgeMs = options.maxAgeSeconds * 1000;
  // Insertion order is creation order: the first key is the oldest session.
  const sessions = new Map<string, Session>();

  const live = (s: Session): boolean =>
    now() - s.lastSeen < idleMs && now() - s.createdAt < maxAgeMs;

  return {
    create(user, passwordHash) {
      const id = randomBytes(32).toString('base64url');
      const t = now();
      const session: Session = {
        user,
        csrfToken: randomBytes(32).toString('base64url'),
        credential: credentialOf(passwordHash),
        createdAt: t,
        lastSeen: t,
      };
      while (sessions.size >= options.maxSessions) {
        const oldest = sessions.keys().next();
        if (oldest.done === true) break;
        sessions.delete(oldest.value);
      }
      sessions.set(keyOf(id), session);
      return { id, session };
    },
    get(id) {
      const key = keyOf(id);
      const session = sessions.get(key);
      if (!session) return null;
      if (!live(session)) {
        sessions.delete(key);
        return null;
      }
      session.lastSeen = now();
      return session;
    },
    delete(id) {
      sessions.delete(keyOf(id));
    },
    deleteUser(user, keep) {
      const kept = keep === undefined ? undefined : keyOf(keep);
      for (const [key, s] of sessions) if (s.user === user && key !== kept) sessions.delete(key);
    },
    sweep() {
      for (const [key, s] of sessions) if (!live(s)) sessions.delete(key);
    },
    get size() {
      return sessions.size;
    },
  };
}

/** What a session remembers of the password it was opened with. */
export function credentialOf(passwordHash: string): string {
  return createHash('sha256').update(passwordHash).digest('base64url');
}

/** Constant-time equality of two tokens (false when their lengths differ). */
export function tokensEqual(presented: string, expected: string): boolean {
  const a = Buffer.from(presented);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function keyOf(id: string): string {
  return createHash('sha256').update(id).digest('base64url');
}
