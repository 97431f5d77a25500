/**
 * @module meta/sql-gc
 * GcMeta over Kysely (portable SQL). Every delete is its own short transaction that re-checks
 * the plan against the rows as they are now, so a push that lands while GC runs always wins.
 */
import type { Kysely, Selectable, Transaction } from 'kysely';
import type { BlobHolders, GcLink, GcMeta, GcRunRow, GcRunStatus } from './gc.js';
import type { SchemaTables } from './schema.js';
import {
  deleteManifestRows,
  dropIfEmpty,
  isListed,
  isTagged,
  repositoryKey,
  type KeyLock,
} from './sql-tx.js';

type Db = Kysely<SchemaTables>;
type Tx = Transaction<SchemaTables>;

/** `IN (…)` lists stay well under every engine's parameter limit. */
const IN_CHUNK = 500;

function chunks<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += IN_CHUNK) out.push(items.slice(i, i + IN_CHUNK));
  return out;
}

function toRun(row: Selectable<SchemaTables['gc_runs']>): GcRunRow {
  return {
    id: row.id,
    trigger: row.trigger,
    dryRun: Number(row.dry_run) === 1,
    status: row.status as GcRunStatus,
    startedAt: row.started_at,
    heartbeatAt: row.heartbeat_at,
    finishedAt: row.finished_at,
    report: row.report,
  };
}

