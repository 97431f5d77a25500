/**
 * @module meta/sql-store
 * The MetaStore over Kysely. Only portable SQL lives here, so the same code serves SQLite (default)
 * and PostgreSQL (scale-out); engine specifics stay in `meta/sqlite/` and later `meta/postgres/`.
 * Tag and repository listings compare names in byte order (SQLite's BINARY collation; PostgreSQL
 * needs COLLATE "C" on those columns).
 */
import type { Kysely, Transaction } from 'kysely';
import {
  childRequired,
  matchImmutableRule,
  parseIndexChildren,
  type ImmutableTagRule,
} from '../core/namespace-policy.js';
import { readFederation, serializeFederation, type Federation } from '../core/federation.js';
import { readStoredRetention } from '../core/retention-policy.js';
import type { Page, PageRequest } from '../core/types.js';
import type { GcMeta } from './gc.js';
import type { IdentityMeta } from './identity.js';
import { ManifestCache, type ChangeStamp } from './manifest-cache.js';
import type { SchemaTables } from './schema.js';
import type { SharedStateMeta } from './shared-state.js';
import { createSqlBrowseMeta } from './sql-browse.js';
import { createSqlGcMeta } from './sql-gc.js';
import { createSqlIdentityMeta } from './sql-identity.js';
import { createSqlQuotaMeta, manifestQuotaRefusal } from './sql-quota.js';
import { createSqlRetentionMeta } from './sql-retention.js';
import { createSqlSharedStateMeta } from './sql-shared-state.js';
import { toManifestRow, toManifestWithPayload } from './sql-rows.js';
import {
  deleteManifestRows,
  dropIfEmpty,
  isTagged,
  repositoryKey,
  type KeyLock,
  type UnflushedWrite,
} from './sql-tx.js';
import type {
  BrokenReference,
  BrowseMeta,
  DeleteResult,
  ManifestDeleteResult,
  ManifestReference,
  ManifestRow,
  ManifestWithPayload,
  ManifestWrite,
  ManifestWriteResult,
  MetaStore,
  QuotaMeta,
  NamespacePolicyPatch,
  NamespaceRow,
  RetentionMeta,
  NewUpload,
  UploadRow,
} from './store.js';

type Db = Kysely<SchemaTables>;
type Tx = Transaction<SchemaTables>;

const now = (): string => new Date().toISOString();

/** A namespace row's columns, selected and grouped by when its repositories are counted. */
const NAMESPACE_COLUMNS = [
  'n.name',
  'n.kind',
  'n.public',
  'n.created_at',
  'n.immutable_tags',
  'n.index_children',
  'n.quota_bytes',
  'n.retention',
  'n.federation',
] as const;

/** A refused delete names at most this many of the manifests that list the content. */
const MAX_NAMED_PARENTS = 5;

// The engine openers (sqlite/, postgres/) pass these in with the options.
export type { KeyLock, UnflushedWrite } from './sql-tx.js';

export interface SqlMetaStoreOptions {
  /** Without it every write is flushed. */
  unflushed?: UnflushedWrite;
  /** Without it nothing is locked (one writer at a time). */
  lockKeys?: KeyLock;
  /** With it, manifest reads are cached while the stamp stays (manifest-cache.ts). */
  changeStamp?: ChangeStamp;
  /** Other processes' writes, where the engine reports them (PostgreSQL's change feed). */
  changes?: ChangeWatcher;
}

/** What `watchChanges` reads from, and what `close` ends with the store. */
export interface ChangeWatcher {
  watch(listener: (table: string) => void): () => void;
  close(): Promise<void>;
}

export function createSqlMetaStore(db: Db, options: SqlMetaStoreOptions = {}): MetaStore {
  // One object: the registry part (this class), identity (sql-identity.ts), browse (sql-browse.ts),
  // quota (sql-quota.ts), retention (sql-retention.ts).
  const unflushed: UnflushedWrite = options.unflushed ?? ((d, write) => write(d));
  const lockKeys: KeyLock = options.lockKeys ?? (() => Promise.resolve());
  // The mixins are plain objects, merged first: Object.assign is typed for three sources at most.
  const mixins = {
    ...createSqlIdentityMeta(db, lockKeys),
    ...createSqlBrowseMeta(db),
    ...createSqlQuotaMeta(db),
    ...createSqlRetentionMeta(db, unflushed),
    ...createSqlGcMeta(db, lockKeys),
    ...createSqlSharedStateMeta(db),
  };
  return Object.assign(
    new SqlMetaStore(
      db,
      unflushed,
      options.changeStamp ? new ManifestCache(options.changeStamp) : null,
      lockKeys,
      options.changes ?? null,
    ),
    mixins,
  );
}

class SqlMetaStore implements Omit<
  MetaStore,
  | keyof IdentityMeta
  | keyof BrowseMeta
  | keyof RetentionMeta
  | keyof QuotaMeta
  | keyof GcMeta
  | keyof SharedStateMeta
