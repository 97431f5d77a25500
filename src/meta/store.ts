/**
 * @module meta/store
 * The MetaStore: every fact about the registry except blob bytes. Small interfaces composed into
 * one; each method is one transaction, so callers never hold a transaction across an await and
 * two writers can never interleave half-changes. Implemented once over the portable query layer
 * (`sql-store.ts`), with SQLite now and PostgreSQL later.
 */
import type { Federation, NamespaceKind } from '../core/federation.js';
import type { ImmutableTagRule } from '../core/namespace-policy.js';
import type { QuotaExceeded } from '../core/quota.js';
import type { RetentionPolicy } from '../core/retention-policy.js';
import type { Page, PageRequest } from '../core/types.js';
import type { GcMeta } from './gc.js';
import type { IdentityMeta } from './identity.js';
import type { SharedStateMeta } from './shared-state.js';

export interface NamespaceRow {
  name: string;
  kind: NamespaceKind;
  /** What kind it is with its settings: a proxy's upstream, a group's members. */
  federation: Federation;
  public: boolean;
  createdAt: string;
  /** Immutable-tag patterns (core/namespace-policy.ts); empty for none. */
  immutableTags: string[];
  /** 'all', 'none' or a platform list; null inherits the configured default. */
  indexChildren: string | null;
  /** Bytes of distinct blobs the namespace may hold; null for no limit. */
  quotaBytes: number | null;
  /** Null for none. */
  retention: RetentionPolicy | null;
}

/** A change of a namespace's rules; an absent field stays as it is. */
export interface NamespacePolicyPatch {
  immutableTags?: readonly string[];
  indexChildren?: string | null;
  quotaBytes?: number | null;
  retention?: RetentionPolicy | null;
}

export interface ManifestRow {
  repository: string;
  digest: string;
  mediaType: string;
  size: number;
  artifactType: string | null;
  subject: string | null;
  annotations: Record<string, string> | null;
  createdAt: string;
  /** The user who first pushed it; null without authentication. */
  pushedBy: string | null;
}

export interface ManifestWithPayload extends ManifestRow {
  payload: Buffer;
}

export interface ManifestReference {
  digest: string;
  kind: 'blob' | 'manifest';
}

export interface ManifestWrite {
  repository: string;
  namespace: string;
  digest: string;
  mediaType: string;
  payload: Uint8Array;
  artifactType: string | null;
  subject: string | null;
  annotations: Record<string, string> | null;
  /**
   * References whose existence is checked in the same transaction; an index child carries its
   * platform (`os/arch[/variant]`) and a layer its role, for the index-children rule.
   */
  references: readonly (ManifestReference & { platform?: string | null; layer?: boolean })[];
  /** When false, missing references are recorded but not refused. */
  verifyReferences: boolean;
  /** Which index children must exist ('all', 'none', platforms) unless the namespace overrides it. */
  indexChildren: string;
  tags: readonly string[];
  /** The pushing user (recorded on the manifest and its tags); null without authentication. */
  pushedBy: string | null;
}

export type ManifestWriteResult =
  | { ok: true }
  | { ok: false; missing: ManifestReference[] }
  /** A tag of the write matches an immutable-tag rule and points at another digest. */
  | { ok: false; immutable: ImmutableTagRule }
  /** The manifest makes its namespace hold more than its quota (meta/sql-quota.ts). */
  | { ok: false; quota: QuotaExceeded }
  | { ok: false; namespaceMissing: true };

/** A delete's outcome; refused (nothing changed) while manifests of the repository list it. */
export type DeleteResult = 'deleted' | 'unknown' | { referencedBy: string[] };

/**
 * A manifest delete is also refused while a tag it would remove matches an immutable-tag rule;
 * 'changed': a delete asked to be conditional found the row changed since the caller read it.
 */
export type ManifestDeleteResult = DeleteResult | 'changed' | { immutable: ImmutableTagRule };

