/**
 * @module registry/discovery
 * Listings: tags of a repository, the catalog of repositories, and the referrers of a manifest.
 */
import type { Digest } from '../core/digest.js';
import { nameUnknown } from '../core/errors.js';
import { MediaType } from '../core/media-types.js';
import type { Descriptor, Page, PageRequest } from '../core/types.js';
import type { MetaStore } from '../meta/store.js';
import type { RepositoryRef } from './repository.js';

export interface ReferrersIndex {
  schemaVersion: 2;
  mediaType: typeof MediaType.ociIndex;
  manifests: Descriptor[];
}

export interface DiscoveryService {
  /** Throws NAME_UNKNOWN for a repository that was never pushed to. */
  listTags(repo: RepositoryRef, page: PageRequest): Promise<Page<string>>;
  listRepositories(page: PageRequest): Promise<Page<string>>;
  /** Never fails for an unknown subject or repository: an empty index. */
  referrers(repo: RepositoryRef, subject: Digest, artifactType?: string): Promise<ReferrersIndex>;
}

export function createDiscoveryService(deps: { meta: MetaStore }): DiscoveryService {
  const { meta } = deps;
  return {
    async listTags(repo, page) {
      const result = await meta.listTags(repo.name, page);
      if (result.items.length === 0 && !(await meta.repositoryExists(repo.name)))
        throw nameUnknown(repo.requested);
      return result;
    },

    listRepositories: (page) => meta.listRepositories(page),

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
