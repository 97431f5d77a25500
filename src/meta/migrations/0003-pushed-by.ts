import type { Kysely, Migration } from 'kysely';

/**
 * Who pushed a manifest and who last moved a tag, for the web UI's "last pushed by". Null for rows
 * written before this migration and for pushes without authentication.
 */
export const pushedBy: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable('manifests').addColumn('pushed_by', 'text').execute();
    await db.schema.alterTable('tags').addColumn('pushed_by', 'text').execute();
    // The UI lists a repository's tags newest first and the dashboard the newest pushes.
    await db.schema
      .createIndex('tags_updated_at')
      .on('tags')
      .columns(['repository', 'updated_at'])
      .execute();
  },
};
