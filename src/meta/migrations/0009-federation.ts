import type { Kysely, Migration } from 'kysely';

/**
 * Proxy and group namespaces (core/federation.ts): `namespaces.kind` (there since 0001, always
 * 'hosted' until now) says which, and `namespaces.federation` holds the settings as JSON (a
 * proxy's upstream and credentials, a group's members).
 */
export const federation: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable('namespaces').addColumn('federation', 'text').execute();
  },
};