export interface UploadRow {
  id: string;
  repository: string;
  /** The principal that started it ('' when authentication is off). */
  owner: string;
  algorithm: string;
  offset: number;
  createdAt: string;
  updatedAt: string;
  /** The storage driver's handle of the upload's bytes ('' for sessions older than handles). */
  handle: string;
  /** The running hash's saved state at `offset`, so any replica can go on hashing; or null. */
  hashState: Uint8Array | null;
}

/** A new session: its handle and hash state may come with it or with its first write. */
export type NewUpload = Omit<UploadRow, 'handle' | 'hashState'> &
  Partial<Pick<UploadRow, 'handle' | 'hashState'>>;

export interface NamespaceMeta {
  getNamespace(name: string): Promise<NamespaceRow | null>;
  /** False when it exists already. Hosted unless `federation` says otherwise. */
  createNamespace(ns: { name: string; public: boolean; federation?: Federation }): Promise<boolean>;
  /**
   * Replaces a proxy's or group's settings (its kind stays: a hosted namespace never becomes a
   * cache, nor the reverse). False when there is no such namespace of that kind.
   */
  setNamespaceFederation(name: string, federation: Federation): Promise<boolean>;
  setNamespacePublic(name: string, isPublic: boolean): Promise<boolean>;
  /** False when the namespace does not exist. */
  setNamespacePolicy(name: string, patch: NamespacePolicyPatch): Promise<boolean>;
  listNamespaces(): Promise<(NamespaceRow & { repositories: number })[]>;
  /** Every namespace's name and visibility, without counting its repositories (cheap). */
  listNamespaceVisibility(): Promise<{ name: string; public: boolean }[]>;
  /** 'not-empty' while repositories remain, unless `force` deletes them too. */
  deleteNamespace(name: string, force: boolean): Promise<'deleted' | 'unknown' | 'not-empty'>;
}

/**
 * Repositories exist while they hold something: the first blob link or manifest creates one, and
 * it goes with its last manifest, blob link and upload session (deleteManifest, unlinkBlob,
 * deleteUpload), so an emptied repository is no longer listed.
 */
export interface RepoMeta {
  repositoryExists(name: string): Promise<boolean>;
  /**
   * Repository names in byte order, only those in `namespaces` (all without it): filtered before
   * paging, so a page is full and never ends on a name the caller may not see.
   */
  listRepositories(page: PageRequest, namespaces?: readonly string[]): Promise<Page<string>>;
  /**
   * Deletes the repository with its tags, manifests, blob links and upload sessions in one
   * transaction; null when it does not exist. The upload ids are returned so their files can go.
   * Refused (nothing changed) while a tag of it matches an immutable-tag rule.
   */
  deleteRepository(
    name: string,
  ): Promise<{ uploads: string[] } | { immutable: ImmutableTagRule } | null>;
}

export interface BlobMeta {
  /**
   * The blob as linked into a repository (the only way a repository can read it); `usedAt` is
   * the link's last upload, mount or push-time HEAD.
   */
  getLinkedBlob(
    repository: string,
    digest: string,
  ): Promise<{ size: number; usedAt: string } | null>;
  /** Marks the link used now (a push found it): GC's grace for it starts over. False if gone. */
  touchBlobLink(repository: string, digest: string): Promise<boolean>;
  /** The blob if any repository holds it. */
  getBlob(digest: string): Promise<{ size: number } | null>;
  /** Repositories the blob is linked into (at most `limit`). */
  findBlobRepositories(digest: string, limit: number): Promise<string[]>;
  /**
   * Links a stored blob into the repository (a cross-repository mount); 'blob-missing' when its
   * row is gone (collected), 'namespace-missing' if the namespace was deleted.
   */
  mountBlob(
    repository: string,
    namespace: string,
    blob: { digest: string; size: number },
  ): Promise<'ok' | 'namespace-missing' | 'blob-missing'>;
  /** Unlinks the blob from the repository, unless a manifest of the repository lists it. */
  unlinkBlob(repository: string, digest: string): Promise<DeleteResult>;
}

