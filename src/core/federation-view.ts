/**
 * @module core/federation-view
 * What may be shown of a namespace's kind and settings: the admin API, `berth namespace list
 * --json` and the audit log all print this, never the stored settings, so the upstream password
 * has exactly one place where it is left out.
 */
import { formatTtl, type Federation, type NamespaceKind } from './federation.js';

export interface FederationView {
  kind: NamespaceKind;
  /** The TTL as a duration (`6h`); no password, ever. */
  proxy: { url: string; username: string | null; ttl: string } | null;
  group: { members: string[]; pushTo: string | null } | null;
}

export function federationView(f: Federation): FederationView {
  return {
    kind: f.kind,
    proxy:
      f.kind === 'proxy'
        ? { url: f.proxy.url, username: f.proxy.username, ttl: formatTtl(f.proxy.ttlSeconds) }
        : null,
    group: f.kind === 'group' ? { members: [...f.group.members], pushTo: f.group.pushTo } : null,
  };
}

/**
 * A requested change of a proxy's settings as the audit log keeps it: the password becomes
 * `passwordChanged: true`.
 */
export function auditedProxyChange(change: {
  url?: string;
  username?: string | null;
  password?: string | null;
  ttl?: string;
}): Record<string, unknown> {
  const { password, ...rest } = change;
  return { ...rest, ...(password !== undefined && password !== null && { passwordChanged: true }) };
}
