import { sql, type Kysely, type Migration } from 'kysely';
import { isPostgres } from './dialect.js';

/**
 * State replicas share (issue 17, meta/shared-state.ts), moved out of each process's memory:
 *
 * - `ui_sessions`: the web UI's sessions, keyed by the SHA-256 of the session id (the id lives
 *   only in the browser's cookie). Indexed by user (a password change or disable ends them) and
 *   by creation (the oldest go beyond the limit); not by `last_seen`, which the sweep scans.
 * - `login_throttle`: failure counters per (kind, key), kind 'user' (a user name) or 'client' (a
 *   client address).
 *
 * Times are integers, milliseconds since the epoch: the throttle adds and compares them. On
 * PostgreSQL both tables leave a fifth of each page free: their rows are rewritten in place all
 * the time (last seen, failure counts), and an update that changes no indexed column and fits
 * its page stays a HOT update (no index write, no bloat for VACUUM to chase).
 */
export const sharedSessions: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    const hotUpdates = isPostgres(db) ? sql`with (fillfactor = 80)` : sql``;
    await db.schema
      .createTable('ui_sessions')
      .addColumn('key', 'text', (c) => c.primaryKey())
      .addColumn('user_name', 'text', (c) => c.notNull())
      .addColumn('csrf_token', 'text', (c) => c.notNull())
      .addColumn('credential', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('last_seen', 'bigint', (c) => c.notNull())
      .modifyEnd(hotUpdates)
      .execute();
    await db.schema.createIndex('ui_sessions_user').on('ui_sessions').column('user_name').execute();
    await db.schema
      .createIndex('ui_sessions_created_at')
      .on('ui_sessions')
      .columns(['created_at', 'key'])
      .execute();
    await db.schema
      .createTable('login_throttle')
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('key', 'text', (c) => c.notNull())
      .addColumn('failures', 'integer', (c) => c.notNull())
      .addColumn('blocked_until', 'bigint', (c) => c.notNull())
      .addColumn('window_start', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('login_throttle_pk', ['kind', 'key'])
      .modifyEnd(hotUpdates)
      .execute();
  },
};
