/**
 * @module meta/migrations/dialect
 * What a migration may need to know of the engine it runs on. The SQLite result of a released
 * migration never changes (data directories have it); PostgreSQL gets its own types where SQLite's
 * would be wrong there.
 */
import { PostgresAdapter, sql, type Kysely, type RawBuilder } from 'kysely';

export function isPostgres(db: Kysely<unknown>): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}

/**
 * A name column that listings sort and page by: SQLite's text compares bytes already (BINARY);
 * PostgreSQL compares by the database's locale unless told otherwise, which would reorder
 * `a-b` and `a_b` and break paging with `last=`.
 */
export function byteOrderText(db: Kysely<unknown>): 'text' | RawBuilder<unknown> {
  return isPostgres(db) ? sql`text collate "C"` : 'text';
}