/** Whether the repository has an upload session (a push may be in progress). */
async function hasUploads(tx: Tx, repository: string): Promise<boolean> {
  const row = await tx
    .selectFrom('uploads')
    .select('id')
    .where('repository', '=', repository)
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

/** Whether a blob still has a link or a reference (a sparse index may list it without a link). */
async function blobHeld(tx: Tx, digest: string): Promise<boolean> {
  const link = await tx
    .selectFrom('repository_blobs')
    .select('repository')
    .where('digest', '=', digest)
    .limit(1)
    .executeTakeFirst();
  if (link) return true;
  const ref = await tx
    .selectFrom('manifest_references')
    .select('repository')
    .where('digest', '=', digest)
    .where('kind', '=', 'blob')
    .limit(1)
    .executeTakeFirst();
  return ref !== undefined;
}

/** Deletes the blob's row and, in the same transaction, moves its file away. */
async function dropBlob(
  tx: Tx,
  digest: string,
  removeFile: (digest: string) => Promise<void>,
): Promise<GcLink | null> {
  const row = await tx
    .deleteFrom('blobs')
    .where('digest', '=', digest)
    .returning('size')
    .executeTakeFirst();
  if (!row) return null;
  await removeFile(digest);
  return { digest, size: Number(row.size) };
}

export function createSqlGcMeta(db: Db, lockKeys: KeyLock): GcMeta {
  return {
    async startGcRun(run) {
      return db.transaction().execute(async (tx) => {
        // One real run at a time, across processes: the check below and the insert are one step.
        if (!run.dryRun) await lockKeys(tx, ['gc_runs'], 'exclusive');
        if (!run.dryRun) {
          const running = await tx
            .selectFrom('gc_runs')
            .selectAll()
            .where('status', '=', 'running')
            .where('dry_run', '=', 0)
            .orderBy('started_at', 'desc')
            .execute();
          const alive = running.find(
            (r) => r.heartbeat_at > run.aliveAfter && !run.ownerGone(r.owner),
          );
          if (alive) return { ok: false as const, running: toRun(alive) };
          if (running.length > 0) {
            await tx
              .updateTable('gc_runs')
              .set({ status: 'abandoned', finished_at: run.at })
              .where('status', '=', 'running')
              .where('dry_run', '=', 0)
              .execute();
          }
        }
        await tx
          .insertInto('gc_runs')
          .values({
            id: run.id,
            trigger: run.trigger,
            dry_run: run.dryRun ? 1 : 0,
            started_at: run.at,
            heartbeat_at: run.at,
            owner: run.owner,
            status: 'running',
          })
          .execute();
        return { ok: true as const };
      });
    },

    async heartbeatGcRun(id, at) {
      await db
        .updateTable('gc_runs')
        .set({ heartbeat_at: at })
        .where('id', '=', id)
        .where('status', '=', 'running')
        .execute();
    },

    async finishGcRun(id, at, status, report) {
      await db
        .updateTable('gc_runs')
        .set({ status, finished_at: at, heartbeat_at: at, report })
        .where('id', '=', id)
        .execute();
    },

    async listGcRuns(limit) {
      const rows = await db
        .selectFrom('gc_runs')
        .selectAll()
        .orderBy('started_at', 'desc')
        .orderBy('id', 'desc')
        .limit(limit)
        .execute();
      return rows.map(toRun);
    },

    async gcGraph(repository) {
      const manifests = await db
        .selectFrom('manifests as m')
        .select(['m.digest', 'm.subject', 'm.idle_since', 'm.created_at'])
        .select((eb) =>
          eb
            .exists(
              eb
                .selectFrom('tags as t')
                .select('t.name')
                .whereRef('t.repository', '=', 'm.repository')
                .whereRef('t.digest', '=', 'm.digest'),
            )
            .as('tagged'),
        )
        .where('m.repository', '=', repository)
        .execute();
      const children = await db
        .selectFrom('manifest_references')
        .select(['manifest as parent', 'digest as child'])
        .where('repository', '=', repository)
        .where('kind', '=', 'manifest')
        .execute();
      return {
        manifests: manifests.map((m) => ({
          digest: m.digest,
          subject: m.subject,
          idleSince: m.idle_since ?? m.created_at,
          tagged: Boolean(Number(m.tagged)),
        })),
        children,
      };
    },

    async repositoryHasUploads(repository) {
      const row = await db
        .selectFrom('uploads')
        .select('id')
        .where('repository', '=', repository)
        .limit(1)
        .executeTakeFirst();
      return row !== undefined;
    },

    async listIdleLinks(repository, usedBefore, limit, afterDigest) {
      let q = db
        .selectFrom('repository_blobs as l')
        .innerJoin('blobs as b', 'b.digest', 'l.digest')
        .select(['l.digest', 'b.size'])
        .where('l.repository', '=', repository)
        .where('l.used_at', '<', usedBefore);
      if (afterDigest !== undefined) q = q.where('l.digest', '>', afterDigest);
      const rows = await q.orderBy('l.digest').limit(limit).execute();
      return rows.map((r) => ({ digest: r.digest, size: Number(r.size) }));
    },

    async blobReferences(repository, digests) {
      const out: { digest: string; manifest: string }[] = [];
      for (const part of chunks(digests)) {
        out.push(
          ...(await db
            .selectFrom('manifest_references')
            .select(['digest', 'manifest'])
            .where('repository', '=', repository)
            .where('kind', '=', 'blob')
            .where('digest', 'in', part)
            .execute()),
        );
      }
      return out;
    },

    async blobHolders(digests) {
      const holders = new Map<string, BlobHolders>(
        digests.map((d) => [d, { digest: d, links: [], references: [] }]),
      );
      for (const part of chunks(digests)) {
        const links = await db
          .selectFrom('repository_blobs')
          .select(['digest', 'repository'])
          .where('digest', 'in', part)
          .execute();
        for (const l of links) holders.get(l.digest)?.links.push(l.repository);
        const refs = await db
          .selectFrom('manifest_references')
          .select(['digest', 'repository', 'manifest'])
          .where('kind', '=', 'blob')
          .where('digest', 'in', part)
          .execute();
        for (const r of refs)
          holders.get(r.digest)?.references.push(`${r.repository}@${r.manifest}`);
      }
      return [...holders.values()];
    },

    async listUnheldBlobs(createdBefore, limit, afterDigest) {
      let q = db
        .selectFrom('blobs as b')
        .select(['b.digest', 'b.size'])
        .where('b.created_at', '<', createdBefore)
        .where((eb) =>
          eb.not(
            eb.exists(
              eb
                .selectFrom('repository_blobs as l')
                .select('l.digest')
                .whereRef('l.digest', '=', 'b.digest'),
            ),
          ),
        )
        .where((eb) =>
          eb.not(
            eb.exists(
              eb
                .selectFrom('manifest_references as r')
                .select('r.digest')
                .whereRef('r.digest', '=', 'b.digest')
                .where('r.kind', '=', 'blob'),
            ),
          ),
        );
      if (afterDigest !== undefined) q = q.where('b.digest', '>', afterDigest);
      const rows = await q.orderBy('b.digest').limit(limit).execute();
      return rows.map((r) => ({ digest: r.digest, size: Number(r.size) }));
    },

    async collectManifest(repository, digest, idleSince) {
      return db.transaction().execute(async (tx) => {
        // A manifest's subject is part of its content: read before the lock, it cannot change.
        const subject = await tx
          .selectFrom('manifests')
          .select('subject')
          .where('repository', '=', repository)
          .where('digest', '=', digest)
          .executeTakeFirst();
        if (!subject) return 'gone';
        await lockKeys(
          tx,
          subject.subject === null ? [digest] : [digest, subject.subject],
          'exclusive',
        );
        const row = await tx
          .selectFrom('manifests')
          .select(['idle_since', 'created_at', 'subject'])
          .where('repository', '=', repository)
          .where('digest', '=', digest)
          .executeTakeFirst();
        if (!row) return 'gone';
        if ((row.idle_since ?? row.created_at) !== idleSince) return 'kept';
        if (await isTagged(tx, repository, digest)) return 'kept';
        if (await isListed(tx, repository, digest, 'manifest')) return 'kept';
        if (row.subject !== null) {
          // A referrer goes with its subject; a subject that a push has just tagged or listed
          // in an index keeps it.
          if (
            (await isTagged(tx, repository, row.subject)) ||
            (await isListed(tx, repository, row.subject, 'manifest'))
          )
            return 'kept';
        }
        await deleteManifestRows(tx, repository, digest);
        await dropIfEmpty(tx, repository, lockKeys);
        return 'deleted';
      });
    },

    async collectLinks(links, usedBefore, removeFile) {
      return db.transaction().execute(async (tx) => {
        await lockKeys(
          tx,
          links.map((l) => l.digest),
          'exclusive',
        );
        // The batch's repositories, after its digests, in one sorted order: dropIfEmpty below
        // would take them one by one in the batch's order, and two batches, or a batch and fsck's
        // forget, would deadlock on two repositories they share.
        await lockKeys(
          tx,
          links.map((l) => repositoryKey(l.repository)),
          'exclusive',
        );
        let removed = 0;
        const blobs: GcLink[] = [];
        const busy = new Map<string, boolean>();
        for (const { repository, digest } of links) {
          let uploading = busy.get(repository);
          if (uploading === undefined) {
            uploading = await hasUploads(tx, repository);
            busy.set(repository, uploading);
          }
          if (uploading) continue;
          if (await isListed(tx, repository, digest, 'blob')) continue;
          const r = await tx
            .deleteFrom('repository_blobs')
            .where('repository', '=', repository)
            .where('digest', '=', digest)
            .where('used_at', '<', usedBefore)
            .executeTakeFirst();
          if (Number(r.numDeletedRows) === 0) continue;
          removed += 1;
          await dropIfEmpty(tx, repository, lockKeys);
          if (await blobHeld(tx, digest)) continue;
          const blob = await dropBlob(tx, digest, removeFile);
          if (blob) blobs.push(blob);
        }
        return { links: removed, blobs };
      });
    },

    async collectUnheldBlobs(digests, createdBefore, removeFile) {
      return db.transaction().execute(async (tx) => {
        await lockKeys(tx, digests, 'exclusive');
        const blobs: GcLink[] = [];
        for (const digest of digests) {
          const row = await tx
            .selectFrom('blobs')
            .select('created_at')
            .where('digest', '=', digest)
            .executeTakeFirst();
          if (!row || row.created_at >= createdBefore || (await blobHeld(tx, digest))) continue;
          const blob = await dropBlob(tx, digest, removeFile);
          if (blob) blobs.push(blob);
        }
        return blobs;
      });
    },

    async withBlobRow(digest, work) {
      return db.transaction().execute(async (tx) => {
        await lockKeys(tx, [digest], 'exclusive');
        const row = await tx
          .selectFrom('blobs')
          .select('digest')
          .where('digest', '=', digest)
          .executeTakeFirst();
        return work(row !== undefined);
      });
    },
  };
}
