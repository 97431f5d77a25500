/**
 * @module meta/shared-state
 * State that every replica must see the same, kept in the database (issue 17): the web UI's
 * sessions (http/api/sessions.ts) and the login throttle's failure counters (auth/throttle.ts).
 * A session made on one replica works on another, and a password guesser spreading attempts
 * over replicas is counted as if one replica got them all.
 *
 * Times here are milliseconds since the epoch (the callers' injectable clocks), not ISO text:
 * the throttle compares and adds them. Every write that replicas may race is one statement (an
 * upsert or a compare-and-set), so no count is lost under READ COMMITTED.
 */

export interface UiSessionRow {
  /** SHA-256 of the session id: the id itself (the cookie) is never stored. */
  key: string;
  user: string;
  /** Sent back by the client in X-CSRF-Token on every state-changing request. */
  csrfToken: string;
  /** SHA-256 of the user's password hash at login: a password change ends the session. */
  credential: string;
  createdAt: number;
  lastSeen: number;
}

export interface UiSessionMeta {
  /**
   * Stores a new session, then drops the oldest sessions beyond `maxSessions` (creation order;
   * sessions made in the same millisecond go in key order).
   */
  createUiSession(row: UiSessionRow, maxSessions: number): Promise<void>;
  getUiSession(key: string): Promise<UiSessionRow | null>;
  /** Moves `lastSeen` forward to `at` (never back). */
  touchUiSession(key: string, at: number): Promise<void>;
  /** False when the session is gone. */
  setUiSessionCredential(key: string, credential: string): Promise<boolean>;
  deleteUiSession(key: string): Promise<boolean>;
  /** Ends every session of the user except the one keyed `keepKey`; how many ended. */
  deleteUserUiSessions(user: string, keepKey?: string): Promise<number>;
  /**
   * Drops at most `limit` sessions last seen before `idleBefore` or created before
   * `createdBefore` (bounded work; a session in use meanwhile is re-checked and kept).
   */
  sweepUiSessions(idleBefore: number, createdBefore: number, limit: number): Promise<number>;
  countUiSessions(): Promise<number>;
}

/** Failures are counted per user name and per client address. */
export type ThrottleKind = 'user' | 'client';

export interface ThrottleCounter {
  failures: number;
  /** Until when logins are refused (0: not blocked). */
  blockedUntil: number;
  /** When counting started (a client's window; a user's first failure). */
  windowStart: number;
}

export interface ThrottleMeta {
  /**
   * Counts one failure in one atomic statement (N racing failures count N) and returns the
   * counter after it. With `restartBefore`, a counter whose window started before it starts
   * over at `at`, this failure its first, no longer blocked.
   */
  countLoginFailure(
    kind: ThrottleKind,
    key: string,
    at: number,
    restartBefore?: number,
  ): Promise<ThrottleCounter>;
  /**
   * Raises the counter's `blockedUntil` to `until`, never lowers it, and only while its window
   * still starts at `windowStart` (a counter cleared or restarted since is left alone).
   */
  blockLogin(kind: ThrottleKind, key: string, windowStart: number, until: number): Promise<void>;
  /** The latest `blockedUntil` of the counters (0 when none blocks or exists). */
  loginBlockedUntil(counters: readonly { kind: ThrottleKind; key: string }[]): Promise<number>;
  clearLoginFailures(kind: ThrottleKind, key: string): Promise<void>;
  /**
   * Drops at most `limit` counters whose block ended and whose window started before `before`
   * (re-checked as they go: one counted meanwhile is kept).
   */
  sweepLoginFailures(before: number, limit: number): Promise<number>;
}

export interface SharedStateMeta extends UiSessionMeta, ThrottleMeta {}
