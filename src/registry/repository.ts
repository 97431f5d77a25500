/**
 * @module registry/repository
 * Resolves a requested repository name to where it lives: its canonical name (single-segment
 * names live in the default namespace) and its namespace. Writes need the namespace to exist.
 */
import { RegistryError } from '../core/errors.js';
import { canonicalName, namespaceOf, parseName, type RepoName } from '../core/names.js';
import type { MetaStore } from '../meta/store.js';

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
export async function assertNamespace(meta: MetaStore, repo: RepositoryRef): Promise<void> {
  if (!(await meta.getNamespace(repo.namespace))) throw namespaceMissing(repo.namespace);
}
