import { sql, type Kysely, type Migration } from 'kysely';

/**
 * The storage lifecycle (lifecycle/): garbage collection, retention and quotas.
 *
 * - `repository_blobs.used_at`: when the link was last made or used by a push (upload, mount, a
 *   HEAD that found it). GC keeps a link that no manifest references for a grace period after
 *   this, so a client that uploads (or finds) layers and then PUTs its manifest never races GC.
 * - `manifests.idle_since`: when the manifest was last pushed or lost its last tag; an untagged
 *   manifest is collected `gc.untaggedAfter` (or the namespace's retention) after it.
 * - `manifests.last_pulled_at`: the last GET, recorded in batches (retention's "pulled within").
 * - `namespaces.quota_bytes` (null: none) and `namespaces.retention` (JSON, null: none).
 * - `gc_runs`: one row per collection (or dry run): its report, and a heartbeat that tells a
 *   second collector whether the first is still alive (one runs at a time, across processes).
 */
export const lifecycle: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable('repository_blobs').addColumn('used_at', 'text').execute();
    await sql`UPDATE repository_blobs SET used_at = created_at`.execute(db);
    await db.schema.alterTable('manifests').addColumn('idle_since', 'text').execute();
    await sql`UPDATE manifests SET idle_since = created_at`.execute(db);
    await db.schema.alterTable('manifests').addColumn('last_pulled_at', 'text').execute();
    await db.schema.alterTable('namespaces').addColumn('quota_bytes', 'bigint').execute();
    await db.schema.alterTable('namespaces').addColumn('retention', 'text').execute();
    await db.schema
      .createTable('gc_runs')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('trigger', 'text', (c) => c.notNull())
      .addColumn('dry_run', 'integer', (c) => c.notNull())
      .addColumn('started_at', 'text', (c) => c.notNull())
      .addColumn('heartbeat_at', 'text', (c) => c.notNull())
      /** `host:pid` of the process running it: on the same host, a dead pid needs no wait. */
      .addColumn('owner', 'text', (c) => c.notNull().defaultTo(''))
      .addColumn('finished_at', 'text')
      /** 'running', 'done', 'failed' or 'abandoned' (its process died; a later run took over). */
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('report', 'text')
      .execute();
    await db.schema.createIndex('gc_runs_started_at').on('gc_runs').column('started_at').execute();
  },
};
