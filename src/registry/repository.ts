/**
 * @module registry/repository
 * Resolves a requested repository name to where it lives: its canonical name (single-segment
 * names live in the default namespace) and its namespace. Writes need the namespace to exist.
 */
import { RegistryError } from '../core/errors.js';
import { immutableTagDenied } from '../core/namespace-policy.js';
import { canonicalName, namespaceOf, parseName, type RepoName } from '../core/names.js';
import type { BrowseMeta, NamespaceMeta, NamespaceRow, RepoMeta } from '../meta/store.js';
import type { StorageDriver } from '../storage/driver.js';
import { parseUploadId } from './layout.js';

export interface RepositoryRef {
  /** The name as the client sent it (echoed in Location headers). */
  readonly requested: RepoName;
  /** The stored name, e.g. `library/nginx` for `nginx`. */
  readonly name: RepoName;
  readonly namespace: string;
}

export function resolveRepository(requested: string, defaultNamespace: string): RepositoryRef {
  const parsed = parseName(requested);
  const name = canonicalName(parsed, defaultNamespace);
  return { requested: parsed, name, namespace: namespaceOf(name) };
}

export function namespaceMissing(namespace: string): RegistryError {
  return new RegistryError(
    'NAME_UNKNOWN',
    `namespace "${namespace}" does not exist; an administrator can create it with: berth namespace create ${namespace}`,
    { namespace },
  );
}

/** Throws NAME_UNKNOWN (with the command that fixes it) unless the namespace exists. */
export async function assertNamespace(
  meta: Pick<NamespaceMeta, 'getNamespace'>,
  repo: RepositoryRef,
): Promise<NamespaceRow> {
  const row = await meta.getNamespace(repo.namespace);
  if (!row) throw namespaceMissing(repo.namespace);
  return row;
}

export interface RepositoryService {
  /**
   * A repository by its exact stored name, null when there is none. Unlike `resolveRepository`
   * it accepts a name that today's checks refuse (stored before they were tightened), so such a
   * row can still be shown and deleted; it never creates anything.
   */
  stored(name: string): Promise<RepositoryRef | null>;
  /**
   * Deletes the repository and everything in it (tags, manifests, blob links, upload sessions
   * and their files); false when it does not exist. Blobs stay for GC.
   */
  delete(repo: RepositoryRef): Promise<boolean>;
}

export function createRepositoryService(deps: {
  meta: Pick<NamespaceMeta, 'getNamespace'> &
    Pick<RepoMeta, 'deleteRepository'> &
    Pick<BrowseMeta, 'getRepositorySummary'>;
  storage: StorageDriver;
}): RepositoryService {
  const { meta, storage } = deps;
  return {
    async stored(name) {
      const summary = await meta.getRepositorySummary(name);
      if (!summary) return null;
      const stored = summary.name as RepoName;
      return { requested: stored, name: stored, namespace: summary.namespace };
    },

    async delete(repo) {
      const deleted = await meta.deleteRepository(repo.name);
      if (!deleted) return false;
      if ('immutable' in deleted) throw immutableTagDenied(deleted.immutable, 'deleted');
      // The rows are gone, so no request can reach these files any more.
      for (const raw of deleted.uploads) {
        const id = parseUploadId(raw);
        if (id) await storage.abortUpload(id);
      }
      return true;
    },
  };
}