export interface ManifestMeta {
  putManifest(write: ManifestWrite): Promise<ManifestWriteResult>;
  getManifest(repository: string, digest: string): Promise<ManifestWithPayload | null>;
  getTaggedManifest(repository: string, tag: string): Promise<ManifestWithPayload | null>;
  /**
   * Deletes the manifest and every tag that points at it, unless an index in the same repository
   * lists it as a child (then nothing changes and the indexes are named): a tag must never point
   * at an index whose child is gone. With `untaggedOnly` (retention), 'changed' while a tag
   * points at it: a push that tagged it after the caller looked is never undone.
   */
  deleteManifest(
    repository: string,
    digest: string,
    untaggedOnly?: boolean,
  ): Promise<ManifestDeleteResult>;
  /**
   * Refused (nothing changed) when the tag matches an immutable-tag rule. With `expected`
   * (retention), 'changed' when the tag was moved or pushed again since the caller read it.
   */
  deleteTag(
    repository: string,
    tag: string,
    expected?: { digest: string; pushedAt: string },
  ): Promise<'deleted' | 'unknown' | 'changed' | { immutable: ImmutableTagRule }>;
  listTags(repository: string, page: PageRequest): Promise<Page<string>>;
  listReferrers(repository: string, subject: string, artifactType?: string): Promise<ManifestRow[]>;
}

export interface UploadMeta {
  createUpload(upload: NewUpload): Promise<void>;
  getUpload(id: string): Promise<UploadRow | null>;
  /**
   * Compare-and-set of the offset: false when another writer moved it first. `state` is recorded
   * with it (the driver's new handle and the hash state at `to`).
   */
  advanceUpload(
    id: string,
    from: number,
    to: number,
    now: string,
    state?: Pick<UploadRow, 'handle' | 'hashState'>,
  ): Promise<boolean>;
  deleteUpload(id: string): Promise<boolean>;
  /**
   * Links the finished blob and drops the upload row in one transaction. `ensureContent` runs
   * inside it, under the lock GC takes to remove a blob, and makes sure the blob's file is in
   * place (false: it is not and cannot be, nothing is written): a row never goes without a file.
   */
  completeUpload(
    id: string,
    namespace: string,
    blob: { repository: string; digest: string; size: number },
    ensureContent: () => Promise<boolean>,
  ): Promise<'ok' | 'namespace-missing' | 'content-missing'>;
  /** Sessions idle since before `updatedBefore`, by id, those after `afterId` only: a page. */
  listStaleUploads(updatedBefore: string, limit: number, afterId?: string): Promise<UploadRow[]>;
}

/** A manifest_references row whose target is not in the manifest's repository. */
export interface BrokenReference {
  repository: string;
  manifest: string;
  digest: string;
  kind: 'blob' | 'manifest';
}

/** The queries of `berth fsck`: pages in key order, so a store of any size is read in bounded memory. */
export interface IntegrityMeta {
  /** Blob rows by digest, those after `afterDigest` only. */
  listBlobs(limit: number, afterDigest?: string): Promise<{ digest: string; size: number }[]>;
  /**
   * References (config, layers, child manifests) whose blob is not linked into, or whose child
   * manifest is not in, the manifest's repository; a page after the `after` key.
   */
  listBrokenReferences(
    limit: number,
    after?: { repository: string; manifest: string; digest: string },
  ): Promise<BrokenReference[]>;
  /** Manifests that list the digest as a blob (at most `limit`), as `repository@digest`. */
  manifestsUsingBlob(digest: string, limit: number): Promise<string[]>;
  /**
   * Drops the blob row and its repository links in one transaction (its file is gone): the
   * registry then answers BLOB_UNKNOWN and a client's next push uploads the bytes again.
   */
  forgetBlob(digest: string): Promise<boolean>;
}

/** A repository as the web UI lists it. */
export interface RepositorySummary {
  name: string;
  namespace: string;
  tags: number;
  manifests: number;
  createdAt: string;
  /** The newest tag move or manifest push (createdAt when empty). */
  updatedAt: string;
}

/** A tag with the manifest it points at, as the web UI lists it. */
export interface TagDetail {
  tag: string;
  pushedAt: string;
  pushedBy: string | null;
  manifest: ManifestWithPayload;
}

