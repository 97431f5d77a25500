/**
 * @module meta/sql-retention
 * RetentionMeta over Kysely: the batched pull times (`manifests.last_pulled_at`) and the one read
 * per repository that retention (lifecycle/retention.ts) decides from. Portable SQL only.
 */
import { sql, type Kysely } from 'kysely';
import type { SchemaTables } from './schema.js';
import type { UnflushedWrite } from './sql-tx.js';
import type { PullRecord, RetentionMeta } from './store.js';

type Db = Kysely<SchemaTables>;

/** Three parameters a pull: well under SQLite's 32,766 and PostgreSQL's 65,535 per statement. */
const PULLS_PER_STATEMENT = 1000;

export function createSqlRetentionMeta(db: Db, unflushed: UnflushedWrite): RetentionMeta {
  return {
    async recordPulls(pulls) {
      if (pulls.length === 0) return;
      // One row per manifest, its latest pull: an UPDATE … FROM that joins a row twice applies
      // one of the two, and either engine may pick the older.
      const latest = new Map<string, PullRecord>();
      for (const p of pulls) {
        const key = `${p.repository}@${p.digest}`;
        const seen = latest.get(key);
        if (!seen || seen.at < p.at) latest.set(key, p);
      }
      const rows = [...latest.values()];
      await unflushed(db, (conn) =>
        conn.transaction().execute(async (tx) => {
          // One statement per chunk, not one per pull: a full batch of 10,000 held the write
          // lock for ~0.36 s one by one, ~0.1 s so. UPDATE … FROM (VALUES …) works in SQLite ≥
          // 3.33 and PostgreSQL alike; the VALUES columns are column1, 2, 3 in both.
          for (let i = 0; i < rows.length; i += PULLS_PER_STATEMENT) {
            const values = rows
              .slice(i, i + PULLS_PER_STATEMENT)
              .map((p) => sql`(${p.repository}, ${p.digest}, ${p.at})`);
            // ISO-8601 texts order as the times they name; a pull time never goes back.
            await sql`
              UPDATE manifests SET last_pulled_at = v.column3
              FROM (VALUES ${sql.join(values)}) AS v
              WHERE manifests.repository = v.column1 AND manifests.digest = v.column2
                AND (manifests.last_pulled_at IS NULL OR manifests.last_pulled_at < v.column3)
            `.execute(tx);
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
