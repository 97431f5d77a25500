/**
 * @module meta/sqlite/open
 * Opens the embedded SQLite database (better-sqlite3) behind Kysely and runs the migrations.
 * Pragmas: WAL so readers never wait for the writer and CLI commands can work beside a running
 * server; synchronous=FULL so a committed transaction survives power loss (a 2xx is durable).
 * Every transaction begins IMMEDIATE (see ImmediateTransactionDriver): with a second writer on
 * the file (a CLI command beside the server) a transaction waits for its turn instead of failing.
 */
import Database from 'better-sqlite3';
import {
  CompiledQuery,
  Kysely,
  SqliteAdapter,
  SqliteDialect,
  SqliteDriver,
  sql,
  type DatabaseConnection,
  type DialectAdapter,
  type Driver,
  type SqliteDatabase,
  type SqliteDialectConfig,
  type SqliteStatement,
} from 'kysely';
import { migrateToLatest } from '../migrations/index.js';
import type { SchemaTables } from '../schema.js';
import { createSqlMetaStore, type UnflushedWrite } from '../sql-store.js';
import type { MetaStore } from '../store.js';

export async function openSqliteMetaStore(file: string): Promise<MetaStore> {
  const sqlite = new Database(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = FULL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  const db = sqliteKysely(sqlite);
  await migrateToLatest(db);
  return createSqlMetaStore(db, { unflushed: sqliteUnflushed, changeStamp: changeStampOf(sqlite) });
}

/** Kysely over an open better-sqlite3 database, the way the MetaStore uses it. */
export function sqliteKysely(sqlite: Database.Database): Kysely<SchemaTables> {
  return new Kysely<SchemaTables>({
    dialect: new BerthSqliteDialect({ database: withStatementCache(sqlite) }),
  });
}

/**
 * Runs `write` on the connection with synchronous=NORMAL: in WAL mode its commit is written but
 * not fsynced; the next FULL commit's fsync carries it to disk in order. The connection is held
 * for the whole write, so no other statement can run relaxed in between.
 */
export const sqliteUnflushed: UnflushedWrite = (db, write) =>
  db.connection().execute(async (conn) => {
    await sql`PRAGMA synchronous = NORMAL`.execute(conn);
    try {
      return await write(conn);
    } finally {
      await sql`PRAGMA synchronous = FULL`.execute(conn);
    }
  });

/** How stale a cached read may be after a commit by another process (a CLI command). */
export const OTHER_WRITERS_CHECK_MS = 50;

/**
 * Moves whenever a row may have changed. total_changes() counts every row this connection has
 * inserted, updated or deleted (also in a transaction not yet committed, or later rolled back):
 * a pure function call, ~0.1 µs, so this process's own writes show at once. data_version moves on
 * every commit by another connection, but reading it takes a WAL read lock (two fcntl calls:
 * ~7 µs alone, ~28 µs under 64 connections, a fifth of a cached manifest GET's CPU), so it is read
 * at most every OTHER_WRITERS_CHECK_MS.
 */
function changeStampOf(sqlite: Database.Database): () => string {
  const changes = sqlite.prepare<[], number>('SELECT total_changes()').pluck();
  const dataVersion = sqlite.prepare<[], number>('PRAGMA data_version').pluck();
  let version = dataVersion.get();
  let checkedAt = performance.now();
  return () => {
    const now = performance.now();
    if (now - checkedAt >= OTHER_WRITERS_CHECK_MS) {
      version = dataVersion.get();
      checkedAt = now;
    }
    return `${changes.get() ?? 0}:${version ?? 0}`;
  };
}

/**
 * SQLite runs schema changes inside transactions; Kysely's adapter says it does not, so the
 * Migrator would commit (and fsync) every statement of every migration on its own. Saying it does
 * makes the pending migrations one transaction: all applied or none, and a first start about 25 ms
 * faster. (A future migration that must run outside a transaction, e.g. one that switches
 * foreign_keys off to rebuild a table, needs the Migrator's `disableTransactions`.)
 */
class BerthSqliteDialect extends SqliteDialect {
  constructor(private readonly config: SqliteDialectConfig) {
    super(config);
  }

  override createDriver(): Driver {
    return new ImmediateTransactionDriver(this.config);
  }

  override createAdapter(): DialectAdapter {
    return new (class extends SqliteAdapter {
      override get supportsTransactionalDdl(): boolean {
        return true;
      }
    })();
  }
}

/**
 * Kysely begins a transaction with a plain (deferred) BEGIN: it takes the write lock only at its
 * first write. Every MetaStore transaction reads before it writes, and a read transaction that
 * then wants to write while another process (a CLI command) holds the lock, or has committed since
 * the read began, fails at once with SQLITE_BUSY / SQLITE_BUSY_SNAPSHOT: busy_timeout cannot help,
 * since waiting could deadlock or would leave the read stale. BEGIN IMMEDIATE takes the write lock
 * first and waits for it under busy_timeout, so a push queues behind a CLI command. There are no
 * read-only transactions (single reads run on their own), so nothing is serialised needlessly.
 * Single statements outside a transaction need nothing: SQLite retries those under the timeout.
 */
class ImmediateTransactionDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

/**
 * Kysely prepares every query anew; the registry runs a few dozen distinct statements millions of
 * times, so keep each prepared statement (better-sqlite3 statements are reusable and synchronous).
 */
function withStatementCache(sqlite: Database.Database): SqliteDatabase {
  const cache = new Map<string, SqliteStatement>();
  return {
    close: () => sqlite.close(),
    prepare: (sql: string): SqliteStatement => {
      let statement = cache.get(sql);
      if (statement === undefined) {
        statement = sqlite.prepare(sql);
        if (cache.size < 500) cache.set(sql, statement);
      }
      return statement;
    },
  };
}
