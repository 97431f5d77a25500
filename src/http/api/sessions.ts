/**
 * @module http/api/sessions
 * Browser sessions of the admin API: an opaque random id in an HttpOnly cookie, kept in the
 * metadata database (meta/shared-state.ts), so every replica behind a load balancer knows every
 * session and a restart signs nobody out. Only a SHA-256 of the id is stored and looked up: the
 * database (or a backup of it) holds no usable cookie, and the lookup's timing says nothing about
 * live ids. A session ends after a period without requests, at its maximum age however busy (a
 * stolen cookie does not live forever), on logout, or when its user's password changes (the
 * session remembers which password hash it was opened with).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { UiSessionMeta } from '../../meta/shared-state.js';

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
  create(user: string, passwordHash: string): Promise<{ id: string; session: Session }>;
  /** The live session of a cookie value (and marks it used), or null. */
  get(id: string): Promise<Session | null>;
  delete(id: string): Promise<void>;
  /** Ends every session of a user, except the one whose id is `keep`. */
  deleteUser(user: string, keep?: string): Promise<void>;
  /** The session goes on under the user's new password (its owner changed it). */
  setPassword(id: string, session: Session, passwordHash: string): Promise<void>;
  /** Drops a bounded batch of ended sessions (also runs on a timer); how many went. */
  sweep(): Promise<number>;
  count(): Promise<number>;
}

/**
 * A session's last-seen time is written at most once per this period (or a quarter of the idle
 * timeout, if shorter), not at every request of the UI: a session may so end up to 5 s before a
 * full idle period after its last request.
 */
const TOUCH_MS = 5_000;
/** Ended sessions dropped per sweep: bounded work, whatever piled up (e.g. while stopped). */
const SWEEP_BATCH = 1_000;

export function createSessionStore(
  meta: UiSessionMeta,
  options: {
    idleSeconds: number;
    /** A session ends this long after login, in use or not. */
    maxAgeSeconds: number;
    /** The oldest sessions are dropped beyond this many (a flood of logins cannot fill the table). */
    maxSessions: number;
    now?: () => number;
  },
): SessionStore {
  const now = options.now ?? Date.now;
  const idleMs = options.idleSeconds * 1000;
  const maxAgeMs = options.maxAgeSeconds * 1000;
  const touchMs = Math.min(TOUCH_MS, idleMs / 4);

  const live = (s: Session, t: number): boolean =>
    t - s.lastSeen < idleMs && t - s.createdAt < maxAgeMs;

  return {
    async create(user, passwordHash) {
      const id = randomBytes(32).toString('base64url');
      const t = now();
      const session: Session = {
        user,
        csrfToken: randomBytes(32).toString('base64url'),
        credential: credentialOf(passwordHash),
        createdAt: t,
        lastSeen: t,
      };
      await meta.createUiSession({ key: keyOf(id), ...session }, options.maxSessions);
      return { id, session };
    },
    async get(id) {
      const key = keyOf(id);
      const row = await meta.getUiSession(key);
      if (!row) return null;
      const session: Session = {
        user: row.user,
        csrfToken: row.csrfToken,
        credential: row.credential,
        createdAt: row.createdAt,
        lastSeen: row.lastSeen,
      };
      const t = now();
      if (!live(session, t)) {
        await meta.deleteUiSession(key);
        return null;
      }
      if (t - session.lastSeen >= touchMs) {
        await meta.touchUiSession(key, t);
        session.lastSeen = t;
      }
      return session;
    },
    async delete(id) {
      await meta.deleteUiSession(keyOf(id));
    },
    async deleteUser(user, keep) {
      await meta.deleteUserUiSessions(user, keep === undefined ? undefined : keyOf(keep));
    },
    async setPassword(id, session, passwordHash) {
      session.credential = credentialOf(passwordHash);
      await meta.setUiSessionCredential(keyOf(id), session.credential);
    },
    async sweep() {
      const t = now();
      return meta.sweepUiSessions(t - idleMs, t - maxAgeMs, SWEEP_BATCH);
    },
    count() {
      return meta.countUiSessions();
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
