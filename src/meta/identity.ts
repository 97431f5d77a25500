/**
 * @module meta/identity
 * The identity part of the MetaStore: users, roles and their privileges, role bindings, access
 * tokens, refresh tokens, token-signing keys and the audit log. Secrets are stored only as hashes.
 */
import type { Page } from '../core/types.js';

export type Action = 'pull' | 'push' | 'delete' | 'admin';

export interface Privilege {
  /** Namespace glob: `*` for all, `team` for one, `team-*` for a prefix. */
  pattern: string;
  actions: Action[];
}

/** Whether a namespace glob (`*`, `team`, `team-*`) matches a namespace. */
export function matchesPattern(pattern: string, namespace: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('*')) return namespace.startsWith(pattern.slice(0, -1));
  return pattern === namespace;
}

export interface UserRow {
  name: string;
  passwordHash: string;
  disabled: boolean;
  createdAt: string;
  updatedAt: string;
}

export interface RoleRow {
  name: string;
  description: string;
  builtin: boolean;
  privileges: Privilege[];
}

export interface BindingRow {
  user: string;
  role: string;
  /** '' = everywhere. */
  namespace: string;
}

export interface AccessTokenRow {
  id: string;
  user: string;
  name: string;
  secretHash: string;
  privileges: Privilege[];
  expiresAt: string | null;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

export interface RefreshTokenRow {
  id: string;
  user: string;
  service: string;
  clientId: string;
  secretHash: string;
  createdAt: string;
  revokedAt: string | null;
}

export interface SigningKeyRow {
  kid: string;
  algorithm: string;
  privateJwk: string;
  createdAt: string;
}

export interface AuditEvent {
  at: string;
  actor: string;
  action: string;
  target: string;
  outcome: 'success' | 'failure' | 'denied';
  client: string;
  detail?: Record<string, unknown>;
}

export interface AuditQuery {
  limit: number;
  /** Events with an id below this (for paging backwards in time). */
  before?: number;
  actor?: string;
  action?: string;
  since?: string;
}

export interface IdentityMeta {
  createUser(user: {
    name: string;
    passwordHash: string;
    roles: { role: string; namespace: string }[];
  }): Promise<'ok' | 'exists' | 'unknown-role'>;
  getUser(name: string): Promise<UserRow | null>;
  listUsers(): Promise<(UserRow & { bindings: BindingRow[] })[]>;
  setPassword(name: string, passwordHash: string): Promise<boolean>;
  setUserDisabled(name: string, disabled: boolean): Promise<boolean>;
  deleteUser(name: string): Promise<boolean>;
  countUsers(): Promise<number>;

  listRoles(): Promise<RoleRow[]>;
  getRole(name: string): Promise<RoleRow | null>;
  /** Creates or replaces a custom role; 'builtin' when the name is a built-in role. */
  putRole(role: {
    name: string;
    description: string;
    privileges: Privilege[];
  }): Promise<'ok' | 'builtin'>;
  deleteRole(name: string): Promise<'ok' | 'unknown' | 'builtin'>;

  bind(binding: BindingRow): Promise<'ok' | 'unknown-user' | 'unknown-role'>;
  unbind(binding: BindingRow): Promise<boolean>;
  /** The privileges a user holds through its bindings, each narrowed to the binding's namespace. */
  privilegesOf(user: string): Promise<Privilege[]>;

  createAccessToken(token: AccessTokenRow): Promise<void>;
  getAccessToken(id: string): Promise<AccessTokenRow | null>;
  listAccessTokens(user?: string): Promise<AccessTokenRow[]>;
  revokeAccessToken(id: string, at: string): Promise<boolean>;
  touchAccessToken(id: string, at: string): Promise<void>;

  createRefreshToken(token: RefreshTokenRow): Promise<void>;
  getRefreshToken(id: string): Promise<RefreshTokenRow | null>;
  touchRefreshToken(id: string, at: string): Promise<void>;
  revokeRefreshTokens(user: string, at: string): Promise<number>;

  getSigningKey(): Promise<SigningKeyRow | null>;
  /** Stores the key unless one exists; returns the one in force (another process may have won). */
  putSigningKey(key: SigningKeyRow): Promise<SigningKeyRow>;

  /** Appends a batch of events in one transaction. */
  appendAudit(events: readonly AuditEvent[]): Promise<void>;
  listAudit(query: AuditQuery): Promise<Page<AuditEvent & { id: number }>>;
}
