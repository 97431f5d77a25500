/**
 * Proxy and group namespaces as the UI shows and edits them: the upstream's state from its health,
 * the words for a proxy's settings and a group's members, and the request bodies the create and
 * settings forms send. Pure functions (no DOM), unit-tested in node. The registry validates
 * everything again (URL, TTL, members); these catch the slips a form can see by itself.
 */
import type { GroupSettings, Namespace, ProxySettings, UpstreamHealth } from './types';

/**
 * `failing` when the last failure is newer than the last success (the upstream is down or
 * refusing now, as far as this server knows); `unknown` before any request reached it.
 */
export function upstreamState(health: UpstreamHealth): 'unknown' | 'working' | 'failing' {
  const success = health.lastSuccessAt === null ? NaN : Date.parse(health.lastSuccessAt);
  const failure = health.lastFailureAt === null ? NaN : Date.parse(health.lastFailureAt);
  if (!Number.isNaN(failure) && (Number.isNaN(success) || failure > success)) return 'failing';
  return Number.isNaN(success) ? 'unknown' : 'working';
}

/** Whose credentials the proxy pulls with: `as alice`, or `anonymous`. */
export function credentialsText(username: string | null): string {
  return username === null ? 'anonymous' : `as ${username}`;
}

/** One line about a proxy for the namespace list: `https://r.example · TTL 6h · anonymous`. */
export function proxySummary(proxy: ProxySettings): string {
  return `${proxy.url} · TTL ${proxy.ttl} · ${credentialsText(proxy.username)}`;
}

/** One line about a group for the namespace list: `members a, b · pushes to a`. */
export function groupSummary(group: GroupSettings): string {
  const pushes = group.pushTo === null ? 'no pushes' : `pushes to ${group.pushTo}`;
  return `members ${group.members.join(', ')} · ${pushes}`;
}

/** A proxy's fields as typed: the password is never shown, so it starts empty. */
export interface ProxyFields {
  url: string;
  username: string;
  password: string;
  ttl: string;
}

export function proxyFields(proxy: ProxySettings | null): ProxyFields {
  return {
    url: proxy?.url ?? '',
    username: proxy?.username ?? '',
    password: '',
    ttl: proxy?.ttl ?? '',
  };
}

export interface NewProxy {
  url: string;
  username?: string;
  password?: string;
  ttl?: string;
}

/** The `proxy` of POST /namespaces; an empty TTL leaves the registry's default (6h). */
export function newProxyBody(fields: ProxyFields): { proxy: NewProxy } | { error: string } {
  const url = fields.url.trim();
  const username = fields.username.trim();
  const ttl = fields.ttl.trim();
  if (url === '') return { error: "Enter the upstream registry's URL." };
  if (username === '' && fields.password !== '')
    return { error: 'A password needs a username; leave both empty to pull anonymously.' };
  if (username !== '' && fields.password === '')
    return { error: `Enter the password of ${username} at the upstream.` };
  return {
    proxy: {
      url,
      ...(username !== '' ? { username, password: fields.password } : {}),
      ...(ttl !== '' ? { ttl } : {}),
    },
  };
}

export interface ProxyPatch {
  url?: string;
  username?: string | null;
  password?: string;
  ttl?: string;
}

/**
 * The `proxy` of PATCH /namespaces/NAME: only what changed. An emptied username makes the proxy
 * anonymous; an empty password keeps the stored one, except for a new username (whose password
 * the old one is not). `changes` is null when nothing changed.
 */
export function proxyPatch(
  current: ProxySettings,
  fields: ProxyFields,
): { changes: ProxyPatch | null } | { error: string } {
  const url = fields.url.trim();
  const username = fields.username.trim();
  const ttl = fields.ttl.trim();
  if (url === '') return { error: "Enter the upstream registry's URL." };
  if (ttl === '') return { error: 'Enter how long a cached tag is served, e.g. 6h.' };
  const changes: ProxyPatch = {};
  if (url !== current.url) changes.url = url;
  if (ttl !== current.ttl) changes.ttl = ttl;
  if (username === '') {
    if (fields.password !== '')
      return { error: 'A password needs a username; leave both empty to pull anonymously.' };
    if (current.username !== null) changes.username = null;
  } else {
    if (username !== current.username) {
      if (fields.password === '')
        return { error: `Enter the password of ${username} at the upstream.` };
      changes.username = username;
    }
    if (fields.password !== '') changes.password = fields.password;
  }
  return { changes: Object.keys(changes).length === 0 ? null : changes };
}

/**
 * The namespaces a group may pull through, in list order: hosted and proxy namespaces (never a
 * group, never the group itself) not already chosen, that the caller administers (the registry
 * refuses a member without `admin` on it: a group would otherwise expose its content).
 */
export function memberChoices(
  namespaces: readonly Namespace[],
  chosen: readonly string[],
  self: string | null,
): string[] {
  return namespaces
    .filter(
      (ns) =>
        ns.kind !== 'group' &&
        ns.name !== self &&
        !chosen.includes(ns.name) &&
        ns.actions.includes('admin'),
    )
    .map((ns) => ns.name);
}

/** The members that may take the group's pushes: the hosted ones, in member order. */
export function pushChoices(
  namespaces: readonly Namespace[],
  members: readonly string[],
): string[] {
  const hosted = new Set(namespaces.filter((ns) => ns.kind === 'hosted').map((ns) => ns.name));
  return members.filter((m) => hosted.has(m));
}

/** The list with the item at `index` moved one place up (-1) or down (1); unchanged at an end. */
export function moveItem<T>(list: readonly T[], index: number, delta: -1 | 1): T[] {
  const to = index + delta;
  const result = [...list];
  const item = result[index];
  if (item === undefined || to < 0 || to >= result.length) return result;
  result.splice(index, 1);
  result.splice(to, 0, item);
  return result;
}

/** The `group` of POST /namespaces and PATCH: members in order, the push member or null. */
export function groupBody(
  members: readonly string[],
  pushTo: string,
): { group: GroupSettings } | { error: string } {
  if (members.length === 0) return { error: 'Add at least one member namespace.' };
  return {
    group: {
      members: [...members],
      pushTo: pushTo !== '' && members.includes(pushTo) ? pushTo : null,
    },
  };
}
