/**
 * @module auth/types
 * Who is asking (Principal) and what they may do (Scope), in the vocabulary of the Docker token
 * specification: resource type, name, actions.
 */
import type { Action, Privilege } from '../meta/identity.js';

export type { Action, Privilege };

export const ACTIONS: readonly Action[] = ['pull', 'push', 'delete', 'admin'];

export interface Principal {
  kind: 'anonymous' | 'user' | 'access-token';
  /** The user name ('' for anonymous). Access tokens act as their user, narrowed. */
  name: string;
  /** The access token id when kind is 'access-token'. */
  tokenId?: string;
  /** An access token's own privileges (intersected with its user's). */
  tokenPrivileges?: Privilege[];
}

export const ANONYMOUS: Principal = { kind: 'anonymous', name: '' };

/**
 * Where a login attempt comes from: the client address (the real one behind trusted proxies) and
 * the log its failures go to. A Fastify request fits, so a failure is logged with its request id.
 */
export interface Requester {
  readonly ip: string;
  readonly log: { warn(fields: object, message: string): void };
}

/** `repository:<name>:<actions>` or `registry:catalog:*`. */
export interface Scope {
  type: 'repository' | 'registry';
  name: string;
  actions: string[];
}

export function formatScope(scope: Scope): string {
  return `${scope.type}:${scope.name}:${scope.actions.join(',')}`;
}

/**
 * Parses a scope (scope.md): the resource name may contain a colon (a registry host with a port),
 * so the actions start after the LAST colon and the type ends at the FIRST. Unknown resource types
 * and the deprecated `repository(plugin)` class are ignored (null).
 */
export function parseScope(value: string): Scope | null {
  const first = value.indexOf(':');
  const last = value.lastIndexOf(':');
  if (first <= 0 || last === first) return null;
  const type = value.slice(0, first);
  const name = value.slice(first + 1, last);
  const actions = value
    .slice(last + 1)
    .split(',')
    .map((a) => a.trim())
    .filter(Boolean);
  if ((type !== 'repository' && type !== 'registry') || name === '' || actions.length === 0)
    return null;
  return { type, name, actions };
}

/** All scopes of the `scope` parameters (repeated and/or space-separated). */
export function parseScopes(values: readonly string[]): Scope[] {
  return values
    .flatMap((v) => v.split(' '))
    .map(parseScope)
    .filter((s): s is Scope => s !== null);
}
