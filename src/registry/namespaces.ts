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
import {
  DEFAULT_PROXY_TTL_SECONDS,
  formatTtl,
  parseProxyTtl,
  parseUpstreamUrl,
  type Federation,
  type GroupSettings,
  type ProxySettings,
} from '../core/federation.js';
import type { NamespaceMeta, NamespacePolicyPatch, NamespaceRow } from '../meta/store.js';

/** A proxy's settings as an operator gives them (the TTL as a duration such as `6h`). */
export interface ProxyInput {
  url: string;
  username?: string | null;
  password?: string | null;
  ttl?: string;
}

export interface GroupInput {
  members: readonly string[];
  pushTo?: string | null;
}

export interface NamespaceService {
  /**
   * Hosted unless `proxy` (a pull-through cache of that upstream) or `group` (members pulled from
   * in order) is given. INVALID_REQUEST for bad settings: a URL that is no registry origin, a
   * member that does not exist or is a group, a push member that is not a hosted member.
   */
  create(
    name: string,
    options?: { public?: boolean; proxy?: ProxyInput; group?: GroupInput },
  ): Promise<NamespaceRow>;
  /**
   * Changes a proxy's upstream, credentials or TTL (absent fields stay; a null username drops
   * the credentials), or a group's members and push member. A namespace keeps its kind.
   */
  updateFederation(
    name: string,
    change: { proxy?: Partial<ProxyInput>; group?: Partial<GroupInput> },
  ): Promise<NamespaceRow>;
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

  function proxySettings(input: ProxyInput, current?: ProxySettings): ProxySettings {
    const username = input.username === undefined ? (current?.username ?? null) : input.username;
    const password =
      username === null
        ? null
        : input.password === undefined
          ? (current?.password ?? null)
          : input.password;
    if (username === null && input.password !== undefined && input.password !== null)
      throw new RegistryError(
        'INVALID_REQUEST',
        'an upstream password needs a username (--proxy-username)',
      );
    if (username !== null && (username === '' || password === null || password === ''))
      throw new RegistryError(
        'INVALID_REQUEST',
        'an upstream username needs a password (and the reverse)',
      );
    return {
      url: parseUpstreamUrl(input.url),
      username,
      password,
      ttlSeconds:
        input.ttl !== undefined
          ? parseProxyTtl(input.ttl)
          : (current?.ttlSeconds ?? DEFAULT_PROXY_TTL_SECONDS),
    };
  }

  async function groupSettings(self: string, input: GroupInput): Promise<GroupSettings> {
    const members = [...new Set(input.members.map((m) => m.trim()).filter((m) => m !== ''))];
    if (members.length === 0)
      throw new RegistryError('INVALID_REQUEST', 'a group needs at least one member namespace');
    for (const member of members) {
      const row = member === self ? null : await meta.getNamespace(member);
      if (!row)
        throw new RegistryError(
          'INVALID_REQUEST',
          `group member "${member}" is not an existing namespace`,
          {
            member,
          },
        );
      if (row.kind === 'group')
        throw new RegistryError(
          'INVALID_REQUEST',
          `group member "${member}" is a group itself; list its members instead`,
          {
            member,
          },
        );
    }
    const pushTo = input.pushTo ?? null;
    if (pushTo !== null) {
      if (!members.includes(pushTo))
        throw new RegistryError(
          'INVALID_REQUEST',
          `the push member "${pushTo}" must be one of the group's members`,
        );
      if ((await meta.getNamespace(pushTo))?.kind !== 'hosted')
        throw new RegistryError(
          'INVALID_REQUEST',
          `the push member "${pushTo}" must be a hosted namespace`,
        );
    }
    return { members, pushTo };
  }

  async function federationFor(
    name: string,
    options: { proxy?: ProxyInput; group?: GroupInput },
  ): Promise<Federation> {
    if (options.proxy && options.group)
      throw new RegistryError('INVALID_REQUEST', 'a namespace is a proxy or a group, not both');
    if (options.proxy) return { kind: 'proxy', proxy: proxySettings(options.proxy) };
    if (options.group) return { kind: 'group', group: await groupSettings(name, options.group) };
    return { kind: 'hosted' };
  }

  async function existing(name: string): Promise<NamespaceRow> {
    const row = await meta.getNamespace(name);
    if (!row)
      throw new RegistryError('NAME_UNKNOWN', `namespace "${name}" does not exist`, {
        namespace: name,
      });
    return row;
  }

  return {
    async updateFederation(name, change) {
      const row = await existing(name);
      const f = row.federation;
      let next: Federation;
      if (f.kind === 'proxy' && change.proxy && !change.group) {
        next = {
          kind: 'proxy',
          proxy: proxySettings(
            // The stored credentials stay unless changed (proxySettings reads them from f.proxy).
            { url: f.proxy.url, ttl: formatTtl(f.proxy.ttlSeconds), ...change.proxy },
            f.proxy,
          ),
        };
      } else if (f.kind === 'group' && change.group && !change.proxy) {
        const pushTo = change.group.pushTo === undefined ? f.group.pushTo : change.group.pushTo;
        next = {
          kind: 'group',
          group: await groupSettings(name, {
            members: change.group.members ?? f.group.members,
            pushTo,
          }),
        };
      } else {
        throw new RegistryError(
          'INVALID_REQUEST',
          `namespace "${name}" is ${row.kind}: only a proxy's upstream settings or a group's members can change (a namespace keeps its kind)`,
          { namespace: name, kind: row.kind },
        );
      }
      if (!(await meta.setNamespaceFederation(name, next))) return existing(name);
      return existing(name);
    },

    async create(name, options = {}) {
      check(name);
      const federation = await federationFor(name, options);
      if (!(await meta.createNamespace({ name, public: options.public ?? false, federation }))) {
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
