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
 * - No manifest cache: a change stamp that sees other replicas' writes (LISTEN/NOTIFY) is not
 *   built yet, and a cache that cannot see them would serve a moved tag's old digest.
 */
import pg from 'pg';
import { Kysely, Migrator, PostgresDialect, sql } from 'kysely';
import { migrations } from '../migrations/index.js';
import type { SchemaTables } from '../schema.js';
import { createSqlMetaStore, type KeyLock, type UnflushedWrite } from '../sql-store.js';
import type { MetaStore } from '../store.js';

function toSafeNumber(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new RangeError(`${text} is beyond the integers Berth keeps`);
  return n;
}

/** Per pool, not pg's global parsers: another pg user in the process keeps its own. */
const types = new pg.TypeOverrides();
types.setTypeParser(pg.types.builtins.INT8, toSafeNumber);
types.setTypeParser(pg.types.builtins.NUMERIC, toSafeNumber);

export async function openPostgresMetaStore(url: string): Promise<MetaStore> {
  const pool = new pg.Pool({ connectionString: url, types, max: 10 });
  // An idle client's error (the server restarted) is reported on the pool; unhandled it would end
  // the process. The next query opens a new connection.
  pool.on('error', () => undefined);
  const db = new Kysely<SchemaTables>({ dialect: new PostgresDialect({ pool }) });
  try {
    await migrate(db);
  } catch (e) {
    await db.destroy();
    throw e;
  }
  return createSqlMetaStore(db, { unflushed: postgresUnflushed, lockKeys: postgresKeyLock });
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

async function migrate(db: Kysely<SchemaTables>): Promise<void> {
  const migrator = new Migrator({
    db,
    provider: { getMigrations: () => Promise.resolve(migrations) },
  });
  const { error } = await migrator.migrateToLatest();
  if (error !== undefined) throw new Error('database migration failed', { cause: error });
}
