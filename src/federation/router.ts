/**
 * @module federation/router
 * Where a request's content lives, by what its namespace is (core/federation.ts):
 * - hosted: Berth's own store, as always;
 * - proxy: the pull-through cache of its upstream (federation/proxy.ts);
 * - group: its members in order, the first that has the content answering; pushes go to the
 *   group's push member, under that member's name.
 *
 * Access is decided before, on the name the client used: a group's privileges cover what is
 * pulled through it (as in Nexus), whichever member serves it.
 *
 * What each namespace is, is read from the database and kept for a second: a namespace's kind
 * never changes while it exists, and a changed upstream or member list is seen by every replica
 * (and by a server after `berth namespace` ran beside it) within that second.
 */
import type { Digest } from '../core/digest.js';
import { RegistryError, isRegistryError, manifestUnknown, nameUnknown } from '../core/errors.js';
import type { Federation } from '../core/federation.js';
import type { Page } from '../core/types.js';
import type { ReferrersIndex } from '../registry/discovery.js';
import type { Registry, Reference, RepositoryRef } from '../registry/index.js';
import type { StoredManifest } from '../registry/manifests.js';
import type { RepoName } from '../core/names.js';
import {
  createProxyCache,
  isUpstreamFailure,
  type BlobSource,
  type ProxyCache,
  type ProxyLog,
  type ProxyOptions,
  type Served,
} from './proxy.js';
import type { UpstreamHealth } from './upstream-types.js';

export type { BlobSource, Served } from './proxy.js';
export type { UpstreamHealth } from './upstream-types.js';

export interface TagsRequest {
  /** The client's `n`, if it sent one (an upstream gets the same). */
  n?: number;
  last?: string;
  /** The most tags one answer holds. */
  limit: number;
}

export interface NamespaceRouter {
  manifest(repo: RepositoryRef, ref: Reference): Promise<Served<StoredManifest>>;
  blob(repo: RepositoryRef, digest: Digest, mode: 'head' | 'get' | 'range'): Promise<BlobSource>;
  tags(repo: RepositoryRef, request: TagsRequest): Promise<Served<Page<string>>>;
  referrers(
    repo: RepositoryRef,
    subject: Digest,
    artifactType: string | undefined,
  ): Promise<Served<ReferrersIndex>>;
  /**
   * The repository a push or delete through `repo` changes: itself when hosted; in a proxy the
   * cache (deletes only: pushes are refused); through a group, the same path in its push member
   * (deletes are refused: say which member).
   */
  writeTarget(repo: RepositoryRef, action: 'push' | 'delete'): Promise<RepositoryRef>;
  /** What this process last heard from a proxy's upstream (null for other namespaces). */
  upstreamHealth(namespace: string): Promise<UpstreamHealth | null>;
  /** What the namespace is (null when it does not exist), as cached for a second. */
  federationOf(namespace: string): Promise<Federation | null>;
  close(): Promise<void>;
}

const KIND_CACHE_MS = 1000;

