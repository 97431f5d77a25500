import type { Kysely, Migration } from 'kysely';
import { isPostgres } from './dialect.js';

/**
 * What any replica needs to continue an upload (issue 17): the storage driver's handle
 * (storage/driver.ts `UploadHandle`; '' for sessions made before, which the filesystem driver
 * derives from the id) and the running hash's saved state (null: hash the stored bytes at commit).
 */
export const uploadHandles: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .alterTable('uploads')
      .addColumn('storage_handle', 'text', (c) => c.notNull().defaultTo(''))
      .execute();
    await db.schema
      .alterTable('uploads')
      .addColumn('hash_state', isPostgres(db) ? 'bytea' : 'blob')
      .execute();
  },
};
