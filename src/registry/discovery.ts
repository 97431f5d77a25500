/**
 * @module registry/discovery
 * Listings: tags of a repository, the catalog of repositories, and the referrers of a manifest.
 */
import type { Digest } from '../core/digest.js';
import { nameUnknown } from '../core/errors.js';
import { isValidName } from '../core/names.js';
import { MediaType } from '../core/media-types.js';
import type { Descriptor, Page, PageRequest } from '../core/types.js';
import type { ManifestMeta, RepoMeta } from '../meta/store.js';
import type { RepositoryRef } from './repository.js';

export interface ReferrersIndex {
  schemaVersion: 2;
  mediaType: typeof MediaType.ociIndex;
  manifests: Descriptor[];
}

export interface CatalogPage extends Page<string> {
  /** Stored names no client could use, left out of the listing; each is reported only once. */
  skipped: string[];
}

export interface DiscoveryService {
  /** Throws NAME_UNKNOWN for a repository that was never pushed to. */
  listTags(repo: RepositoryRef, page: PageRequest): Promise<Page<string>>;
  /**
   * Repository names in the given namespaces ('all' for an administrator), filtered before
   * paging: every page is full unless it is the last. A stored name that fails the name grammar
   * (written before the checks were tightened, or by hand) is skipped, never an error.
   */
  listRepositories(page: PageRequest, namespaces: readonly string[] | 'all'): Promise<CatalogPage>;
  /** Never fails for an unknown subject or repository: an empty index. */
  referrers(repo: RepositoryRef, subject: Digest, artifactType?: string): Promise<ReferrersIndex>;
}

export function createDiscoveryService(deps: {
  meta: Pick<RepoMeta, 'repositoryExists' | 'listRepositories'> &
    Pick<ManifestMeta, 'listTags' | 'listReferrers'>;
}): DiscoveryService {
  const { meta } = deps;
  /** Bad names already reported (a handful at most: each needed a hand-made or legacy row). */
  const reported = new Set<string>();
  return {
    async listTags(repo, page) {
      const result = await meta.listTags(repo.name, page);
      if (result.items.length === 0 && !(await meta.repositoryExists(repo.name)))
        throw nameUnknown(repo.requested);
      return result;
    },

    async listRepositories(page, namespaces) {
      const filter = namespaces === 'all' ? undefined : namespaces;
      const items: string[] = [];
      const skipped: string[] = [];
      let after = page.after;
      // Fetch until the page is full: bad rows are rare, so this is one query in practice.
      for (;;) {
        const want = page.limit - items.length;
        const batch = await meta.listRepositories(
          { limit: want, ...(after !== undefined ? { after } : {}) },
          filter,
        );
        for (const name of batch.items) {
          if (isValidName(name)) items.push(name);
          else if (!reported.has(name)) {
            reported.add(name);
            skipped.push(name);
          }
        }
        after = batch.items.at(-1);
        if (!batch.more || items.length >= page.limit || after === undefined)
          return { items, more: batch.more, skipped };
      }
    },

    async referrers(repo, subject, artifactType) {
      const rows = await meta.listReferrers(repo.name, subject, artifactType);
      return {
        schemaVersion: 2,
        mediaType: MediaType.ociIndex,
        manifests: rows.map((r) => ({
          mediaType: r.mediaType,
          digest: r.digest as Digest,
          size: r.size,
          ...(r.artifactType !== null ? { artifactType: r.artifactType } : {}),
          ...(r.annotations !== null ? { annotations: r.annotations } : {}),
        })),
      };
    },
  };
}
