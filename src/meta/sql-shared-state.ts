/**
 * @module meta/sql-shared-state
 * The web UI's sessions and the login throttle's counters over Kysely (portable SQL; see
 * shared-state.ts). Every write replicas may race is a single statement: the failure count is an
 * `INSERT … ON CONFLICT DO UPDATE SET failures = failures + 1 … RETURNING`, which PostgreSQL runs
 * on the latest row version under READ COMMITTED (and SQLite under its one writer), so N racing
 * failures count N; a block only ever moves later; the sweeps re-check their condition in the
 * DELETE itself, so a row updated between the sweep's pick and its delete stays.
 */
import { sql, type Kysely } from 'kysely';
import type { SchemaTables } from './schema.js';
import type { SharedStateMeta, ThrottleCounter, UiSessionRow } from './shared-state.js';

type Db = Kysely<SchemaTables>;

const SESSION_COLUMNS = [
  'key',
  'user_name',
  'csrf_token',
  'credential',
  'created_at',
  'last_seen',
] as const;

export function createSqlSharedStateMeta(db: Db): SharedStateMeta {
  return {
    async createUiSession(row, maxSessions) {
      await db
        .insertInto('ui_sessions')
        .values({
          key: row.key,
          user_name: row.user,
          csrf_token: row.csrfToken,
          credential: row.credential,
          created_at: row.createdAt,
          last_seen: row.lastSeen,
        })
        .execute();
      // The newest session past the limit, if any: it and everything older go. Racing creations
      // each trim after their insert, so the table is back within the limit once both are done.
      const cut = await db
        .selectFrom('ui_sessions')
        .select(['created_at', 'key'])
        .orderBy('created_at', 'desc')
        .orderBy('key', 'desc')
        .limit(1)
        .offset(maxSessions)
        .executeTakeFirst();
      if (!cut) return;
      const createdAt = Number(cut.created_at);
      await db
        .deleteFrom('ui_sessions')
        .where((eb) =>
          eb.or([
            eb('created_at', '<', createdAt),
            eb.and([eb('created_at', '=', createdAt), eb('key', '<=', cut.key)]),
          ]),
        )
        .execute();
    },

    async getUiSession(key) {
      const row = await db
        .selectFrom('ui_sessions')
        .select(SESSION_COLUMNS)
        .where('key', '=', key)
        .executeTakeFirst();
      return row ? toSession(row) : null;
    },

    async touchUiSession(key, at) {
      await db
        .updateTable('ui_sessions')
        .set({ last_seen: at })
        .where('key', '=', key)
        .where('last_seen', '<', at)
        .execute();
    },

    async setUiSessionCredential(key, credential) {
      const r = await db
        .updateTable('ui_sessions')
        .set({ credential })
        .where('key', '=', key)
        .executeTakeFirst();
      return Number(r.numUpdatedRows) > 0;
    },

    async deleteUiSession(key) {
      const r = await db.deleteFrom('ui_sessions').where('key', '=', key).executeTakeFirst();
      return Number(r.numDeletedRows) > 0;
    },

    async deleteUserUiSessions(user, keepKey) {
      let q = db.deleteFrom('ui_sessions').where('user_name', '=', user);
      if (keepKey !== undefined) q = q.where('key', '!=', keepKey);
      const r = await q.executeTakeFirst();
      return Number(r.numDeletedRows);
    },

    async sweepUiSessions(idleBefore, createdBefore, limit) {
      const r = await db
        .deleteFrom('ui_sessions')
        .where((eb) =>
          eb.and([
            eb(
              'key',
              'in',
              eb
                .selectFrom('ui_sessions')
                .select('key')
                .where((s) =>
                  s.or([s('last_seen', '<', idleBefore), s('created_at', '<', createdBefore)]),
                )
                .limit(limit),
            ),
            eb.or([eb('last_seen', '<', idleBefore), eb('created_at', '<', createdBefore)]),
          ]),
        )
        .executeTakeFirst();
      return Number(r.numDeletedRows);
    },

    async countUiSessions() {
      const r = await db
        .selectFrom('ui_sessions')
        .select((eb) => eb.fn.countAll<number | string>().as('n'))
        .executeTakeFirstOrThrow();
      return Number(r.n);
    },

    async countLoginFailure(kind, key, at, restartBefore) {
      const row = await db
        .insertInto('login_throttle')
        .values({ kind, key, failures: 1, blocked_until: 0, window_start: at })
        .onConflict((oc) =>
          oc.columns(['kind', 'key']).doUpdateSet((eb) => {
            const failures = sql<number>`${eb.ref('login_throttle.failures')} + 1`;
            if (restartBefore === undefined) return { failures };
            // Every SET reads the row as it was: all three test the old window start.
            const stale = eb('login_throttle.window_start', '<', restartBefore);
            return {
              failures: eb.case().when(stale).then(1).else(failures).end(),
              blocked_until: eb
                .case()
                .when(stale)
                .then(0)
                .else(eb.ref('login_throttle.blocked_until'))
                .end(),
              window_start: eb
                .case()
                .when(stale)
                .then(at)
                .else(eb.ref('login_throttle.window_start'))
                .end(),
            };
          }),
        )
        .returning(['failures', 'blocked_until', 'window_start'])
        .executeTakeFirstOrThrow();
      return toCounter(row);
    },

    async blockLogin(kind, key, windowStart, until) {
      await db
        .updateTable('login_throttle')
        .set({ blocked_until: until })
        .where('kind', '=', kind)
        .where('key', '=', key)
        .where('window_start', '=', windowStart)
        .where('blocked_until', '<', until)
        .execute();
    },

    async loginBlockedUntil(counters) {
      if (counters.length === 0) return 0;
      const r = await db
        .selectFrom('login_throttle')
        .select((eb) => eb.fn.max('blocked_until').as('until'))
        .where((eb) =>
          eb.or(counters.map((c) => eb.and([eb('kind', '=', c.kind), eb('key', '=', c.key)]))),
        )
        .executeTakeFirst();
      return Number(r?.until ?? 0);
    },

    async clearLoginFailures(kind, key) {
      await db
        .deleteFrom('login_throttle')
        .where('kind', '=', kind)
        .where('key', '=', key)
        .execute();
    },

    async sweepLoginFailures(before, limit) {
      const r = await db
        .deleteFrom('login_throttle')
        .where((eb) =>
          eb.and([
            eb(
              eb.refTuple('kind', 'key'),
              'in',
              eb
                .selectFrom('login_throttle')
                .select(['kind', 'key'])
                .where('blocked_until', '<', before)
                .where('window_start', '<', before)
                .limit(limit)
                .$asTuple('kind', 'key'),
            ),
            eb('blocked_until', '<', before),
            eb('window_start', '<', before),
          ]),
        )
        .executeTakeFirst();
      return Number(r.numDeletedRows);
    },
  };
}

function toSession(row: {
  key: string;
  user_name: string;
  csrf_token: string;
  credential: string;
  created_at: number | string;
  last_seen: number | string;
}): UiSessionRow {
  return {
    key: row.key,
    user: row.user_name,
    csrfToken: row.csrf_token,
    credential: row.credential,
    createdAt: Number(row.created_at),
    lastSeen: Number(row.last_seen),
  };
}

function toCounter(row: {
  failures: number | string;
  blocked_until: number | string;
  window_start: number | string;
}): ThrottleCounter {
  return {
    failures: Number(row.failures),
    blockedUntil: Number(row.blocked_until),
    windowStart: Number(row.window_start),
  };
}
