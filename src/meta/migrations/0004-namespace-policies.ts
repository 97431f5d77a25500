import type { Kysely, Migration } from 'kysely';

/**
 * Per-namespace content rules (core/namespace-policy.ts). `immutable_tags`: a JSON list of tag
 * patterns, '[]' for none. `index_children`: 'all', 'none' or a comma-separated platform list;
 * null inherits the configured default (`manifests.indexChildren`).
 */
export const namespacePolicies: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .alterTable('namespaces')
      .addColumn('immutable_tags', 'text', (c) => c.notNull().defaultTo('[]'))
      .execute();
    await db.schema.alterTable('namespaces').addColumn('index_children', 'text').execute();
  },
};
