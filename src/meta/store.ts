/**
 * @module meta/store
 * The MetaStore: every fact about the registry except blob bytes. Small interfaces composed into
 * one; each method is one transaction, so callers never hold a transaction across an await and
 * two writers can never interleave half-changes. Implemented once over the portable query layer
 * (`sql-store.ts`), with SQLite now and PostgreSQL later.
 */
import type { ImmutableTagRule } from '../core/namespace-policy.js';
import type { RetentionPolicy } from '../core/retention-policy.js';
import type { Page, PageRequest } from '../core/types.js';
import type { IdentityMeta } from './identity.js';

export interface NamespaceRow {
  name: string;
  kind: string;
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
  | { ok: false; namespaceMissing: true };

/** A delete's outcome; refused (nothing changed) while manifests of the repository list it. */
export type DeleteResult = 'deleted' | 'unknown' | { referencedBy: string[] };

/** A manifest delete is also refused while a tag it would remove matches an immutable-tag rule. */
export type ManifestDeleteResult = DeleteResult | { immutable: ImmutableTagRule };

export interface UploadRow {
  id: string;
  repository: string;
  /** The principal that started it ('' when authentication is off). */
  owner: string;
  algorithm: string;
  offset: number;
  createdAt: string;
  updatedAt: string;
}

export interface NamespaceMeta {
  getNamespace(name: string): Promise<NamespaceRow | null>;
  /** False when it exists already. */
  createNamespace(ns: { name: string; public: boolean }): Promise<boolean>;
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
  /** The blob as linked into a repository (the only way a repository can read it). */
  getLinkedBlob(repository: string, digest: string): Promise<{ size: number } | null>;
  /** The blob if any repository holds it. */
  getBlob(digest: string): Promise<{ size: number } | null>;
  /** Repositories the blob is linked into (at most `limit`). */
  findBlobRepositories(digest: string, limit: number): Promise<string[]>;
  /** Records the blob and links it into the repository; 'namespace-missing' if the namespace was deleted. */
  linkBlob(
    repository: string,
    namespace: string,
    blob: { digest: string; size: number },
  ): Promise<'ok' | 'namespace-missing'>;
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
   * at an index whose child is gone.
   */
  deleteManifest(repository: string, digest: string): Promise<ManifestDeleteResult>;
  /** Refused (nothing changed) when the tag matches an immutable-tag rule. */
  deleteTag(
    repository: string,
    tag: string,
  ): Promise<'deleted' | 'unknown' | { immutable: ImmutableTagRule }>;
  listTags(repository: string, page: PageRequest): Promise<Page<string>>;
  listReferrers(repository: string, subject: string, artifactType?: string): Promise<ManifestRow[]>;
}

export interface UploadMeta {
  createUpload(upload: UploadRow): Promise<void>;
  getUpload(id: string): Promise<UploadRow | null>;
  /** Compare-and-set of the offset: false when another writer moved it first. */
  advanceUpload(id: string, from: number, to: number, now: string): Promise<boolean>;
  deleteUpload(id: string): Promise<boolean>;
  /** Links the finished blob and drops the upload row in one transaction. */
  completeUpload(
    id: string,
    namespace: string,
    blob: { repository: string; digest: string; size: number },
  ): Promise<'ok' | 'namespace-missing'>;
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

export interface MetaStore
  extends
    NamespaceMeta,
    RepoMeta,
    BlobMeta,
    ManifestMeta,
    UploadMeta,
    IntegrityMeta,
    BrowseMeta,
    IdentityMeta {
  close(): Promise<void>;
}
