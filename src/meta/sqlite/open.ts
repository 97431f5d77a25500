/**
 * @module meta/sqlite/open
 * Opens the embedded SQLite database (better-sqlite3) behind Kysely and runs the migrations.
 * Pragmas: WAL so readers never wait for the writer and CLI commands can work beside a running
 * server; synchronous=FULL so a committed transaction survives power loss (a 2xx is durable).
 */
import Database from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, type SqliteDatabase, type SqliteStatement } from 'kysely';
import { migrations } from '../migrations/index.js';
import type { SchemaTables } from '../schema.js';
import { createSqlMetaStore } from '../sql-store.js';
import type { MetaStore } from '../store.js';

export async function openSqliteMetaStore(file: string): Promise<MetaStore> {
  const sqlite = new Database(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = FULL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  const db = new Kysely<SchemaTables>({
    dialect: new SqliteDialect({ database: withStatementCache(sqlite) }),
  });
  await migrate(db);
  return createSqlMetaStore(db);
}

async function migrate(db: Kysely<SchemaTables>): Promise<void> {
  const migrator = new Migrator({
    db,
    provider: { getMigrations: () => Promise.resolve(migrations) },
  });
  const { error } = await migrator.migrateToLatest();
  if (error !== undefined) throw new Error('database migration failed', { cause: error });
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
