/**
 * @module meta/gc
 * What garbage collection (lifecycle/gc.ts) asks of the metadata store: the reference graph of a
 * repository, page by page; deletes that re-check, in their own transaction, that what the plan
 * found unreferenced still is (pushes go on while GC runs); and the record of runs.
 *
 * The lock: a collected blob's row is deleted and its file moved out of `blobs/` in one
 * transaction (`collectLinks`), and an upload commits its row after checking its file in one
 * transaction too (MetaStore.completeUpload). SQLite runs one write transaction at a time, so the
 * two never interleave: an upload either sees the file gone (and puts its own bytes there) or
 * commits a link that makes GC keep the blob.
 */

export interface GcManifest {
  digest: string;
  subject: string | null;
  /** When it was last pushed or lost its last tag. */
  idleSince: string;
  tagged: boolean;
}

/** A repository's manifests and the index → child edges between them. */
export interface GcGraph {
  manifests: GcManifest[];
  children: { parent: string; child: string }[];
}

export interface GcLink {
  digest: string;
  size: number;
}

/** Who holds a blob: its links and the manifests that list it, in every repository. */
export interface BlobHolders {
  digest: string;
  links: string[];
  /** `repository@manifest`. */
  references: string[];
}

export type GcRunStatus = 'running' | 'done' | 'failed' | 'abandoned';

export interface GcRunRow {
  id: string;
  trigger: string;
  dryRun: boolean;
  status: GcRunStatus;
  startedAt: string;
  heartbeatAt: string;
  finishedAt: string | null;
  /** The JSON report once finished. */
  report: string | null;
}

export interface GcMeta {
  /**
   * Records a run. A real run is refused (`running` names the other) while another real run's
   * heartbeat is newer than `aliveAfter`; older ones are marked abandoned (their process died).
   */
  startGcRun(run: {
    id: string;
    trigger: string;
    dryRun: boolean;
    at: string;
    aliveAfter: string;
    /** `host:pid` of this process. */
    owner: string;
    /** True when the owner of a running row is known to be gone (its pid ended on this host). */
    ownerGone: (owner: string) => boolean;
  }): Promise<{ ok: true } | { ok: false; running: GcRunRow }>;
  heartbeatGcRun(id: string, at: string): Promise<void>;
  finishGcRun(id: string, at: string, status: GcRunStatus, report: string): Promise<void>;
  /** Newest first. */
  listGcRuns(limit: number): Promise<GcRunRow[]>;

  gcGraph(repository: string): Promise<GcGraph>;
  /** True while an upload session of the repository exists: a push may be in progress. */
  repositoryHasUploads(repository: string): Promise<boolean>;
  /** Links of the repository last used before `usedBefore`, by digest, after `afterDigest`. */
  listIdleLinks(
    repository: string,
    usedBefore: string,
    limit: number,
    afterDigest?: string,
  ): Promise<GcLink[]>;
  /** Which manifests of the repository list each of `digests` as a blob (config or layer). */
  blobReferences(
    repository: string,
    digests: readonly string[],
  ): Promise<{ digest: string; manifest: string }[]>;
  blobHolders(digests: readonly string[]): Promise<BlobHolders[]>;
  /** Blob rows with no link and no reference anywhere, created before `createdBefore`. */
  listUnheldBlobs(createdBefore: string, limit: number, afterDigest?: string): Promise<GcLink[]>;

  /**
   * Deletes the manifest if it is still as planned: the same `idleSince` (not pushed again, no
   * tag came and went), untagged, listed by no index of the repository, and not a referrer of a
   * subject that is tagged or listed by an index.
   */
  collectManifest(
    repository: string,
    digest: string,
    idleSince: string,
  ): Promise<'deleted' | 'kept' | 'gone'>;
  /**
   * Deletes each link still unreferenced in its repository, last used before `usedBefore`, in a
   * repository without upload sessions; a blob left with no link and no reference anywhere loses
   * its row, and `removeFile` moves its file away inside the same transaction. One transaction.
   */
  collectLinks(
    links: readonly { repository: string; digest: string }[],
    usedBefore: string,
    removeFile: (digest: string) => Promise<void>,
  ): Promise<{ links: number; blobs: GcLink[] }>;
  /** `collectLinks` for blob rows that have no link at all (still unheld, created before). */
  collectUnheldBlobs(
    digests: readonly string[],
    createdBefore: string,
    removeFile: (digest: string) => Promise<void>,
  ): Promise<GcLink[]>;
  /** Runs `work` in a write transaction that knows whether the blob has a row (trash recovery). */
  withBlobRow<T>(digest: string, work: (hasRow: boolean) => Promise<T>): Promise<T>;
}
