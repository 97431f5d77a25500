/**
 * @module meta/sql-tx
 * The transaction helpers every SQL part of the MetaStore shares (sql-store.ts and its mixins):
 * how a write skips the flush, how keys are locked, and how an emptied repository is dropped.
 * Imports no other sql-* module, so the parts depend on it and never on each other.
 */
import type { Kysely, Transaction } from 'kysely';
import type { SchemaTables } from './schema.js';

type Db = Kysely<SchemaTables>;
type Tx = Transaction<SchemaTables>;

/**
 * Runs `write` so that its commit need not reach the disk before it returns (SQLite:
 * synchronous=NORMAL for that statement; PostgreSQL: synchronous_commit=off). Only for rows whose
 * loss in a power cut costs a client a retry, never content: the next durable commit flushes them
 * anyway, in order.
 */
export type UnflushedWrite = <T>(db: Db, write: (db: Db) => Promise<T>) => Promise<T>;

/**
 * Takes transaction-scoped locks on keys, where the engine lets writers interleave (PostgreSQL,
 * READ COMMITTED). A key is a content digest: 'shared' by a write that adds a link or a reference
 * (upload, mount, manifest PUT), 'exclusive' by GC before it re-checks and removes rows and files;
 * or a table name, for a check-then-insert with no unique key to lean on (one running GC, one
 * signing key). Callers pass every key at once, and implementations lock them in sorted order: no
 * deadlock. SQLite needs none: each transaction holds the single write lock from BEGIN.
 */
export type KeyLock = (
  tx: Tx,
  keys: readonly string[],
  mode: 'shared' | 'exclusive',
) => Promise<void>;

/** The key a repository's row is locked by (digests have a ':' after the algorithm, names none). */
export const repositoryKey = (name: string): string => `repository ${name}`;

/**
 * Drops the repository row once nothing is left in it (no manifest, blob link or upload session),
 * so an emptied repository leaves the catalog. Tags need manifests, so they need no check. The
 * repository's key is held exclusively: a write that ensured the row commits before the checks.
 */
export async function dropIfEmpty(tx: Tx, repository: string, lockKeys: KeyLock): Promise<void> {
  await lockKeys(tx, [repositoryKey(repository)], 'exclusive');
  for (const table of ['manifests', 'repository_blobs', 'uploads'] as const) {
    const left = await tx
      .selectFrom(table)
      .select('repository')
      .where('repository', '=', repository)
      .limit(1)
      .executeTakeFirst();
    if (left) return;
  }
  await tx.deleteFrom('repositories').where('name', '=', repository).execute();
}

/** Whether a tag of the repository points at the manifest. */
export async function isTagged(tx: Tx, repository: string, digest: string): Promise<boolean> {
  const row = await tx
    .selectFrom('tags')
    .select('name')
    .where('repository', '=', repository)
    .where('digest', '=', digest)
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

/** Whether a manifest of the repository lists the digest (as a child manifest, or as a blob). */
export async function isListed(
  tx: Tx,
  repository: string,
  digest: string,
  kind: 'blob' | 'manifest',
): Promise<boolean> {
  const row = await tx
    .selectFrom('manifest_references')
    .select('manifest')
    .where('repository', '=', repository)
    .where('digest', '=', digest)
    .where('kind', '=', kind)
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

/** Deletes a manifest's row and its references (its tags are the caller's business). */
export async function deleteManifestRows(
  tx: Tx,
  repository: string,
  digest: string,
): Promise<number> {
  await tx
    .deleteFrom('manifest_references')
    .where('repository', '=', repository)
    .where('manifest', '=', digest)
    .execute();
  const r = await tx
    .deleteFrom('manifests')
    .where('repository', '=', repository)
    .where('digest', '=', digest)
    .executeTakeFirst();
  return Number(r.numDeletedRows);
}
