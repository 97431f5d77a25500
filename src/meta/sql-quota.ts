/**
 * @module meta/sql-quota
 * The QuotaMeta queries over Kysely (portable SQL), and the manifest check that putManifest runs
 * inside its own transaction.
 *
 * A namespace holds the distinct blobs (each counted once, however many of its repositories have
 * it) that a manifest of one of its repositories references, plus those linked into one of its
 * repositories since `linkedSince` (the GC grace): a push in progress has uploaded its layers but
 * not yet PUT its manifest. A deleted image's links are older than that, so its bytes stop
 * counting at once, and a blob that GC removes is in neither set.
 */
import { sql, type Expression, type ExpressionBuilder, type Kysely, type SqlBool } from 'kysely';
import type { QuotaExceeded } from '../core/quota.js';
import type { SchemaTables } from './schema.js';
import type { QuotaMeta } from './store.js';

type Db = Kysely<SchemaTables>;

/** When a link was last used: rows linked before migration 0005's writers may lack `used_at`. */
const linkUsedAt = sql<string>`coalesce(l.used_at, l.created_at)`;

/** (namespace, digest) of every blob a manifest references, optionally of one namespace. */
function referencedBlobs(db: Db, namespace?: string) {
  let q = db
    .selectFrom('manifest_references as r')
    .innerJoin('repositories as p', 'p.name', 'r.repository')
    .select(['p.namespace as namespace', 'r.digest as digest'])
    .where('r.kind', '=', 'blob');
  if (namespace !== undefined) q = q.where('p.namespace', '=', namespace);
  return q;
}

/** (namespace, digest) of every blob linked since `linkedSince`, optionally of one namespace. */
function recentLinks(db: Db, linkedSince: string, namespace?: string) {
  let q = db
    .selectFrom('repository_blobs as l')
    .innerJoin('repositories as p', 'p.name', 'l.repository')
    .select(['p.namespace as namespace', 'l.digest as digest'])
    .where(linkUsedAt, '>=', linkedSince);
  if (namespace !== undefined) q = q.where('p.namespace', '=', namespace);
  return q;
}

/**
 * Whether the namespace holds the blob `b.digest` of the enclosing query (references only, or
 * also links since `linkedSince`). EXISTS stops at the first row: a base layer that thousands of
 * manifests share costs one index probe, not a thousand rows.
 */
function holds(
  eb: ExpressionBuilder<SchemaTables & { b: SchemaTables['blobs'] }, 'b'>,
  namespace: string,
  linkedSince?: string,
): Expression<SqlBool> {
  const referenced = eb.exists(
    eb
      .selectFrom('manifest_references as r')
      .innerJoin('repositories as p', 'p.name', 'r.repository')
      .select(sql<number>`1`.as('one'))
      .whereRef('r.digest', '=', 'b.digest')
      .where('r.kind', '=', 'blob')
      .where('p.namespace', '=', namespace),
  );
  if (linkedSince === undefined) return referenced;
  return eb.or([
    referenced,
    eb.exists(
      eb
        .selectFrom('repository_blobs as l')
        .innerJoin('repositories as p', 'p.name', 'l.repository')
        .select(sql<number>`1`.as('one'))
        .whereRef('l.digest', '=', 'b.digest')
        .where(linkUsedAt, '>=', linkedSince)
        .where('p.namespace', '=', namespace),
    ),
  ]);
}

/** Bytes of the distinct blobs of `held` (UNION removes the duplicates), per namespace. */
async function sumByNamespace(
  db: Db,
  held: ReturnType<typeof referencedBlobs>,
): Promise<Map<string, number>> {
  const rows = await db
    .selectFrom(held.as('d'))
    .innerJoin('blobs as b', 'b.digest', 'd.digest')
    .select(['d.namespace', (eb) => eb.fn.sum<number | string>('b.size').as('bytes')])
    .groupBy('d.namespace')
    .execute();
  return new Map(rows.map((r) => [r.namespace, Number(r.bytes)]));
}

export function createSqlQuotaMeta(db: Db): QuotaMeta {
  return {
    async namespaceUsedBytes(namespace, linkedSince) {
      const held = referencedBlobs(db, namespace).union(recentLinks(db, linkedSince, namespace));
      return (await sumByNamespace(db, held)).get(namespace) ?? 0;
    },

    async usedBytesByNamespace(linkedSince) {
      return sumByNamespace(db, referencedBlobs(db).union(recentLinks(db, linkedSince)));
    },

    async namespaceHoldsBlob(namespace, digest, linkedSince) {
      const held = await db
        .selectFrom('blobs as b')
        .select('b.digest')
        .where('b.digest', '=', digest)
        .where((eb) => holds(eb, namespace, linkedSince))
        .executeTakeFirst();
      return held !== undefined;
    },
  };
}

/**
 * The quota check of a manifest write, run in its transaction (`tx`), so two pushes finishing at
 * once are counted one after the other and cannot both slip under the quota. A manifest is
 * refused when it makes the namespace hold more (it references blobs no manifest of the
 * namespace references yet) and what manifests then reference exceeds the quota. Only manifests
 * count here, not links of pushes in progress: those were checked as they were uploaded, and
 * counting another push's links against this manifest would let two racing pushes both fail
 * where one fits. A manifest that adds nothing (a re-tag, an index) always passes, even over a
 * quota that was lowered since.
 */
export async function manifestQuotaRefusal(
  tx: Db,
  namespace: string,
  blobDigests: readonly string[],
): Promise<QuotaExceeded | null> {
  if (blobDigests.length === 0) return null;
  const ns = await tx
    .selectFrom('namespaces')
    .select('quota_bytes')
    .where('name', '=', namespace)
    .executeTakeFirst();
  if (ns?.quota_bytes == null) return null;
  const quotaBytes = Number(ns.quota_bytes);
  // What the manifest adds: its blobs that no manifest of the namespace references yet (a blob
  // not stored at all, in a sparse push, holds no bytes).
  const adding = await tx
    .selectFrom('blobs as b')
    .select((eb) => eb.fn.sum<number | string | null>('b.size').as('bytes'))
    .where('b.digest', 'in', [...new Set(blobDigests)])
    .where((eb) => eb.not(holds(eb, namespace)))
    .executeTakeFirst();
  const addingBytes = Number(adding?.bytes ?? 0);
  if (addingBytes === 0) return null;
  const usedBytes =
    (await sumByNamespace(tx, referencedBlobs(tx, namespace).distinct())).get(namespace) ?? 0;
  return usedBytes + addingBytes > quotaBytes
    ? { namespace, usedBytes, quotaBytes, addingBytes }
    : null;
}
