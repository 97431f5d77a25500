/**
 * @module federation/mirror
 * Serving a proxy namespace to clients that do not know Berth's namespaces: they ask for the
 * upstream's own names (`library/alpine`), and these map the names into the namespace that caches
 * that upstream (`hub/library/alpine`).
 *
 * - A mirror listener (`berth serve --mirror HOST:PORT=hub`, for docker's `registry-mirrors`):
 *   every repository name that arrives on it is prefixed with its namespace. The client's own name
 *   stays the `requested` name, so what Berth says back (the challenge's scope, Location headers,
 *   a tag list's name) is in the client's terms; the token realm on that listener maps the scopes
 *   it is asked for the same way, so its tokens name the stored repositories and work for the
 *   mapped requests (and for the same repositories on the main listener, no more). A mirror
 *   serves pulls only: docker never pushes through one, and a push there would be ambiguous.
 * - `?ns=HOST` on the main listener (what containerd sends to a host of a hosts.toml): a name whose
 *   first segment is no namespace of this registry is mapped into the proxy namespace whose
 *   upstream is that host. The mapped name is then the name in every respect (the challenge asks
 *   for its scope, because containerd's token request carries no `ns` to map by).
 */
import type { IncomingMessage } from 'node:http';
import { RegistryError } from '../core/errors.js';
import { isDockerHub } from '../core/federation.js';
import { parseName } from '../core/names.js';
import type { Scope } from '../auth/types.js';
import type { NamespaceRow } from '../meta/store.js';
import type { Registry, RepositoryRef } from '../registry/index.js';
import type { NamespaceRouter } from './router.js';

/** The mirror namespace of each request that arrived on a mirror listener. */
const mirrorRequests = new WeakMap<IncomingMessage, string>();

/** Called by the mirror listener before Fastify routes the request. */
export function markMirrorRequest(req: IncomingMessage, namespace: string): void {
  mirrorRequests.set(req, namespace);
}

/** The namespace of the mirror listener the request arrived on; undefined on other listeners. */
export function mirrorNamespaceOf(req: IncomingMessage): string | undefined {
  return mirrorRequests.get(req);
}

/** `library/alpine` on the mirror of `hub` → stored `hub/library/alpine`, requested `library/alpine`. */
export function mirrorRepository(
  registry: Registry,
  namespace: string,
  clientName: string,
): RepositoryRef {
  const requested = parseName(clientName);
  return { ...registry.repository(`${namespace}/${requested}`), requested };
}

/** Repository scopes asked of the token realm on a mirror listener, moved into its namespace. */
export function mirrorScopes(scopes: readonly Scope[], namespace: string): Scope[] {
  return scopes.map((s) =>
    s.type === 'repository' ? { ...s, name: `${namespace}/${s.name}` } : s,
  );
}

/** Pulls only: a mirror listener refuses every other method on a repository. */
export function mirrorPullOnly(method: string, namespace: string): void {
  if (method === 'GET' || method === 'HEAD') return;
  throw new RegistryError(
    'UNSUPPORTED',
    `this listener is a pull mirror of namespace "${namespace}": push to the registry's main address instead`,
    { namespace },
  );
}

/**
 * Why a namespace cannot serve as a mirror (null when it can): a hosted one has only what was
 * pushed there, a missing one nothing. Said at start, in the log and in `serve`'s set-up text.
 */
export function mirrorProblem(
  namespace: string,
  row: Pick<NamespaceRow, 'kind'> | null,
): string | null {
  if (row === null)
    return `namespace "${namespace}" does not exist: create it with berth namespace create ${namespace} --proxy https://registry-1.docker.io --public`;
  if (row.kind === 'hosted')
    return `namespace "${namespace}" is hosted, not a proxy or group: pulls through the mirror find only what was pushed there`;
  return null;
}

/**
 * The registry host as `?ns=` names it: Docker Hub goes by several host names (its API is at
 * registry-1.docker.io) and containerd's `ns` says `docker.io`; others by host and port.
 */
export function hostKey(host: string): string {
  const h = host.toLowerCase();
  return isDockerHub(`https://${h}`) ? 'docker.io' : h;
}

const HOSTS_CACHE_MS = 5000;

export interface NsResolver {
  /**
   * The stored name for `name` asked with `?ns=host`: `name` itself when its first segment is a
   * namespace here or no proxy namespace has that upstream host, else the name in that proxy.
   * `echo` says whether the answer comes from a cache of `host` (then `OCI-Namespace` says so).
   */
  resolve(host: string, name: string): Promise<{ name: string; echo: boolean }>;
}

/**
 * Which proxy namespace caches which upstream host, read from the namespace list and kept for a
 * few seconds (a proxy created or repointed is seen by then). When two proxies have the same
 * upstream host, the first by name wins, so the choice does not change from one request to the next.
 */
export function createNsResolver(deps: {
  registry: Registry;
  router: NamespaceRouter;
}): NsResolver {
  let hosts: { byHost: Map<string, string>; until: number } | null = null;

  async function proxyFor(host: string): Promise<string | undefined> {
    if (!hosts || hosts.until <= Date.now()) {
      const byHost = new Map<string, string>();
      const names = (await deps.registry.namespaces.visibility()).map((n) => n.name).sort();
      for (const name of names) {
        const f = await deps.router.federationOf(name);
        if (f?.kind !== 'proxy' || f.proxy.url === '') continue;
        const key = hostKey(new URL(f.proxy.url).host);
        if (!byHost.has(key)) byHost.set(key, name);
      }
      hosts = { byHost, until: Date.now() + HOSTS_CACHE_MS };
    }
    return hosts.byHost.get(hostKey(host));
  }

  return {
    async resolve(host, name) {
      const slash = name.indexOf('/');
      const first = slash === -1 ? name : name.slice(0, slash);
      const own = await deps.router.federationOf(first);
      if (own !== null) {
        // Already addressed to a namespace here (a hosts.toml path of /v2/hub, or a hosted name).
        const echo =
          own.kind === 'proxy' &&
          own.proxy.url !== '' &&
          hostKey(new URL(own.proxy.url).host) === hostKey(host);
        return { name, echo };
      }
      const proxy = await proxyFor(host);
      return proxy === undefined ? { name, echo: false } : { name: `${proxy}/${name}`, echo: true };
    },
  };
}