export interface NamespaceUsage {
  namespace: string;
  repositories: number;
  tags: number;
  manifests: number;
  /** Distinct blobs linked into the namespace's repositories, and their bytes. */
  blobs: number;
  bytes: number;
}

export interface Slice<T> {
  items: T[];
  /** How many match the filter in all. */
  total: number;
}

/**
 * Read-only views for the admin API and the web UI. Every query is limited to the namespaces
 * the caller may see: the caller passes them, so nothing leaks from one it may not.
 */
export interface BrowseMeta {
  findRepositories(filter: {
    namespaces: readonly string[];
    /** A case-insensitive substring of the name. */
    query?: string | undefined;
    limit: number;
    offset: number;
  }): Promise<Slice<RepositorySummary>>;
  getRepositorySummary(name: string): Promise<RepositorySummary | null>;
  /** Newest first, then by name. */
  findTags(
    repository: string,
    filter: { query?: string | undefined; limit: number; offset: number },
  ): Promise<Slice<TagDetail>>;
  tagsOf(repository: string, digest: string): Promise<string[]>;
  namespaceUsage(namespaces: readonly string[]): Promise<NamespaceUsage[]>;
  /** Distinct blobs across the namespaces (a blob shared by two namespaces counts once). */
  storageUsed(namespaces: readonly string[] | 'all'): Promise<{ blobs: number; bytes: number }>;
  recentTags(
    namespaces: readonly string[],
    limit: number,
  ): Promise<
    { repository: string; tag: string; digest: string; pushedAt: string; pushedBy: string | null }[]
  >;
}

/** A manifest GET, as the pull log (registry/pull-log.ts) batches it. */
export interface PullRecord {
  repository: string;
  digest: string;
  /** ISO-8601. */
  at: string;
}

/** A tag with what retention weighs: when it was pushed, and its manifest's subject and last pull. */
export interface RetentionTag {
  tag: string;
  digest: string;
  pushedAt: string;
  /** The manifest's subject: a referrer's tags are never pruned. */
  subject: string | null;
  lastPulledAt: string | null;
}

/** One repository as retention sees it (lifecycle/retention.ts), read in one transaction. */
export interface RetentionView {
  tags: RetentionTag[];
  /** Every manifest digest of the repository. */
  manifests: string[];
  /** Index → child edges among the repository's manifests. */
  children: { index: string; child: string }[];
}

/** Retention's reads and the batched pull times it weighs. */
export interface RetentionMeta {
  /**
   * Sets `last_pulled_at` of each manifest (never back in time), in one transaction that need not
   * reach the disk at once: losing pull times in a power cut is harmless. Gone manifests are skipped.
   */
  recordPulls(pulls: readonly PullRecord[]): Promise<void>;
  retentionView(repository: string): Promise<RetentionView>;
}

/**
 * What a namespace holds, for its quota: the distinct blobs (each counted once) that manifests of
 * its repositories reference, plus those linked into its repositories at or after `linkedSince`
 * (now minus the GC grace: a push in progress, layers uploaded, manifest not yet PUT).
 */
export interface QuotaMeta {
  namespaceUsedBytes(namespace: string, linkedSince: string): Promise<number>;
  /** The same for every namespace at once; a namespace that holds nothing is absent. */
  usedBytesByNamespace(linkedSince: string): Promise<Map<string, number>>;
  /** Whether the blob already counts in the namespace's usage (adding it costs nothing). */
  namespaceHoldsBlob(namespace: string, digest: string, linkedSince: string): Promise<boolean>;
}

export interface MetaStore
  extends
    NamespaceMeta,
    RepoMeta,
    BlobMeta,
    ManifestMeta,
    UploadMeta,
    IntegrityMeta,
    BrowseMeta,
    QuotaMeta,
    RetentionMeta,
    GcMeta,
    IdentityMeta,
    SharedStateMeta {
  close(): Promise<void>;
  /**
   * Tells `listener` the table of each change any process commits (`users`), or `*` when
   * changes may have been missed, where the engine reports them
   * (PostgreSQL); never called on SQLite, whose one server process sees its own writes.
   */
  watchChanges(listener: (table: string) => void): () => void;
}
