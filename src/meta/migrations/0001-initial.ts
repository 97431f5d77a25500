import type { Kysely, Migration } from 'kysely';
import { byteOrderText, isPostgres } from './dialect.js';

export const initial: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    // PostgreSQL: byte-order names (dialect.ts) and bytea for the payload; SQLite as released.
    const nameType = byteOrderText(db);
    await db.schema
      .createTable('namespaces')
      .addColumn('name', 'text', (c) => c.primaryKey())
      .addColumn('kind', 'text', (c) => c.notNull().defaultTo('hosted'))
      .addColumn('public', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('repositories')
      .addColumn('name', nameType, (c) => c.primaryKey())
      .addColumn('namespace', 'text', (c) => c.notNull().references('namespaces.name'))
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('repositories_namespace')
      .on('repositories')
      .column('namespace')
      .execute();

    await db.schema
      .createTable('blobs')
      .addColumn('digest', 'text', (c) => c.primaryKey())
      .addColumn('size', 'bigint', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('repository_blobs')
      .addColumn('repository', 'text', (c) =>
        c.notNull().references('repositories.name').onDelete('cascade'),
      )
      .addColumn('digest', 'text', (c) => c.notNull().references('blobs.digest'))
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('repository_blobs_pk', ['repository', 'digest'])
      .execute();
    await db.schema
      .createIndex('repository_blobs_digest')
      .on('repository_blobs')
      .column('digest')
      .execute();

    await db.schema
      .createTable('manifests')
      .addColumn('repository', 'text', (c) =>
        c.notNull().references('repositories.name').onDelete('cascade'),
      )
      .addColumn('digest', 'text', (c) => c.notNull())
      .addColumn('media_type', 'text', (c) => c.notNull())
      .addColumn('size', 'bigint', (c) => c.notNull())
      .addColumn('payload', isPostgres(db) ? 'bytea' : 'blob', (c) => c.notNull())
      .addColumn('artifact_type', 'text')
      .addColumn('subject', 'text')
      .addColumn('annotations', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('manifests_pk', ['repository', 'digest'])
      .execute();
    await db.schema
      .createIndex('manifests_subject')
      .on('manifests')
      .columns(['repository', 'subject'])
      .execute();

    await db.schema
      .createTable('manifest_references')
      .addColumn('repository', 'text', (c) => c.notNull())
      .addColumn('manifest', 'text', (c) => c.notNull())
      .addColumn('digest', 'text', (c) => c.notNull())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('manifest_references_pk', ['repository', 'manifest', 'digest'])
      .addForeignKeyConstraint(
        'manifest_references_manifest',
        ['repository', 'manifest'],
        'manifests',
        ['repository', 'digest'],
        (fk) => fk.onDelete('cascade'),
      )
      .execute();
    await db.schema
      .createIndex('manifest_references_digest')
      .on('manifest_references')
      .column('digest')
      .execute();

    await db.schema
      .createTable('tags')
      .addColumn('repository', 'text', (c) => c.notNull())
      .addColumn('name', nameType, (c) => c.notNull())
      .addColumn('digest', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('tags_pk', ['repository', 'name'])
      .addForeignKeyConstraint(
        'tags_manifest',
        ['repository', 'digest'],
        'manifests',
        ['repository', 'digest'],
        (fk) => fk.onDelete('cascade'),
      )
      .execute();
    await db.schema
      .createIndex('tags_digest')
      .on('tags')
      .columns(['repository', 'digest'])
      .execute();

    await db.schema
      .createTable('uploads')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('repository', 'text', (c) => c.notNull())
      .addColumn('algorithm', 'text', (c) => c.notNull())
      .addColumn('offset', 'bigint', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('uploads_updated_at').on('uploads').column('updated_at').execute();
  },
};