> {
  constructor(
    private readonly db: Db,
    private readonly unflushed: UnflushedWrite,
    private readonly manifestCache: ManifestCache | null,
    private readonly lockKeys: KeyLock,
    private readonly changes: ChangeWatcher | null,
  ) {}

  async close(): Promise<void> {
    await this.changes?.close();
    await this.db.destroy();
  }

  watchChanges(listener: (table: string) => void): () => void {
    return this.changes ? this.changes.watch(listener) : () => undefined;
  }

  // ── namespaces ──────────────────────────────────────────────────────────

  async getNamespace(name: string): Promise<NamespaceRow | null> {
    const row = await this.db
      .selectFrom('namespaces')
      .selectAll()
      .where('name', '=', name)
      .executeTakeFirst();
    return row ? toNamespace(row) : null;
  }

  async createNamespace(ns: {
    name: string;
    public: boolean;
    federation?: Federation;
  }): Promise<boolean> {
    const federation = ns.federation ?? { kind: 'hosted' };
    const result = await this.db
      .insertInto('namespaces')
      .values({
        name: ns.name,
        public: ns.public ? 1 : 0,
        created_at: now(),
        kind: federation.kind,
        federation: serializeFederation(federation),
      })
      .onConflict((oc) => oc.column('name').doNothing())
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  async setNamespaceFederation(name: string, federation: Federation): Promise<boolean> {
    const r = await this.db
      .updateTable('namespaces')
      .set({ federation: serializeFederation(federation) })
      .where('name', '=', name)
      .where('kind', '=', federation.kind)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async setNamespacePublic(name: string, isPublic: boolean): Promise<boolean> {
    const r = await this.db
      .updateTable('namespaces')
      .set({ public: isPublic ? 1 : 0 })
      .where('name', '=', name)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async setNamespacePolicy(name: string, patch: NamespacePolicyPatch): Promise<boolean> {
    if (Object.values(patch).every((v) => v === undefined))
      return (await this.getNamespace(name)) !== null;
    const r = await this.db
      .updateTable('namespaces')
      .set({
        ...(patch.immutableTags && { immutable_tags: JSON.stringify(patch.immutableTags) }),
        ...(patch.indexChildren !== undefined && { index_children: patch.indexChildren }),
        ...(patch.quotaBytes !== undefined && { quota_bytes: patch.quotaBytes }),
        ...(patch.retention !== undefined && {
          retention: patch.retention && JSON.stringify(patch.retention),
        }),
      })
      .where('name', '=', name)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async listNamespaceVisibility(): Promise<{ name: string; public: boolean }[]> {
    const rows = await this.db
      .selectFrom('namespaces')
      .select(['name', 'public'])
      .orderBy('name')
      .execute();
    return rows.map((r) => ({ name: r.name, public: Number(r.public) === 1 }));
  }

  async listNamespaces(): Promise<(NamespaceRow & { repositories: number })[]> {
    const rows = await this.db
      .selectFrom('namespaces as n')
      .leftJoin('repositories as r', 'r.namespace', 'n.name')
      .select(NAMESPACE_COLUMNS)
      .select((eb) => eb.fn.count<number | string>('r.name').as('repositories'))
      .groupBy(NAMESPACE_COLUMNS)
      .orderBy('n.name')
      .execute();
    return rows.map((r) => ({ ...toNamespace(r), repositories: Number(r.repositories) }));
  }

  async deleteNamespace(
    name: string,
    force: boolean,
  ): Promise<'deleted' | 'unknown' | 'not-empty'> {
    return this.db.transaction().execute(async (tx) => {
      const ns = await tx
        .selectFrom('namespaces')
        .select('name')
        .where('name', '=', name)
        .executeTakeFirst();
      if (!ns) return 'unknown';
      const repos = await tx
        .selectFrom('repositories')
        .select('name')
        .where('namespace', '=', name)
        .execute();
      if (repos.length > 0 && !force) return 'not-empty';
      // As in deleteRepository, every key at once (sorted): a push into one of them finishes
      // first or finds the repository gone and creates it again, never a foreign-key error.
      await this.lockKeys(
        tx,
        repos.map((r) => repositoryKey(r.name)),
        'exclusive',
      );
      // Immutable tags do not hold back a forced namespace delete: the rules belong to the
      // namespace and go with it, and --force (force=true) is the operator's explicit "everything".
      // Repository and tag deletes, which CI scripts and the UI do routinely, are refused instead.
      for (const { name: repo } of repos) await deleteRepository(tx, repo);
      await tx.deleteFrom('namespaces').where('name', '=', name).execute();
      return 'deleted';
    });
  }

  // ── repositories ────────────────────────────────────────────────────────

  async repositoryExists(name: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('repositories')
      .select('name')
      .where('name', '=', name)
      .executeTakeFirst();
    return row !== undefined;
  }

  async listRepositories(page: PageRequest, namespaces?: readonly string[]): Promise<Page<string>> {
    // `IN ()` is not SQL; no namespace means nothing to list.
    if (namespaces?.length === 0) return { items: [], more: false };
    let q = this.db
      .selectFrom('repositories')
      .select('name')
      .orderBy('name')
      .limit(page.limit + 1);
    if (page.after !== undefined) q = q.where('name', '>', page.after);
    if (namespaces !== undefined) q = q.where('namespace', 'in', namespaces);
    return toPage(
      (await q.execute()).map((r) => r.name),
      page.limit,
    );
  }

  async deleteRepository(
    name: string,
  ): Promise<{ uploads: string[] } | { immutable: ImmutableTagRule } | null> {
    return this.db.transaction().execute(async (tx) => {
      // Exclusive, as dropIfEmpty: a push that ensured the row (shared) commits first and its
      // manifest is deleted with the rest, or it waits and recreates the repository. Without the
      // key its insert could meet the deleted row and fail with a foreign-key error.
      await this.lockKeys(tx, [repositoryKey(name)], 'exclusive');
      if (
        !(await tx
          .selectFrom('repositories')
          .select('name')
          .where('name', '=', name)
          .executeTakeFirst())
      )
        return null;
      const immutable = await immutableTagOf(tx, name);
      if (immutable) return { immutable };
      const uploads = await tx
        .selectFrom('uploads')
        .select('id')
        .where('repository', '=', name)
        .execute();
      await deleteRepository(tx, name);
      return { uploads: uploads.map((u) => u.id) };
    });
  }

  // ── blobs ───────────────────────────────────────────────────────────────

  async getLinkedBlob(
    repository: string,
    digest: string,
  ): Promise<{ size: number; usedAt: string } | null> {
    const row = await this.db
      .selectFrom('repository_blobs as l')
      .innerJoin('blobs as b', 'b.digest', 'l.digest')
      .select(['b.size', 'l.used_at', 'l.created_at'])
      .where('l.repository', '=', repository)
      .where('l.digest', '=', digest)
      .executeTakeFirst();
    return row ? { size: Number(row.size), usedAt: row.used_at ?? row.created_at } : null;
  }

  async touchBlobLink(repository: string, digest: string): Promise<boolean> {
    // Unflushed: a touch lost in a power cut lost the push that made it too.
    const r = await this.unflushed(this.db, (db) =>
      db
        .updateTable('repository_blobs')
        .set({ used_at: now() })
        .where('repository', '=', repository)
        .where('digest', '=', digest)
        .executeTakeFirst(),
    );
    return Number(r.numUpdatedRows) > 0;
  }

  async getBlob(digest: string): Promise<{ size: number } | null> {
    const row = await this.db
      .selectFrom('blobs')
      .select('size')
      .where('digest', '=', digest)
      .executeTakeFirst();
    return row ? { size: Number(row.size) } : null;
  }

  async findBlobRepositories(digest: string, limit: number): Promise<string[]> {
    const rows = await this.db
      .selectFrom('repository_blobs')
      .select('repository')
      .where('digest', '=', digest)
      .orderBy('repository')
      .limit(limit)
      .execute();
    return rows.map((r) => r.repository);
  }

  async mountBlob(
    repository: string,
    namespace: string,
    blob: { digest: string; size: number },
  ): Promise<'ok' | 'namespace-missing' | 'blob-missing'> {
    return this.db.transaction().execute(async (tx) => {
      await this.lockKeys(tx, [blob.digest], 'shared');
      // Only a blob that still has its row: GC removes the row and the file in one transaction,
      // so a row read here has its file, and a mount can never recreate a collected blob's row.
      const existing = await tx
        .selectFrom('blobs')
        .select('digest')
        .where('digest', '=', blob.digest)
        .executeTakeFirst();
      if (!existing) return 'blob-missing';
      return linkBlob(tx, repository, namespace, blob, this.lockKeys);
    });
  }

  async unlinkBlob(repository: string, digest: string): Promise<DeleteResult> {
    return this.db.transaction().execute(async (tx): Promise<DeleteResult> => {
      // A manifest PUT listing the blob (shared lock) commits before the check, or after the delete.
      await this.lockKeys(tx, [digest], 'exclusive');
      const referencedBy = await referrersOf(tx, repository, digest, 'blob');
      if (referencedBy.length > 0) return { referencedBy };
      const r = await tx
        .deleteFrom('repository_blobs')
        .where('repository', '=', repository)
        .where('digest', '=', digest)
        .executeTakeFirst();
      if (Number(r.numDeletedRows) === 0) return 'unknown';
      await dropIfEmpty(tx, repository, this.lockKeys);
      return 'deleted';
    });
  }

  // ── manifests and tags ──────────────────────────────────────────────────

  async putManifest(w: ManifestWrite): Promise<ManifestWriteResult> {
    return this.db.transaction().execute(async (tx): Promise<ManifestWriteResult> => {
      // GC removes no link, child or referrer of these while this write may still add references.
      await this.lockKeys(tx, [w.digest, ...w.references.map((r) => r.digest)], 'shared');
      const ensured = await ensureRepository(tx, w.repository, w.namespace, this.lockKeys);
      if (!ensured) return { ok: false, namespaceMissing: true };
      const created = ensured === 'created';
      const policy = await namespacePolicy(tx, w.namespace);
      const moved = await movedImmutableTag(tx, w, policy);
      if (moved) return refused(tx, w.repository, { ok: false, immutable: moved }, created);
      const quota = await manifestQuotaRefusal(
        tx,
        w.namespace,
        w.references.filter((r) => r.kind === 'blob').map((r) => r.digest),
      );
      if (quota) return refused(tx, w.repository, { ok: false, quota }, created);
      if (w.verifyReferences) {
        const indexChildren = parseIndexChildren(policy?.indexChildren ?? w.indexChildren);
        const required = w.references.filter((r) =>
          r.kind === 'manifest'
            ? childRequired(indexChildren, r.platform ?? null)
            : !(r.layer === true && indexChildren === 'none'),
        );
        const missing = await findMissing(tx, w.repository, required);
        if (missing.length > 0) return refused(tx, w.repository, { ok: false, missing }, created);
      }
      const timestamp = now();
      await tx
        .insertInto('manifests')
        .values({
          repository: w.repository,
          digest: w.digest,
          media_type: w.mediaType,
          size: w.payload.byteLength,
          payload: w.payload,
          artifact_type: w.artifactType,
          subject: w.subject,
          annotations: w.annotations ? JSON.stringify(w.annotations) : null,
          created_at: timestamp,
          pushed_by: w.pushedBy,
          idle_since: timestamp,
        })
        // Same digest, same bytes: a re-push changes nothing but the tags, and makes the manifest
        // young again for GC (a client pushing an index's children by digest relies on them).
        .onConflict((oc) =>
          oc.columns(['repository', 'digest']).doUpdateSet({ idle_since: timestamp }),
        )
        .execute();
      const references = dedupe(w.references);
      if (references.length > 0) {
        await tx
          .insertInto('manifest_references')
          .values(
            references.map((r) => ({
              repository: w.repository,
              manifest: w.digest,
              digest: r.digest,
              kind: r.kind,
            })),
          )
          .onConflict((oc) => oc.columns(['repository', 'manifest', 'digest']).doNothing())
          .execute();
      }
      const movedFrom =
        w.tags.length === 0
          ? []
          : await tx
              .selectFrom('tags')
              .select('digest')
              .distinct()
              .where('repository', '=', w.repository)
              .where('name', 'in', w.tags)
              .where('digest', '!=', w.digest)
              .execute();
      for (const tag of w.tags) {
        await tx
          .insertInto('tags')
          .values({
            repository: w.repository,
            name: tag,
            digest: w.digest,
            updated_at: timestamp,
            pushed_by: w.pushedBy,
          })
          .onConflict((oc) =>
            oc
              .columns(['repository', 'name'])
              .doUpdateSet({ digest: w.digest, updated_at: timestamp, pushed_by: w.pushedBy }),
          )
          .execute();
      }
      for (const { digest } of movedFrom) await markIfUntagged(tx, w.repository, digest, timestamp);
      return { ok: true };
    });
  }

  async getManifest(repository: string, digest: string): Promise<ManifestWithPayload | null> {
    return this.cachedManifest(`d ${repository} ${digest}`, () =>
      this.loadManifest(repository, digest),
    );
  }

  private async loadManifest(
    repository: string,
    digest: string,
  ): Promise<ManifestWithPayload | null> {
    const row = await this.db
      .selectFrom('manifests')
      .selectAll()
      .where('repository', '=', repository)
      .where('digest', '=', digest)
      .executeTakeFirst();
    return row ? toManifestWithPayload(row) : null;
  }

  async getTaggedManifest(repository: string, tag: string): Promise<ManifestWithPayload | null> {
    return this.cachedManifest(`t ${repository} ${tag}`, () =>
      this.loadTaggedManifest(repository, tag),
    );
  }

  /** Through the manifest cache when the store has one; `key` names the read exactly. */
  private cachedManifest(
    key: string,
    load: () => Promise<ManifestWithPayload | null>,
  ): Promise<ManifestWithPayload | null> {
    return this.manifestCache ? this.manifestCache.read(key, load) : load();
  }

  private async loadTaggedManifest(
    repository: string,
    tag: string,
  ): Promise<ManifestWithPayload | null> {
    const row = await this.db
      .selectFrom('tags as t')
      .innerJoin('manifests as m', (j) =>
        j.onRef('m.repository', '=', 't.repository').onRef('m.digest', '=', 't.digest'),
      )
      .selectAll('m')
      .where('t.repository', '=', repository)
      .where('t.name', '=', tag)
      .executeTakeFirst();
    return row ? toManifestWithPayload(row) : null;
  }

  async deleteManifest(
    repository: string,
    digest: string,
    untaggedOnly = false,
  ): Promise<ManifestDeleteResult> {
    return this.db.transaction().execute(async (tx): Promise<ManifestDeleteResult> => {
      // An index PUT listing it, or a push tagging it, commits before the checks or after the delete.
      await this.lockKeys(tx, [digest], 'exclusive');
      const referencedBy = await referrersOf(tx, repository, digest, 'manifest');
      if (referencedBy.length > 0) return { referencedBy };
      if (untaggedOnly && (await isTagged(tx, repository, digest))) return 'changed';
      const immutable = await immutableTagOf(tx, repository, digest);
      if (immutable) return { immutable };
      await tx
        .deleteFrom('tags')
        .where('repository', '=', repository)
        .where('digest', '=', digest)
        .execute();
      if ((await deleteManifestRows(tx, repository, digest)) === 0) return 'unknown';
      await dropIfEmpty(tx, repository, this.lockKeys);
      return 'deleted';
    });
  }

  async deleteTag(
    repository: string,
    tag: string,
    expected?: { digest: string; pushedAt: string },
  ): Promise<'deleted' | 'unknown' | 'changed' | { immutable: ImmutableTagRule }> {
    return this.db.transaction().execute(async (tx) => {
      const existing = await tx
        .selectFrom('tags')
        .select(['digest', 'updated_at'])
        .where('repository', '=', repository)
        .where('name', '=', tag)
        .executeTakeFirst();
      if (!existing) return 'unknown';
      if (
        expected &&
        (existing.digest !== expected.digest || existing.updated_at !== expected.pushedAt)
      )
        return 'changed';
      const immutable = await immutableRule(tx, repository, [tag]);
      if (immutable) return { immutable };
      await tx
        .deleteFrom('tags')
        .where('repository', '=', repository)
        .where('name', '=', tag)
        .execute();
      await markIfUntagged(tx, repository, existing.digest, now());
      return 'deleted';
    });
  }

  async listTags(repository: string, page: PageRequest): Promise<Page<string>> {
    let q = this.db
      .selectFrom('tags')
      .select('name')
      .where('repository', '=', repository)
      .orderBy('name')
      .limit(page.limit + 1);
    if (page.after !== undefined) q = q.where('name', '>', page.after);
    return toPage(
      (await q.execute()).map((r) => r.name),
      page.limit,
    );
  }

  async listReferrers(
    repository: string,
    subject: string,
    artifactType?: string,
  ): Promise<ManifestRow[]> {
    let q = this.db
      .selectFrom('manifests')
      .select([
        'repository',
        'digest',
        'media_type',
        'size',
        'artifact_type',
        'subject',
        'annotations',
        'created_at',
        'pushed_by',
      ])
      .where('repository', '=', repository)
      .where('subject', '=', subject)
      .orderBy('created_at')
      .orderBy('digest');
    if (artifactType !== undefined) q = q.where('artifact_type', '=', artifactType);
    return (await q.execute()).map(toManifestRow);
  }

  // ── uploads ─────────────────────────────────────────────────────────────

  async createUpload(u: NewUpload): Promise<void> {
    // A new session holds no client bytes yet: losing it in a power cut costs the client a new
    // POST, while flushing it would cost every blob push one more fsync.
    await this.unflushed(this.db, (db) =>
      db
        .insertInto('uploads')
        .values({
          id: u.id,
          repository: u.repository,
          owner: u.owner,
          algorithm: u.algorithm,
          offset: u.offset,
          created_at: u.createdAt,
          updated_at: u.updatedAt,
          storage_handle: u.handle ?? '',
          hash_state: u.hashState ?? null,
        })
        .execute(),
    );
  }

  async getUpload(id: string): Promise<UploadRow | null> {
    const row = await this.db
      .selectFrom('uploads')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row ? toUploadRow(row) : null;
  }

  async advanceUpload(
    id: string,
    from: number,
    to: number,
    at: string,
    state?: Pick<UploadRow, 'handle' | 'hashState'>,
  ): Promise<boolean> {
    const r = await this.db
      .updateTable('uploads')
      .set({
        offset: to,
        updated_at: at,
        ...(state ? { storage_handle: state.handle, hash_state: state.hashState } : {}),
      })
      .where('id', '=', id)
      .where('offset', '=', from)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async deleteUpload(id: string): Promise<boolean> {
    return this.db.transaction().execute(async (tx) => {
      const row = await tx
        .deleteFrom('uploads')
        .where('id', '=', id)
        .returning('repository')
        .executeTakeFirst();
      if (!row) return false;
      await dropIfEmpty(tx, row.repository, this.lockKeys);
      return true;
    });
  }

  async completeUpload(
    id: string,
    namespace: string,
    blob: { repository: string; digest: string; size: number },
    ensureContent: () => Promise<boolean>,
  ): Promise<'ok' | 'namespace-missing' | 'content-missing'> {
    return this.db.transaction().execute(async (tx) => {
      await this.lockKeys(tx, [blob.digest], 'shared');
      // Under the write lock (and the digest's lock), which GC holds while it moves a collected
      // blob's file away: the file checked here stays until the row written below is committed.
      if (!(await ensureContent())) return 'content-missing';
      const result = await linkBlob(tx, blob.repository, namespace, blob, this.lockKeys);
      await tx.deleteFrom('uploads').where('id', '=', id).execute();
      return result;
    });
  }

  async listStaleUploads(
    updatedBefore: string,
    limit: number,
    afterId?: string,
  ): Promise<UploadRow[]> {
    let query = this.db.selectFrom('uploads').selectAll().where('updated_at', '<', updatedBefore);
    if (afterId !== undefined) query = query.where('id', '>', afterId);
    const rows = await query.orderBy('id').limit(limit).execute();
    return rows.map(toUploadRow);
  }

  // ── integrity (berth fsck) ──────────────────────────────────────────────

  async listBlobs(
    limit: number,
    afterDigest?: string,
  ): Promise<{ digest: string; size: number }[]> {
    let query = this.db.selectFrom('blobs').select(['digest', 'size']);
    if (afterDigest !== undefined) query = query.where('digest', '>', afterDigest);
    const rows = await query.orderBy('digest').limit(limit).execute();
    return rows.map((r) => ({ digest: r.digest, size: Number(r.size) }));
  }

  async listBrokenReferences(
    limit: number,
    after?: { repository: string; manifest: string; digest: string },
  ): Promise<BrokenReference[]> {
    let query = this.db
      .selectFrom('manifest_references as r')
      .select(['r.repository', 'r.manifest', 'r.digest', 'r.kind'])
      .where((eb) =>
        eb.or([
          eb.and([
            eb('r.kind', '=', 'blob'),
            eb.not(
              eb.exists(
                eb
                  .selectFrom('repository_blobs as l')
                  .select('l.digest')
                  .whereRef('l.repository', '=', 'r.repository')
                  .whereRef('l.digest', '=', 'r.digest'),
              ),
            ),
          ]),
          eb.and([
            eb('r.kind', '=', 'manifest'),
            eb.not(
              eb.exists(
                eb
                  .selectFrom('manifests as m')
                  .select('m.digest')
                  .whereRef('m.repository', '=', 'r.repository')
                  .whereRef('m.digest', '=', 'r.digest'),
              ),
            ),
          ]),
        ]),
      )
      // A proxy's cache stores manifests first and their content when it is pulled: what was
      // never pulled is not cached, and that is no fault.
      .where((eb) =>
        eb.not(
          eb.exists(
            eb
              .selectFrom('repositories as rp')
              .innerJoin('namespaces as n', 'n.name', 'rp.namespace')
              .select('rp.name')
              .whereRef('rp.name', '=', 'r.repository')
              .where('n.kind', '=', 'proxy'),
          ),
        ),
      );
    if (after !== undefined) {
      // Row-value comparison spelled out: (a, b, c) > (x, y, z) is not portable to every engine.
      query = query.where((eb) =>
        eb.or([
          eb('r.repository', '>', after.repository),
          eb.and([
            eb('r.repository', '=', after.repository),
            eb.or([
              eb('r.manifest', '>', after.manifest),
              eb.and([eb('r.manifest', '=', after.manifest), eb('r.digest', '>', after.digest)]),
            ]),
          ]),
        ]),
      );
    }
    const rows = await query
      .orderBy('r.repository')
      .orderBy('r.manifest')
      .orderBy('r.digest')
      .limit(limit)
      .execute();
    return rows.map((r) => ({ ...r, kind: r.kind === 'manifest' ? 'manifest' : 'blob' }));
  }

  async manifestsUsingBlob(digest: string, limit: number): Promise<string[]> {
    const rows = await this.db
      .selectFrom('manifest_references')
      .select(['repository', 'manifest'])
      .where('digest', '=', digest)
      .where('kind', '=', 'blob')
      .orderBy('repository')
      .orderBy('manifest')
      .limit(limit)
      .execute();
    return rows.map((r) => `${r.repository}@${r.manifest}`);
  }

  async forgetBlob(digest: string): Promise<boolean> {
    return this.db.transaction().execute(async (tx) => {
      await this.lockKeys(tx, [digest], 'exclusive');
      // Every repository's key before any row, in one sorted order (dropIfEmpty below re-takes
      // each): one by one in the links' order, two forgets or a GC batch could deadlock.
      const linked = await tx
        .selectFrom('repository_blobs')
        .select('repository')
        .where('digest', '=', digest)
        .execute();
      await this.lockKeys(
        tx,
        linked.map((l) => repositoryKey(l.repository)),
        'exclusive',
      );
      const links = await tx
        .deleteFrom('repository_blobs')
        .where('digest', '=', digest)
        .returning('repository')
        .execute();
      const r = await tx.deleteFrom('blobs').where('digest', '=', digest).executeTakeFirst();
      // A repository that held only this blob goes with it, as after any unlink.
      for (const link of links) await dropIfEmpty(tx, link.repository, this.lockKeys);
      return Number(r.numDeletedRows) > 0;
    });
  }
}

interface NamespacePolicy {
  namespace: string;
  immutableTags: string[];
  indexChildren: string | null;
}

/** The namespace's rules, read in the write's transaction so a check and its write see the same. */
async function namespacePolicy(tx: Tx, namespace: string): Promise<NamespacePolicy | null> {
  const row = await tx
    .selectFrom('namespaces')
    .select(['name', 'immutable_tags', 'index_children'])
    .where('name', '=', namespace)
    .executeTakeFirst();
  return row
    ? {
        namespace: row.name,
        immutableTags: parseTagList(row.immutable_tags),
        indexChildren: row.index_children,
      }
    : null;
}

/** The first of `tags` (of the repository) that an immutable-tag rule of its namespace covers. */
/** The first tag of the repository (of those on `digest`, if given) that a rule makes immutable. */
async function immutableTagOf(
  tx: Tx,
  repository: string,
  digest?: string,
): Promise<ImmutableTagRule | null> {
  let query = tx.selectFrom('tags').select('name').where('repository', '=', repository);
  if (digest !== undefined) query = query.where('digest', '=', digest);
  const tags = await query.execute();
  return immutableRule(
    tx,
    repository,
    tags.map((t) => t.name),
  );
}

async function immutableRule(
  tx: Tx,
  repository: string,
  tags: readonly string[],
): Promise<ImmutableTagRule | null> {
  if (tags.length === 0) return null;
  const repo = await tx
    .selectFrom('repositories')
    .select('namespace')
    .where('name', '=', repository)
    .executeTakeFirst();
  const policy = repo ? await namespacePolicy(tx, repo.namespace) : null;
  if (!policy) return null;
  for (const tag of tags) {
    const rule = matchImmutableRule(policy.immutableTags, tag);
    if (rule !== null) return { tag, rule, namespace: policy.namespace };
  }
  return null;
}

/**
 * A tag of the write that an immutable-tag rule covers and that already points at another digest.
 * Creating such a tag is allowed, and so is pushing the digest it already has (a no-op).
 */
async function movedImmutableTag(
  tx: Tx,
  w: ManifestWrite,
  policy: NamespacePolicy | null,
): Promise<ImmutableTagRule | null> {
  if (!policy || policy.immutableTags.length === 0) return null;
  const covered = new Map<string, string>();
  for (const tag of w.tags) {
    const rule = matchImmutableRule(policy.immutableTags, tag);
    if (rule !== null) covered.set(tag, rule);
  }
  if (covered.size === 0) return null;
  const current = await tx
    .selectFrom('tags')
    .select(['name', 'digest'])
    .where('repository', '=', w.repository)
    .where('name', 'in', [...covered.keys()])
    .orderBy('name')
    .execute();
  const moved = current.find((t) => t.digest !== w.digest);
  const rule = moved && covered.get(moved.name);
  return moved && rule !== undefined
    ? { tag: moved.name, rule, namespace: policy.namespace }
    : null;
}

/**
 * A manifest that has just lost its last tag starts its untagged time now: GC collects an
 * untagged manifest `gc.untaggedAfter` after this, not after it was first pushed.
 */
async function markIfUntagged(
  tx: Tx,
  repository: string,
  digest: string,
  at: string,
): Promise<void> {
  if (await isTagged(tx, repository, digest)) return;
  await tx
    .updateTable('manifests')
    .set({ idle_since: at })
    .where('repository', '=', repository)
    .where('digest', '=', digest)
    .execute();
}

/**
 * A refused manifest write's answer, once the repository is dropped if the write created it: a
 * failed push (a missing layer, over quota) must not leave an empty repository in the catalog.
 */
async function refused(
  tx: Tx,
  repository: string,
  result: ManifestWriteResult,
  created: boolean,
): Promise<ManifestWriteResult> {
  // No repository key needed (taking it exclusively here would deadlock two refused pushes that
  // both hold it shared): a row this transaction inserted is seen by no other writer, whose
  // insert of the same name waits for this commit.
  if (created) await dropIfEmpty(tx, repository, () => Promise.resolve());
  return result;
}

/**
 * Creates the repository row on first write ('created'; 'exists' when it was there or another
 * writer created it first); false when its namespace does not exist. Holds the repository's key
 * shared, so dropIfEmpty on another replica cannot remove the row (and, by its
 * cascade, what this write adds) between this check and the commit.
 */
async function ensureRepository(
  tx: Tx,
  repository: string,
  namespace: string,
  lockKeys: KeyLock,
): Promise<'created' | 'exists' | false> {
  await lockKeys(tx, [repositoryKey(repository)], 'shared');
  const existing = await tx
    .selectFrom('repositories')
    .select('name')
    .where('name', '=', repository)
    .executeTakeFirst();
  if (existing) return 'exists';
  const ns = await tx
    .selectFrom('namespaces')
    .select('name')
    .where('name', '=', namespace)
    .executeTakeFirst();
  if (!ns) return false;
  // Another writer (a replica on PostgreSQL) may create it between the read and this insert.
  const inserted = await tx
    .insertInto('repositories')
    .values({ name: repository, namespace, created_at: now() })
    .onConflict((oc) => oc.column('name').doNothing())
    .returning('name')
    .executeTakeFirst();
  return inserted ? 'created' : 'exists';
}

async function linkBlob(
  tx: Tx,
  repository: string,
  namespace: string,
  blob: { digest: string; size: number },
  lockKeys: KeyLock,
): Promise<'ok' | 'namespace-missing'> {
  if (!(await ensureRepository(tx, repository, namespace, lockKeys))) return 'namespace-missing';
  const timestamp = now();
  await tx
    .insertInto('blobs')
    .values({ digest: blob.digest, size: blob.size, created_at: timestamp })
    .onConflict((oc) => oc.column('digest').doNothing())
    .execute();
  // A link made again (a re-upload, a mount) is in use again: GC's grace starts over.
  await tx
    .insertInto('repository_blobs')
    .values({ repository, digest: blob.digest, created_at: timestamp, used_at: timestamp })
    .onConflict((oc) => oc.columns(['repository', 'digest']).doUpdateSet({ used_at: timestamp }))
    .execute();
  return 'ok';
}

/**
 * The manifests of the repository that list `digest` (an index its child, an image its config or
 * layers), at most a few. Asked in the transaction of the delete, so none can be pushed between
 * the check and the delete.
 */
async function referrersOf(
  tx: Tx,
  repository: string,
  digest: string,
  kind: ManifestReference['kind'],
): Promise<string[]> {
  const rows = await tx
    .selectFrom('manifest_references')
    .select('manifest')
    .where('repository', '=', repository)
    .where('digest', '=', digest)
    .where('kind', '=', kind)
    .orderBy('manifest')
    .limit(MAX_NAMED_PARENTS)
    .execute();
  return rows.map((r) => r.manifest);
}

async function deleteRepository(tx: Tx, repository: string): Promise<void> {
  await tx.deleteFrom('tags').where('repository', '=', repository).execute();
  await tx.deleteFrom('manifest_references').where('repository', '=', repository).execute();
  await tx.deleteFrom('manifests').where('repository', '=', repository).execute();
  await tx.deleteFrom('repository_blobs').where('repository', '=', repository).execute();
  await tx.deleteFrom('uploads').where('repository', '=', repository).execute();
  await tx.deleteFrom('repositories').where('name', '=', repository).execute();
}

async function findMissing(
  tx: Tx,
  repository: string,
  refs: readonly ManifestReference[],
): Promise<ManifestReference[]> {
  const present = async (
    table: 'repository_blobs' | 'manifests',
    kind: ManifestReference['kind'],
  ) => {
    const digests = refs.filter((r) => r.kind === kind).map((r) => r.digest);
    if (digests.length === 0) return new Set<string>();
    const rows = await tx
      .selectFrom(table)
      .select('digest')
      .where('repository', '=', repository)
      .where('digest', 'in', digests)
      .execute();
    return new Set(rows.map((r) => r.digest));
  };
  const foundBlobs = await present('repository_blobs', 'blob');
  const foundManifests = await present('manifests', 'manifest');
  return refs.filter((r) => !(r.kind === 'blob' ? foundBlobs : foundManifests).has(r.digest));
}

function dedupe(refs: readonly ManifestReference[]): ManifestReference[] {
  const seen = new Map<string, ManifestReference>();
  for (const r of refs) if (!seen.has(r.digest)) seen.set(r.digest, r);
  return [...seen.values()];
}

function toUploadRow(row: {
  id: string;
  repository: string;
  owner: string;
  algorithm: string;
  offset: number | string;
  created_at: string;
  updated_at: string;
  storage_handle: string;
  hash_state: Uint8Array | null;
}): UploadRow {
  return {
    id: row.id,
    repository: row.repository,
    owner: row.owner,
    algorithm: row.algorithm,
    offset: Number(row.offset),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    handle: row.storage_handle,
    // Both drivers hand back a Buffer; a plain copy keeps the row free of driver types.
    hashState: row.hash_state === null ? null : new Uint8Array(row.hash_state),
  };
}

function toPage(names: string[], limit: number): Page<string> {
  const more = names.length > limit;
  return { items: more ? names.slice(0, limit) : names, more };
}

function toNamespace(row: {
  name: string;
  kind: string;
  public: number | string;
  created_at: string;
  immutable_tags: string;
  index_children: string | null;
  quota_bytes: number | string | null;
  retention: string | null;
  federation: string | null;
}): NamespaceRow {
  const federation = readFederation(row.kind, row.federation);
  return {
    name: row.name,
    kind: federation.kind,
    federation,
    public: Number(row.public) === 1,
    createdAt: row.created_at,
    immutableTags: parseTagList(row.immutable_tags),
    indexChildren: row.index_children,
    quotaBytes: row.quota_bytes === null ? null : Number(row.quota_bytes),
    retention: readStoredRetention(row.retention),
  };
}

/** The stored pattern list; anything but a JSON list of strings reads as none. */
function parseTagList(text: string): string[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return [];
  }
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}
