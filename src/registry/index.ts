/**
 * @module registry
 * The registry domain, with no HTTP in it: `createRegistry` wires the services over a
 * StorageDriver and a MetaStore.
 */
import type { Digest } from '../core/digest.js';
import type { MetaStore } from '../meta/store.js';
import type { StorageDriver } from '../storage/driver.js';
import { createBlobService, type BlobService } from './blobs.js';
import { createBrowseService, type BrowseService } from './browse.js';
import { createDiscoveryService, type DiscoveryService } from './discovery.js';
import { createManifestService, type ManifestService } from './manifests.js';
import { createNamespaceService, type NamespaceService } from './namespaces.js';
import { createQuotaService, type QuotaService } from './quota.js';
import {
  createRepositoryService,
  resolveRepository,
  type RepositoryRef,
  type RepositoryService,
} from './repository.js';
import { createUploadService, type UploadService } from './uploads.js';

export interface RegistryOptions {
  defaultNamespace: string;
  verifyManifestReferences: boolean;
  /** Which children of a pushed index must exist: 'all', 'none' or a platform list. */
  indexChildren: string;
  /** GC's grace (`gc.grace`): how long an unreferenced blob link outlives its last use. */
  gcGraceMs: number;
  /**
   * Several replicas serve the same upload sessions (the metadata is shared): the running hash's
   * state is saved with each chunk so that any of them can go on.
   */
  sharedUploads?: boolean;
}

/** `gc.grace` unless configured. */
export const DEFAULT_GC_GRACE_MS = 3_600_000;

export interface Registry {
  readonly options: RegistryOptions;
  readonly blobs: BlobService;
  readonly uploads: UploadService;
  readonly manifests: ManifestService;
  readonly discovery: DiscoveryService;
  readonly namespaces: NamespaceService;
  /** What each namespace holds against its quota, and the refusals of pushes that exceed it. */
  readonly quota: QuotaService;
  /** Stored repositories as a whole: looked up by their stored name, deleted with their content. */
  readonly repositories: RepositoryService;
  /** Read-only views of stored content for the admin API and the web UI. */
  readonly browse: BrowseService;
  /** The smallest upload chunk (but the last) the storage accepts; 0 for any. */
  readonly minChunkLength: number;
  /** The storage driver's name (`filesystem`), for the admin API's system summary. */
  readonly storageBackend: string;
  /** Parses and resolves a repository name from a request (NAME_INVALID on bad grammar). */
  repository(name: string): RepositoryRef;
}

export interface RegistryDeps {
  meta: MetaStore;
  storage: StorageDriver;
  options: RegistryOptions;
  /** Told when metadata names content the storage does not have (an integrity fault). */
  onMissingContent?: (digest: Digest) => void;
}

export function createRegistry(deps: RegistryDeps): Registry {
  const { meta, storage, options } = deps;
  const quota = createQuotaService({ meta, graceMs: options.gcGraceMs });
  return {
    options,
    blobs: createBlobService({
      meta,
      storage,
      quota,
      onMissingContent: deps.onMissingContent ?? (() => undefined),
    }),
    uploads: createUploadService({
      meta,
      storage,
      quota,
      persistHashState: options.sharedUploads ?? false,
    }),
    manifests: createManifestService({
      meta,
      options: {
        verifyReferences: options.verifyManifestReferences,
        indexChildren: options.indexChildren,
      },
    }),
    discovery: createDiscoveryService({ meta }),
    namespaces: createNamespaceService({ meta, defaultNamespace: options.defaultNamespace }),
    quota,
    repositories: createRepositoryService({ meta, storage }),
    browse: createBrowseService({ meta, storage }),
    minChunkLength: storage.minChunkLength,
    storageBackend: storage.name,
    repository: (name) => resolveRepository(name, options.defaultNamespace),
  };
}

export type { RepositoryRef } from './repository.js';
export type { Reference } from './manifests.js';
