/**
 * @module meta/sql-retention
 * RetentionMeta over Kysely: the batched pull times (`manifests.last_pulled_at`) and the one read
 * per repository that retention (lifecycle/retention.ts) decides from. Portable SQL only.
 */
import type { Kysely } from 'kysely';
import type { SchemaTables } from './schema.js';
import type { UnflushedWrite } from './sql-store.js';
import type { RetentionMeta } from './store.js';

type Db = Kysely<SchemaTables>;

export function createSqlRetentionMeta(db: Db, unflushed: UnflushedWrite): RetentionMeta {
  return {
    async recordPulls(pulls) {
      if (pulls.length === 0) return;
      await unflushed(db, (conn) =>
        conn.transaction().execute(async (tx) => {
          for (const p of pulls) {
            // ISO-8601 texts order as the times they name; a pull time never goes back.
            await tx
              .updateTable('manifests')
              .set({ last_pulled_at: p.at })
              .where('repository', '=', p.repository)
              .where('digest', '=', p.digest)
              .where((eb) =>
                eb.or([eb('last_pulled_at', 'is', null), eb('last_pulled_at', '<', p.at)]),
              )
              .execute();
          }
        }),
      );
    },

    async retentionView(repository) {
      // One transaction: the tags, manifests and index edges are one state of the repository.
      return db.transaction().execute(async (tx) => {
        const tags = await tx
          .selectFrom('tags as t')
          .innerJoin('manifests as m', (j) =>
            j.onRef('m.repository', '=', 't.repository').onRef('m.digest', '=', 't.digest'),
          )
          .select(['t.name', 't.digest', 't.updated_at', 'm.subject', 'm.last_pulled_at'])
          .where('t.repository', '=', repository)
          .execute();
        const manifests = await tx
          .selectFrom('manifests')
          .select('digest')
          .where('repository', '=', repository)
          .execute();
        const children = await tx
          .selectFrom('manifest_references')
          .select(['manifest', 'digest'])
          .where('repository', '=', repository)
          .where('kind', '=', 'manifest')
          .execute();
        return {
          tags: tags.map((t) => ({
            tag: t.name,
            digest: t.digest,
            pushedAt: t.updated_at,
            subject: t.subject,
            lastPulledAt: t.last_pulled_at,
          })),
          manifests: manifests.map((m) => m.digest),
          children: children.map((c) => ({ index: c.manifest, child: c.digest })),
        };
      });
    },
  };
}
