/**
 * @module meta/postgres/open
 * The MetaStore on PostgreSQL (scale-out: several replicas share one database). Same portable
 * queries as SQLite (sql-store.ts); what differs lives here:
 * - int8 (bigint columns, count(*)) and numeric (sum()) arrive as numbers, not strings: every
 *   size and count Berth keeps is far below 2^53, and a larger one fails loudly instead of rounding.
 * - Migrations run once across replicas: Kysely's Migrator takes pg_advisory_xact_lock in the
 *   migration transaction, so a replica starting beside another waits and then finds them applied.
 * - Writers interleave under READ COMMITTED, where SQLite has one writer at a time: key locks
 *   (pg_advisory_xact_lock on hashtext(key)) order GC against uploads, mounts and manifest PUTs by
 *   digest, and make the check-then-insert of a GC run or the signing key one step.
 * - No manifest cache: reads must see every write committed through any replica at once, which
 *   a notification that comes a little after the commit cannot promise (change-feed.ts). The
 *   change feed (LISTEN/NOTIFY) empties the credential cache instead.
 */
import pg from 'pg';
import { Kysely, PostgresDialect, sql, type Transaction, type TransactionBuilder } from 'kysely';
import { migrateToLatest } from '../migrations/index.js';
import type { SchemaTables } from '../schema.js';
import { createSqlMetaStore, type KeyLock, type UnflushedWrite } from '../sql-store.js';
import type { MetaStore } from '../store.js';
import { openChangeFeed } from './change-feed.js';

function toSafeNumber(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new RangeError(`${text} is beyond the integers Berth keeps`);
  return n;
}

/** Per pool, not pg's global parsers: another pg user in the process keeps its own. */
const types = new pg.TypeOverrides();
types.setTypeParser(pg.types.builtins.INT8, toSafeNumber);
types.setTypeParser(pg.types.builtins.NUMERIC, toSafeNumber);

/** How the store reports a transaction it runs again (a deadlock or serialization failure). */
export type RetryLog = (
  fields: { code: string; attempt: number; delayMs: number },
  msg: string,
) => void;

export async function openPostgresMetaStore(
  url: string,
  options: { onRetry?: RetryLog } = {},
): Promise<MetaStore> {
  const { connectionString, poolSize } = poolOf(url);
  const pool = new pg.Pool({ connectionString, types, max: poolSize });
  // An idle client's error (the server restarted) is reported on the pool; unhandled it would end
  // the process. The next query opens a new connection.
  pool.on('error', () => undefined);
  const db = retryingKysely(pool, options.onRetry);
  try {
    await migrateToLatest(db);
    const changes = await openChangeFeed(connectionString);
    return createSqlMetaStore(db, {
      unflushed: postgresUnflushed,
      lockKeys: postgresKeyLock,
      changes,
    });
  } catch (e) {
    await db.destroy();
    throw e;
  }
}

export const DEFAULT_POOL_SIZE = 10;

/**
 * `?pool=N` (connections per process, default 10) is Berth's, not libpq's: taken off the URL
 * before pg reads it, so the rest of the URL means what it means to psql.
 */
export function poolOf(url: string): { connectionString: string; poolSize: number } {
  const parsed = URL.canParse(url) ? new URL(url) : undefined;
  const value = parsed?.searchParams.get('pool');
  if (parsed === undefined || value === undefined || value === null)
    return { connectionString: url, poolSize: DEFAULT_POOL_SIZE };
  const poolSize = /^[1-9][0-9]{0,3}$/.test(value) ? Number(value) : NaN;
  if (!(poolSize <= 1000))
    throw new Error(`pool=${value}: expected a number of connections, 1 to 1000`);
  parsed.searchParams.delete('pool');
  return { connectionString: parsed.toString(), poolSize };
}

/** Deadlock detected, serialization failure: PostgreSQL rolled the transaction back whole. */
const RETRIED_CODES = new Set(['40P01', '40001']);
const ATTEMPTS = 5;

/**
 * Kysely whose transactions run again, after a short jittered pause, when PostgreSQL ends them as
 * a deadlock victim or a serialization failure: the rollback undid everything, and the other
 * transaction has gone on, so the next attempt normally succeeds. The portable store code
 * (sql-*.ts) keeps calling db.transaction() and never sees these codes. Only whole transactions
 * are retried, where the callback re-reads what it decides on; a single statement outside one
 * fails as before.
 */
export function retryingKysely(
  pool: pg.Pool,
  onRetry: RetryLog = () => undefined,
): Kysely<SchemaTables> {
  class RetryingKysely extends Kysely<SchemaTables> {
    override transaction(): TransactionBuilder<SchemaTables> {
      const builder = super.transaction();
      // A proxy, because Kysely builds a TransactionBuilder only from its private props.
      return new Proxy(builder, {
        get(target, prop) {
          if (prop === 'execute')
            return <T>(callback: (tx: Transaction<SchemaTables>) => Promise<T>) =>
              withRetry(() => target.execute(callback), onRetry);
          const value: unknown = Reflect.get(target, prop, target);
          // Its methods read private fields: they run on the builder, not on the proxy.
          return typeof value === 'function'
            ? (value as (...args: unknown[]) => unknown).bind(target)
            : value;
        },
      });
    }
  }
  return new RetryingKysely({ dialect: new PostgresDialect({ pool }) });
}

async function withRetry<T>(run: () => Promise<T>, onRetry: RetryLog): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      if (typeof code !== 'string' || !RETRIED_CODES.has(code) || attempt >= ATTEMPTS) throw e;
      // 10–20 ms, doubling: two victims of the same deadlock do not collide again in step.
      const delayMs = Math.round(10 * 2 ** (attempt - 1) * (1 + Math.random()));
      onRetry(
        { code, attempt, delayMs },
        'transaction rolled back by PostgreSQL, running it again',
      );
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}

/**
 * The write commits without waiting for its WAL flush (synchronous_commit=off): a crash may lose
 * it, never corrupt anything, and later commits flush it. Set on the connection for the write and
 * reset after it, as on SQLite: the write may open its own transaction (recordPulls), which
 * Kysely cannot nest in one opened here for SET LOCAL.
 */
export const postgresUnflushed: UnflushedWrite = (db, write) =>
  db.connection().execute(async (conn) => {
    await sql`SET synchronous_commit = off`.execute(conn);
    try {
      return await write(conn);
    } finally {
      await sql`RESET synchronous_commit`.execute(conn);
    }
  });

/** One advisory lock per key, held to the end of the transaction, taken in sorted order. */
export const postgresKeyLock: KeyLock = async (tx, keys, mode) => {
  const sorted = [...new Set(keys)].sort();
  for (const key of sorted) {
    if (mode === 'shared') {
      await sql`SELECT pg_advisory_xact_lock_shared(hashtext(${key}))`.execute(tx);
    } else {
      await sql`SELECT pg_advisory_xact_lock(hashtext(${key}))`.execute(tx);
    }
  }
};
