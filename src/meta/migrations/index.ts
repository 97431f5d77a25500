/**
 * @module meta/migrations
 * Versioned schema migrations, applied in name order on start (Kysely's Migrator records them in
 * `kysely_migration`). Never edit a released migration: add the next one.
 */
import type { Migration } from 'kysely';
import { initial } from './0001-initial.js';
import { identity } from './0002-identity.js';
import { pushedBy } from './0003-pushed-by.js';
import { namespacePolicies } from './0004-namespace-policies.js';
import { lifecycle } from './0005-lifecycle.js';

export const migrations: Readonly<Record<string, Migration>> = {
  '0001-initial': initial,
  '0002-identity': identity,
  '0003-pushed-by': pushedBy,
  '0004-namespace-policies': namespacePolicies,
  '0005-lifecycle': lifecycle,
};
