/**
 * @module registry/blobs
 * Reading, mounting and deleting blobs. A blob is stored once, content-addressed, and is visible
 * through a repository only while it is linked to it.
 */
import type { Readable } from 'node:stream';
import type { Digest } from '../core/digest.js';
import { namespaceOf, type RepoName } from '../core/names.js';
import { blobUnknown, stillReferenced } from '../core/errors.js';
import type { ByteRange } from '../core/types.js';
import type { GcMeta } from '../meta/gc.js';
import type { BlobMeta } from '../meta/store.js';
import type { StorageDriver } from '../storage/driver.js';
import { blobKey } from './layout.js';
import { settleTrashed } from './trash.js';
import type { QuotaService } from './quota.js';
import { namespaceMissing, type RepositoryRef } from './repository.js';

export interface BlobInfo {
  digest: Digest;
  size: number;
}

export interface BlobService {
  /** Answered from the metadata alone; throws BLOB_UNKNOWN. */
  stat(repo: RepositoryRef, digest: Digest): Promise<BlobInfo>;
  /**
   * `stat` for a HEAD, which is how a pushing client finds a layer it need not upload: the
   * link's GC grace starts over (a write at most once per touch interval), so the manifest PUT
   * that follows finds the layer still there.
   */
  check(repo: RepositoryRef, digest: Digest): Promise<BlobInfo>;
  /** The caller consumes or destroys the stream. */
  open(
    repo: RepositoryRef,
    digest: Digest,
    range?: ByteRange,
    signal?: AbortSignal,
  ): Promise<{ info: BlobInfo; body: Readable }>;
  /**
   * Where the client may fetch the blob's bytes itself (a presigned storage URL, valid for
   * {@link READ_URL_SECONDS}), or null when Berth serves them: the storage does not redirect, or
   * cannot find the bytes (`open` then takes the usual path to BLOB_UNKNOWN). The caller has
   * checked the link (`stat`).
   */
  readUrl(digest: Digest): Promise<string | null>;
  /**
   * Links a blob into `repo` without copying it: from `from` when given, else from wherever it is
   * stored. Null when it cannot be mounted (the caller starts an upload instead).
   */
  mount(
    repo: RepositoryRef,
    digest: Digest,
    from: RepositoryRef | null,
    canRead: (source: RepositoryRef) => Promise<boolean>,
  ): Promise<BlobInfo | null>;
  /** Whether the blob is stored at all, in any repository (no access decision: callers decide). */
  exists(digest: Digest): Promise<boolean>;
  /**
   * Unlinks the blob from the repository; its bytes go when nothing else uses them (GC).
   * REFERENCED while a manifest of the repository lists it: its tags would then point at an
   * image that cannot be pulled.
   */
  delete(repo: RepositoryRef, digest: Digest): Promise<void>;
}

/**
 * A HEAD restarts the link's grace when the last use is older than this: a found layer then stays
 * for at least the grace less this long (whatever grace a `berth gc --grace` picks), and a layer
 * HEADed by many pushes at once costs one small write a second.
 */
const TOUCH_EVERY_MS = 1000;

/**
 * How long a pull's presigned URL works. The URL is a bearer credential for the blob that Berth
 * can no longer revoke (a removed user, a deleted blob), so it is short; a client follows the
 * redirect at once, and the store checks the signature only when the GET starts, so a slow
 * download of a large layer is not cut. Ten minutes rather than one leaves room for clock skew
 * between Berth and the store and for a client that retries the same URL.
 */
export const READ_URL_SECONDS = 600;

export function createBlobService(deps: {
  meta: BlobMeta & Pick<GcMeta, 'withBlobRow'>;
  storage: StorageDriver;
  onMissingContent: (digest: Digest) => void;
  quota: QuotaService;
}): BlobService {
  const { meta, storage } = deps;

  async function stat(repo: RepositoryRef, digest: Digest): Promise<BlobInfo> {
    const linked = await meta.getLinkedBlob(repo.name, digest);
    if (!linked) throw blobUnknown(digest);
    return { digest, size: linked.size };
  }

  /** A blob linked in some repository the caller may read (a mount without `from`). */
  async function readableAnywhere(
    digest: Digest,
    canRead: (source: RepositoryRef) => Promise<boolean>,
  ): Promise<{ size: number } | null> {
    const blob = await meta.getBlob(digest);
    if (!blob) return null;
    for (const name of await meta.findBlobRepositories(digest, 100)) {
      const ref = {
        requested: name as RepoName,
        name: name as RepoName,
        namespace: namespaceOf(name as RepoName),
      };
      if (await canRead(ref)) return blob;
    }
    return null;
  }

  return {
    stat,

    async check(repo, digest) {
      const linked = await meta.getLinkedBlob(repo.name, digest);
      if (!linked) throw blobUnknown(digest);
      if (Date.now() - Date.parse(linked.usedAt) >= TOUCH_EVERY_MS) {
        // Gone between the read and the touch: collected just now, so the client must upload.
        if (!(await meta.touchBlobLink(repo.name, digest))) throw blobUnknown(digest);
      }
      return { digest, size: linked.size };
    },

    async open(repo, digest, range, signal) {
      const info = await stat(repo, digest);
      const read = () =>
        storage.read(blobKey(digest), {
          ...(range ? { range } : {}),
          ...(signal ? { signal } : {}),
        });
      let body = await read();
      // A garbage collection killed mid-transaction leaves a live blob's file in its trash: put
      // it back (under GC's lock) rather than fail the pull until the next server start.
      if (!body && (await settleTrashed(meta, storage, digest)) === 'restored') body = await read();
      if (!body) {
        deps.onMissingContent(digest);
        throw blobUnknown(digest);
      }
      return { info, body };
    },

    async readUrl(digest) {
      if (!storage.readUrl) return null;
      return storage.readUrl(blobKey(digest), { expiresInSeconds: READ_URL_SECONDS });
    },

    async mount(repo, digest, from, canRead) {
      const source = from
        ? await meta.getLinkedBlob(from.name, digest)
        : await readableAnywhere(digest, canRead);
      if (!source) return null;
      const overQuota = await deps.quota.refusal(repo.namespace, { digest, size: source.size });
      if (overQuota) throw overQuota;
      if (!(await storage.stat(blobKey(digest)))) return null;
      const result = await meta.mountBlob(repo.name, repo.namespace, {
        digest,
        size: source.size,
      });
      if (result === 'namespace-missing') throw namespaceMissing(repo.namespace);
      // Collected since it was looked up: the client uploads it instead.
      if (result === 'blob-missing') return null;
      return { digest, size: source.size };
    },

    exists: async (digest) => (await meta.getBlob(digest)) !== null,

    async delete(repo, digest) {
      const result = await meta.unlinkBlob(repo.name, digest);
      if (result === 'unknown') throw blobUnknown(digest);
      if (result !== 'deleted') throw stillReferenced('blob', digest, result.referencedBy);
    },
  };
}