export function createNamespaceRouter(deps: {
  registry: Registry;
  options: ProxyOptions;
  log: ProxyLog;
}): NamespaceRouter {
  const { registry } = deps;
  const proxy: ProxyCache = createProxyCache(deps);
  const kinds = new Map<string, { federation: Federation; until: number }>();

  async function federationOf(namespace: string): Promise<Federation | null> {
    const hit = kinds.get(namespace);
    if (hit && hit.until > Date.now()) return hit.federation;
    const row = await registry.namespaces.get(namespace);
    if (!row) {
      kinds.delete(namespace);
      return null;
    }
    kinds.set(namespace, { federation: row.federation, until: Date.now() + KIND_CACHE_MS });
    return row.federation;
  }

  /** The same path in another namespace: `all/tools/x` in member `hub` is `hub/tools/x`. */
  function inMember(repo: RepositoryRef, member: string): RepositoryRef {
    const path = repo.name.slice(repo.namespace.length + 1);
    return { requested: repo.requested, name: `${member}/${path}` as RepoName, namespace: member };
  }

  /** The members of a group that still exist and are not groups, with their settings. */
  async function members(
    group: Extract<Federation, { kind: 'group' }>,
  ): Promise<{ name: string; federation: Exclude<Federation, { kind: 'group' }> }[]> {
    const out: { name: string; federation: Exclude<Federation, { kind: 'group' }> }[] = [];
    for (const name of group.group.members) {
      const f = await federationOf(name);
      if (f && f.kind !== 'group') out.push({ name, federation: f });
    }
    return out;
  }

  /**
   * Tries each member in order; a member that does not have the content (an *_UNKNOWN error, or
   * a proxy whose upstream failed) passes to the next. When none has it, the first failure that
   * was more than "not found" (an upstream down) is reported, as it may be why.
   */
  async function firstMember<T>(
    repo: RepositoryRef,
    group: Extract<Federation, { kind: 'group' }>,
    attempt: (
      member: RepositoryRef,
      federation: Exclude<Federation, { kind: 'group' }>,
    ) => Promise<T>,
    notFound: () => RegistryError,
  ): Promise<T> {
    let failure: Error | null = null;
    for (const m of await members(group)) {
      try {
        return await attempt(inMember(repo, m.name), m.federation);
      } catch (e) {
        if (isRegistryError(e) && e.code.endsWith('_UNKNOWN') && !isUpstreamFailure(e)) continue;
        failure ??= e instanceof Error ? e : new Error(String(e));
      }
    }
    throw failure ?? notFound();
  }

  async function hostedManifest(
    repo: RepositoryRef,
    ref: Reference,
  ): Promise<Served<StoredManifest>> {
    return { value: await registry.manifests.get(repo, ref), warning: null };
  }

  function memberManifest(
    repo: RepositoryRef,
    federation: Exclude<Federation, { kind: 'group' }>,
    ref: Reference,
  ): Promise<Served<StoredManifest>> {
    return federation.kind === 'proxy'
      ? proxy.manifest(repo.namespace, federation.proxy, repo, ref)
      : hostedManifest(repo, ref);
  }

  async function memberBlob(
    repo: RepositoryRef,
    federation: Exclude<Federation, { kind: 'group' }>,
    digest: Digest,
    mode: 'head' | 'get' | 'range',
  ): Promise<BlobSource> {
    if (federation.kind === 'proxy')
      return proxy.blob(repo.namespace, federation.proxy, repo, digest, mode);
    await registry.blobs.stat(repo, digest);
    return { kind: 'stored', repo };
  }

  async function memberTags(
    repo: RepositoryRef,
    federation: Exclude<Federation, { kind: 'group' }>,
    request: TagsRequest,
  ): Promise<Served<Page<string>>> {
    if (federation.kind === 'proxy') {
      const got = await proxy.tags(federation.proxy, repo, {
        ...(request.n !== undefined ? { n: request.n } : {}),
        ...(request.last !== undefined ? { last: request.last } : {}),
      });
      return {
        value: { items: got.value.tags, more: got.value.next !== null },
        warning: got.warning,
      };
    }
    const page = await registry.discovery.listTags(repo, {
      limit: request.limit,
      ...(request.last !== undefined ? { after: request.last } : {}),
    });
    return { value: page, warning: null };
  }

  return {
    federationOf,

    async upstreamHealth(namespace) {
      const f = await federationOf(namespace);
      return f?.kind === 'proxy' ? proxy.health(namespace, f.proxy) : null;
    },

    async manifest(repo, ref) {
      const f = await federationOf(repo.namespace);
      if (f?.kind === 'proxy') return proxy.manifest(repo.namespace, f.proxy, repo, ref);
      if (f?.kind === 'group') {
        return firstMember(
          repo,
          f,
          (member, mf) => memberManifest(member, mf, ref),
          () => manifestUnknown(ref.kind === 'tag' ? ref.tag : ref.digest),
        );
      }
      return hostedManifest(repo, ref);
    },

    async blob(repo, digest, mode) {
      const f = await federationOf(repo.namespace);
      if (f?.kind === 'proxy') return proxy.blob(repo.namespace, f.proxy, repo, digest, mode);
      if (f?.kind === 'group') {
        // What any member has stored answers first; only then are upstreams asked, in order.
        for (const m of await members(f)) {
          const member = inMember(repo, m.name);
          try {
            await registry.blobs.stat(member, digest);
            return { kind: 'stored', repo: member };
          } catch (e) {
            if (!isRegistryError(e) || e.code !== 'BLOB_UNKNOWN') throw e;
          }
        }
        return firstMember(
          repo,
          f,
          (member, mf) => memberBlob(member, mf, digest, mode),
          () => new RegistryError('BLOB_UNKNOWN', 'blob unknown to registry', { digest }),
        );
      }
      return { kind: 'stored', repo };
    },

    async tags(repo, request) {
      const f = await federationOf(repo.namespace);
      if (f?.kind === 'proxy') return memberTags(repo, f, request);
      if (f?.kind !== 'group') return memberTags(repo, { kind: 'hosted' }, request);
      // A group lists the union of its members' tags, each member asked for all of them.
      const all = new Set<string>();
      let warning: string | null = null;
      let found = false;
      for (const m of await members(f)) {
        try {
          const got = await memberTags(inMember(repo, m.name), m.federation, { limit: 100_000 });
          found = true;
          warning ??= got.warning;
          for (const t of got.value.items) all.add(t);
        } catch (e) {
          if (isRegistryError(e) && e.code === 'NAME_UNKNOWN') continue;
          throw e;
        }
      }
      if (!found) throw nameUnknown(repo.requested);
      const sorted = [...all].sort().filter((t) => request.last === undefined || t > request.last);
      return {
        value: { items: sorted.slice(0, request.limit), more: sorted.length > request.limit },
        warning,
      };
    },

    async referrers(repo, subject, artifactType) {
      const f = await federationOf(repo.namespace);
      if (f?.kind === 'proxy') return proxy.referrers(f.proxy, repo, subject, artifactType);
      if (f?.kind === 'group') {
        // Referrers attach to a manifest where it is stored: the first member that has it.
        for (const m of await members(f)) {
          const member = inMember(repo, m.name);
          const got =
            m.federation.kind === 'proxy'
              ? await proxy.referrers(m.federation.proxy, member, subject, artifactType)
              : {
                  value: await registry.discovery.referrers(member, subject, artifactType),
                  warning: null,
                };
          if (got.value.manifests.length > 0) return got;
        }
      }
      return {
        value: await registry.discovery.referrers(repo, subject, artifactType),
        warning: null,
      };
    },

    async writeTarget(repo, action) {
      const f = await federationOf(repo.namespace);
      if (f?.kind === 'proxy' && action === 'push') {
        throw new RegistryError(
          'UNSUPPORTED',
          `namespace "${repo.namespace}" is a read-only cache of ${f.proxy.url}: push to a hosted namespace instead`,
          { namespace: repo.namespace, upstream: f.proxy.url },
        );
      }
      if (f?.kind !== 'group') return repo;
      if (action === 'delete') {
        throw new RegistryError(
          'UNSUPPORTED',
          `namespace "${repo.namespace}" is a group of ${f.group.members.join(', ')}: delete in the member namespace that holds the content`,
          { namespace: repo.namespace },
        );
      }
      const target = f.group.pushTo;
      if (target === null || (await federationOf(target))?.kind !== 'hosted') {
        throw new RegistryError(
          'UNSUPPORTED',
          `group "${repo.namespace}" takes no pushes: it has no hosted push member (berth namespace set ${repo.namespace} --push-to NAME)`,
          { namespace: repo.namespace },
        );
      }
      return inMember(repo, target);
    },

    close: () => proxy.close(),
  };
}
