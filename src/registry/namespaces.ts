/**
 * @module registry/namespaces
 * Namespaces: the first segment of a repository name, the unit of ownership. A namespace must
 * exist before anything is pushed into it; the default one is created on first start.
 */
import { RegistryError } from '../core/errors.js';
import { isValidNamespace } from '../core/names.js';
import type { MetaStore, NamespaceRow } from '../meta/store.js';

export interface NamespaceService {
  create(name: string, options?: { public?: boolean }): Promise<NamespaceRow>;
  list(): Promise<(NamespaceRow & { repositories: number })[]>;
  get(name: string): Promise<NamespaceRow | null>;
  setPublic(name: string, isPublic: boolean): Promise<void>;
  /** Refuses while repositories remain, unless `force`. */
  delete(name: string, options?: { force?: boolean }): Promise<void>;
}

export function createNamespaceService(deps: { meta: MetaStore }): NamespaceService {
  const { meta } = deps;

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
    get: (name) => meta.getNamespace(name),
    async setPublic(name, isPublic) {
      if (!(await meta.setNamespacePublic(name, isPublic))) {
        throw new RegistryError('NAME_UNKNOWN', `namespace "${name}" does not exist`, {
          namespace: name,
        });
      }
    },
    async delete(name, options = {}) {
      const result = await meta.deleteNamespace(name, options.force ?? false);
      if (result === 'unknown')
        throw new RegistryError('NAME_UNKNOWN', `namespace "${name}" does not exist`, {
          namespace: name,
        });
      if (result === 'not-empty') {
        throw new RegistryError(
          'DENIED',
          `namespace "${name}" still has repositories; delete them first or use --force`,
          {
            namespace: name,
          },
        );
      }
    },
  };
}
