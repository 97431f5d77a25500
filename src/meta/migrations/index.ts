/**
 * @module meta/migrations
 * Versioned schema migrations, applied in name order on start (Kysely's Migrator records them in
 * `kysely_migration`). Never edit a released migration: add the next one.
 */
import { Migrator, type Kysely, type Migration } from 'kysely';
import { initial } from './0001-initial.js';
import { identity } from './0002-identity.js';
import { pushedBy } from './0003-pushed-by.js';
import { namespacePolicies } from './0004-namespace-policies.js';
import { lifecycle } from './0005-lifecycle.js';
import { uploadHandles } from './0006-upload-handles.js';
import { sharedSessions } from './0007-shared-sessions.js';
import { changeFeed } from './0008-change-feed.js';
import { federation } from './0009-federation.js';

export const migrations: Readonly<Record<string, Migration>> = {
  '0001-initial': initial,
  '0002-identity': identity,
  '0003-pushed-by': pushedBy,
  '0004-namespace-policies': namespacePolicies,
  '0005-lifecycle': lifecycle,
  '0006-upload-handles': uploadHandles,
  '0007-shared-sessions': sharedSessions,
  '0008-change-feed': changeFeed,
  '0009-federation': federation,
};

/**
 * Applies the pending migrations (both engines; on PostgreSQL Kysely's Migrator holds an advisory
 * lock meanwhile, so replicas starting together migrate once).
 */
export async function migrateToLatest<DB>(db: Kysely<DB>): Promise<void> {
  const migrator = new Migrator({
    db,
    provider: { getMigrations: () => Promise.resolve(migrations) },
  });
  const { error } = await migrator.migrateToLatest();
  if (error !== undefined) throw new Error('database migration failed', { cause: error });
}
