import { sql, type Kysely, type Migration } from 'kysely';
import { isPostgres } from './dialect.js';

/**
 * PostgreSQL only: each statement that writes these tables (the users, whose logins replicas
 * cache) notifies the replicas that listen (meta/postgres/change-feed.ts), so they drop cached
 * credentials. On commit only, and once per transaction and table (NOTIFY folds duplicates).
 * SQLite has one server process, which sees its own writes.
 */
const WATCHED = ['users'] as const;

export const changeFeed: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    if (!isPostgres(db)) return;
    await sql`
      CREATE FUNCTION berth_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pg_notify('berth_changes', TG_TABLE_NAME);
        RETURN NULL;
      END $$`.execute(db);
    for (const table of WATCHED) {
      await sql`
        CREATE TRIGGER ${sql.id(`${table}_notify_change`)}
        AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ${sql.table(table)}
        FOR EACH STATEMENT EXECUTE FUNCTION berth_notify_change()`.execute(db);
    }
  },
};
