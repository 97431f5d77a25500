/**
 * @module registry/namespaces
 * Namespaces: the first segment of a repository name, the unit of ownership. A namespace must
 * exist before anything is pushed into it; the default one is created on first start.
 */
import { RegistryError } from '../core/errors.js';
import { isValidNamespace } from '../core/names.js';
import {
  formatIndexChildren,
  parseIndexChildren,
  parseTagPatterns,
} from '../core/namespace-policy.js';
import { validateRetention } from '../core/retention-policy.js';
import type { NamespaceMeta, NamespacePolicyPatch, NamespaceRow } from '../meta/store.js';

export interface NamespaceService {
  create(name: string, options?: { public?: boolean }): Promise<NamespaceRow>;
  list(): Promise<(NamespaceRow & { repositories: number })[]>;
  /**
   * Names and visibility only: what an access decision over all namespaces needs (the catalog),
   * without list()'s count of every namespace's repositories.
   */
  visibility(): Promise<{ name: string; public: boolean }[]>;
  get(name: string): Promise<NamespaceRow | null>;
  setPublic(name: string, isPublic: boolean): Promise<void>;
  /**
   * Sets the namespace's rules (INVALID_REQUEST on a bad value, and then nothing changes):
   * immutable-tag patterns ([] clears them), which index children must exist (null inherits the
   * default), the quota in bytes and the retention policy (null: none).
   */
  setPolicy(name: string, policy: NamespacePolicyPatch): Promise<void>;
  /** Refuses while repositories remain, and the default namespace, unless `force`. */
  delete(name: string, options?: { force?: boolean }): Promise<void>;
}

export function createNamespaceService(deps: {
  meta: NamespaceMeta;
  /** Where single-segment names go (`library`): deleting it breaks them, so only with force. */
  defaultNamespace: string;
}): NamespaceService {
  const { meta, defaultNamespace } = deps;

  function check(name: string): void {
    if (!isValidNamespace(name)) {
      throw new RegistryError(
        'NAME_INVALID',
        'a namespace is one name segment: lowercase letters and digits, separated by ".", "_" or "-"',
        {
          namespace: name,
        },
      );
    }
  }

  return {
    async create(name, options = {}) {
      check(name);
      if (!(await meta.createNamespace({ name, public: options.public ?? false }))) {
        throw new RegistryError('DENIED', `namespace "${name}" already exists`, {
          namespace: name,
        });
      }
      const row = await meta.getNamespace(name);
      if (!row) throw new RegistryError('UNKNOWN', 'namespace vanished after creation');
      return row;
    },
    list: () => meta.listNamespaces(),
    visibility: () => meta.listNamespaceVisibility(),
    get: (name) => meta.getNamespace(name),
    async setPublic(name, isPublic) {
      if (!(await meta.setNamespacePublic(name, isPublic))) {
        throw new RegistryError('NAME_UNKNOWN', `namespace "${name}" does not exist`, {
          namespace: name,
        });
      }
    },
    async setPolicy(name, policy) {
      const immutableTags =
        policy.immutableTags === undefined ? undefined : parseTagPatterns(policy.immutableTags);
      const indexChildren =
        policy.indexChildren == null
          ? policy.indexChildren
          : formatIndexChildren(parseIndexChildren(policy.indexChildren));
      const quotaBytes =
        policy.quotaBytes == null ? policy.quotaBytes : checkQuota(policy.quotaBytes);
      const retention =
        policy.retention == null ? policy.retention : validateRetention(policy.retention);
      const patch = {
        ...(immutableTags !== undefined && { immutableTags }),
        ...(indexChildren !== undefined && { indexChildren }),
        ...(quotaBytes !== undefined && { quotaBytes }),
        ...(retention !== undefined && { retention }),
      };
      if (!(await meta.setNamespacePolicy(name, patch))) {
        throw new RegistryError('NAME_UNKNOWN', `namespace "${name}" does not exist`, {
          namespace: name,
        });
      }
    },
    async delete(name, options = {}) {
      const force = options.force ?? false;
      if (name === defaultNamespace && !force) {
        throw new RegistryError(
          'DENIED',
          `namespace "${name}" is the default namespace: single-segment names such as "nginx" ` +
            'are pushed into it and fail without it; add --force (admin API: force=true) to delete it anyway',
          { namespace: name, reason: 'default-namespace' },
        );
      }
      const result = await meta.deleteNamespace(name, force);
      if (result === 'unknown')
        throw new RegistryError('NAME_UNKNOWN', `namespace "${name}" does not exist`, {
          namespace: name,
        });
      if (result === 'not-empty') {
        throw new RegistryError(
          'DENIED',
          `namespace "${name}" still has repositories; delete them first or use --force`,
          { namespace: name, reason: 'not-empty' },
        );
      }
    },
  };
}

function checkQuota(bytes: number): number {
  if (!Number.isSafeInteger(bytes) || bytes < 0)
    throw new RegistryError('INVALID_REQUEST', 'a quota is a whole number of bytes, 0 or more', {
      quotaBytes: bytes,
    });
  return bytes;
}
