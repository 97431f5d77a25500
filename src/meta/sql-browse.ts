/**
 * @module meta/sql-browse
 * The BrowseMeta views over Kysely: repositories, tags and usage for the admin API and the web UI.
 * Portable SQL only. Every query takes the namespaces the caller may see and never reads outside
 * them; an empty list answers empty without a query (`IN ()` is not SQL).
 */
import { sql, type Expression, type Kysely, type SqlBool } from 'kysely';
import type { SchemaTables } from './schema.js';
import { toManifestWithPayload } from './sql-rows.js';
import type { BrowseMeta, NamespaceUsage, RepositorySummary } from './store.js';

type Db = Kysely<SchemaTables>;

/** `lower(column) LIKE %query%`, with the query's own wildcards taken literally. */
function containsText(column: string, query: string): Expression<SqlBool> {
  const pattern = `%${query.toLowerCase().replace(/[!%_]/g, '!$&')}%`;
  return sql<SqlBool>`lower(${sql.ref(column)}) like ${pattern} escape '!'`;
}

export function createSqlBrowseMeta(db: Db): BrowseMeta {
  function repositorySummaries() {
    return db
      .selectFrom('repositories as r')
      .select(['r.name', 'r.namespace', 'r.created_at'])
      .select((eb) => [
        eb
          .selectFrom('tags as t')
          .select(eb.fn.countAll<number | string>().as('n'))
          .whereRef('t.repository', '=', 'r.name')
          .as('tags'),
        eb
          .selectFrom('manifests as m')
          .select(eb.fn.countAll<number | string>().as('n'))
          .whereRef('m.repository', '=', 'r.name')
          .as('manifests'),
        eb
          .selectFrom('tags as t')
          .select((sub) => sub.fn.max('t.updated_at').as('at'))
          .whereRef('t.repository', '=', 'r.name')
          .as('tag_at'),
        eb
          .selectFrom('manifests as m')
          .select((sub) => sub.fn.max('m.created_at').as('at'))
          .whereRef('m.repository', '=', 'r.name')
          .as('manifest_at'),
      ]);
  }

  function toSummary(row: {
    name: string;
    namespace: string;
    created_at: string;
    tags: number | string | null;
    manifests: number | string | null;
    tag_at: string | null;
    manifest_at: string | null;
  }): RepositorySummary {
    // ISO-8601 strings order as the times they name.
    const updatedAt = [row.created_at, row.tag_at ?? '', row.manifest_at ?? ''].sort().at(-1);
    return {
      name: row.name,
      namespace: row.namespace,
      tags: Number(row.tags ?? 0),
      manifests: Number(row.manifests ?? 0),
      createdAt: row.created_at,
      updatedAt: updatedAt ?? row.created_at,
    };
  }

  return {
    async findRepositories({ namespaces, query, limit, offset }) {
      if (namespaces.length === 0) return { items: [], total: 0 };
      let filtered = db.selectFrom('repositories as r').where('r.namespace', 'in', namespaces);
      if (query) filtered = filtered.where(containsText('r.name', query));
      const total = await filtered
        .select((eb) => eb.fn.countAll<number | string>().as('n'))
        .executeTakeFirstOrThrow();
      let page = repositorySummaries()
        .where('r.namespace', 'in', namespaces)
        .orderBy('r.name')
        .limit(limit)
        .offset(offset);
      if (query) page = page.where(containsText('r.name', query));
      return { items: (await page.execute()).map(toSummary), total: Number(total.n) };
    },

    async getRepositorySummary(name) {
      const row = await repositorySummaries().where('r.name', '=', name).executeTakeFirst();
      return row ? toSummary(row) : null;
    },

    async findTags(repository, { query, limit, offset }) {
      let filtered = db.selectFrom('tags as t').where('t.repository', '=', repository);
      if (query) filtered = filtered.where(containsText('t.name', query));
      const total = await filtered
        .select((eb) => eb.fn.countAll<number | string>().as('n'))
        .executeTakeFirstOrThrow();
      const rows = await filtered
        .innerJoin('manifests as m', (j) =>
          j.onRef('m.repository', '=', 't.repository').onRef('m.digest', '=', 't.digest'),
        )
        .selectAll('m')
        .select(['t.name as tag', 't.updated_at as tag_updated_at', 't.pushed_by as tag_pushed_by'])
        .orderBy('t.updated_at', 'desc')
        .orderBy('t.name')
        .limit(limit)
        .offset(offset)
        .execute();
      return {
        items: rows.map((row) => ({
          tag: row.tag,
          pushedAt: row.tag_updated_at,
          pushedBy: row.tag_pushed_by,
          manifest: toManifestWithPayload(row),
        })),
        total: Number(total.n),
      };
    },

    async tagsOf(repository, digest) {
      const rows = await db
        .selectFrom('tags')
        .select('name')
        .where('repository', '=', repository)
        .where('digest', '=', digest)
        .orderBy('name')
        .execute();
      return rows.map((r) => r.name);
    },

    async namespaceUsage(namespaces) {
      if (namespaces.length === 0) return [];
      const usage = new Map<string, NamespaceUsage>(
        namespaces.map((ns) => [
          ns,
          { namespace: ns, repositories: 0, tags: 0, manifests: 0, blobs: 0, bytes: 0 },
        ]),
      );
      const repositories = await db
        .selectFrom('repositories')
        .select(['namespace', (eb) => eb.fn.countAll<number | string>().as('n')])
        .where('namespace', 'in', namespaces)
        .groupBy('namespace')
        .execute();
      // Tags and manifests per namespace, through their repositories.
      const tags = await db
        .selectFrom('tags as x')
        .innerJoin('repositories as r', 'r.name', 'x.repository')
        .select(['r.namespace', (eb) => eb.fn.countAll<number | string>().as('n')])
        .where('r.namespace', 'in', namespaces)
        .groupBy('r.namespace')
        .execute();
      const manifests = await db
        .selectFrom('manifests as x')
        .innerJoin('repositories as r', 'r.name', 'x.repository')
        .select(['r.namespace', (eb) => eb.fn.countAll<number | string>().as('n')])
        .where('r.namespace', 'in', namespaces)
        .groupBy('r.namespace')
        .execute();
      const blobs = await db
        .selectFrom((eb) =>
          eb
            .selectFrom('repository_blobs as rb')
            .innerJoin('repositories as r', 'r.name', 'rb.repository')
            .select(['r.namespace as namespace', 'rb.digest as digest'])
            .where('r.namespace', 'in', namespaces)
            .distinct()
            .as('d'),
        )
        .innerJoin('blobs as b', 'b.digest', 'd.digest')
        .select([
          'd.namespace',
          (eb) => eb.fn.countAll<number | string>().as('n'),
          (eb) => eb.fn.sum<number | string>('b.size').as('bytes'),
        ])
        .groupBy('d.namespace')
        .execute();
      const update = (namespace: string, change: Partial<NamespaceUsage>): void => {
        const u = usage.get(namespace);
        if (u) Object.assign(u, change);
      };
      for (const r of repositories) update(r.namespace, { repositories: Number(r.n) });
      for (const r of tags) update(r.namespace, { tags: Number(r.n) });
      for (const r of manifests) update(r.namespace, { manifests: Number(r.n) });
      for (const r of blobs) update(r.namespace, { blobs: Number(r.n), bytes: Number(r.bytes) });
      return [...usage.values()];
    },

    async storageUsed(namespaces) {
      if (namespaces !== 'all' && namespaces.length === 0) return { blobs: 0, bytes: 0 };
      const row =
        namespaces === 'all'
          ? await db
              .selectFrom('blobs')
              .select([
                (eb) => eb.fn.countAll<number | string>().as('n'),
                (eb) => eb.fn.sum<number | string | null>('size').as('bytes'),
              ])
              .executeTakeFirstOrThrow()
          : await db
              .selectFrom((eb) =>
                eb
                  .selectFrom('repository_blobs as rb')
                  .innerJoin('repositories as r', 'r.name', 'rb.repository')
                  .select('rb.digest as digest')
                  .where('r.namespace', 'in', namespaces)
                  .distinct()
                  .as('d'),
              )
              .innerJoin('blobs as b', 'b.digest', 'd.digest')
              .select([
                (eb) => eb.fn.countAll<number | string>().as('n'),
                (eb) => eb.fn.sum<number | string | null>('b.size').as('bytes'),
              ])
              .executeTakeFirstOrThrow();
      return { blobs: Number(row.n), bytes: Number(row.bytes ?? 0) };
    },

    async recentTags(namespaces, limit) {
      if (namespaces.length === 0) return [];
      const rows = await db
        .selectFrom('tags as t')
        .innerJoin('repositories as r', 'r.name', 't.repository')
        .select(['t.repository', 't.name', 't.digest', 't.updated_at', 't.pushed_by'])
        .where('r.namespace', 'in', namespaces)
        .orderBy('t.updated_at', 'desc')
        .orderBy('t.repository')
        .orderBy('t.name')
        .limit(limit)
        .execute();
      return rows.map((r) => ({
        repository: r.repository,
        tag: r.name,
        digest: r.digest,
        pushedAt: r.updated_at,
        pushedBy: r.pushed_by,
      }));
    },
  };
}
