/**
 * @module auth/identity
 * Administration of identities: users, roles, role bindings and access tokens, with validation
 * and an audit event for every change. The admin API (`/api/v1`) and the CLI both call this, so a
 * rule lives in one place whichever way a change arrives.
 */
import { RegistryError } from '../core/errors.js';
import type {
  AccessTokenRow,
  AuditEvent,
  AuditQuery,
  BindingRow,
  IdentityMeta,
  Privilege,
  RoleRow,
  UserRow,
} from '../meta/identity.js';
import type { Page } from '../core/types.js';
import type { AuditLog } from './audit.js';
import { hashPassword, MIN_PASSWORD_LENGTH } from './passwords.js';
import { mintSecret } from './secrets.js';
import { effectivePrivileges, isGlobalAdmin, notGranted } from './policy.js';
import { ACTIONS } from './types.js';

export { ACTIONS };

export const BUILTIN_ROLES = ['admin', 'maintainer', 'developer', 'viewer'] as const;

const NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
const PATTERN = /^(\*|[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:[._-]?\*)?)$/;
const MAX_TOKEN_DAYS = 3650;

/** Who makes a change, for the audit log. */
export interface Actor {
  name: string;
  client: string;
}

export interface UserView {
  name: string;
  disabled: boolean;
  createdAt: string;
  updatedAt: string;
  roles: { role: string; namespace: string | null }[];
}

export interface AccessTokenView {
  id: string;
  user: string;
  name: string;
  /** What the token can do now: its own privileges narrowed by its user's current ones. */
  privileges: Privilege[];
  expiresAt: string | null;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

export interface IdentityService {
  addUser(
    actor: Actor,
    input: {
      name: string;
      password: string;
      roles?: { role: string; namespace?: string | null }[];
    },
  ): Promise<UserView>;
  getUser(name: string): Promise<UserView | null>;
  listUsers(): Promise<UserView[]>;
  setPassword(actor: Actor, name: string, password: string): Promise<void>;
  setDisabled(actor: Actor, name: string, disabled: boolean): Promise<void>;
  deleteUser(actor: Actor, name: string): Promise<void>;

  listRoles(): Promise<RoleRow[]>;
  putRole(
    actor: Actor,
    role: { name: string; description?: string; privileges: Privilege[] },
  ): Promise<RoleRow>;
  deleteRole(actor: Actor, name: string): Promise<void>;
  bind(
    actor: Actor,
    binding: { user: string; role: string; namespace?: string | null },
  ): Promise<void>;
  unbind(
    actor: Actor,
    binding: { user: string; role: string; namespace?: string | null },
  ): Promise<void>;

  /** Creates an access token; `secret` is returned this once and never stored. */
  createToken(
    actor: Actor,
    input: { user: string; name: string; privileges?: Privilege[]; expiresInDays?: number | null },
  ): Promise<{ token: AccessTokenView; secret: string }>;
  listTokens(user?: string): Promise<AccessTokenView[]>;
  getToken(id: string): Promise<AccessTokenView | null>;
  revokeToken(actor: Actor, id: string): Promise<void>;

  listAudit(query: AuditQuery): Promise<Page<AuditEvent & { id: number }>>;
}

export function createIdentityService(deps: {
  meta: IdentityMeta;
  audit: AuditLog;
  /** Called after any change that must drop cached credentials. */
  onCredentialsChanged?: (user: string) => void;
}): IdentityService {
  const { meta, audit } = deps;
  const changed = deps.onCredentialsChanged ?? (() => undefined);

  function record(
    actor: Actor,
    action: string,
    target: string,
    detail?: Record<string, unknown>,
  ): void {
    audit.record({
      actor: actor.name,
      action,
      target,
      outcome: 'success',
      client: actor.client,
      ...(detail ? { detail } : {}),
    });
  }

  async function requireUser(name: string): Promise<UserRow> {
    const user = await meta.getUser(name);
    if (!user) throw notFound(`user "${name}" does not exist`);
    return user;
  }

  /**
   * Refuses a change that would leave no enabled user with the global admin role (nobody could
   * administer the registry any more); `change` describes the user as it would be after it.
   */
  async function keepAnAdmin(change: {
    user: string;
    disabled?: boolean;
    removedBinding?: BindingRow;
    deleted?: boolean;
  }): Promise<void> {
    const adminRoles = new Set(
      (await meta.listRoles()).filter((r) => isGlobalAdmin(r.privileges)).map((r) => r.name),
    );
    const users = await meta.listUsers();
    const removed = change.removedBinding;
    const stillAdmin = users.some((u) => {
      const changed = u.name === change.user;
      if (u.disabled || (changed && (change.deleted === true || change.disabled === true)))
        return false;
      return u.bindings.some(
        (b) =>
          b.namespace === '' &&
          adminRoles.has(b.role) &&
          !(changed && removed?.role === b.role && removed.namespace === ''),
      );
    });
    if (!stillAdmin) {
      throw new RegistryError(
        'CONFLICT',
        'this would leave no enabled administrator: give another user the admin role first',
      );
    }
  }

  /** The privileges a user holds now (none while disabled). */
  async function heldBy(user: UserRow): Promise<Privilege[]> {
    return user.disabled ? [] : meta.privilegesOf(user.name);
  }

  /** Token views, each with what it can do now (one privilege lookup per user). */
  async function tokenViews(rows: AccessTokenRow[]): Promise<AccessTokenView[]> {
    const held = new Map<string, Promise<Privilege[]>>();
    const heldByName = (name: string): Promise<Privilege[]> => {
      let privileges = held.get(name);
      if (!privileges) {
        privileges = meta.getUser(name).then((u) => (u ? heldBy(u) : []));
        held.set(name, privileges);
      }
      return privileges;
    };
    return Promise.all(
      rows.map(async (row) =>
        tokenView(row, effectivePrivileges(await heldByName(row.user), row.privileges)),
      ),
    );
  }

  async function view(user: UserRow): Promise<UserView> {
    const all = await meta.listUsers();
    const bindings = all.find((u) => u.name === user.name)?.bindings ?? [];
    return toView(user, bindings);
  }

  return {
    async addUser(actor, input) {
      checkName(input.name, 'user');
      checkPassword(input.password);
      const roles = (input.roles ?? []).map((r) => ({
        role: r.role,
        namespace: checkNamespace(r.namespace),
      }));
      const result = await meta.createUser({
        name: input.name,
        passwordHash: await hashPassword(input.password),
        roles,
      });
      if (result === 'exists')
        throw new RegistryError('CONFLICT', `user "${input.name}" already exists`);
      if (result === 'unknown-role')
        throw invalid(`unknown role in ${roles.map((r) => r.role).join(', ')}`);
      record(actor, 'user.create', input.name, { roles });
      return view(await requireUser(input.name));
    },

    async getUser(name) {
      const user = await meta.getUser(name);
      return user ? view(user) : null;
    },

    async listUsers() {
      return (await meta.listUsers()).map((u) => toView(u, u.bindings));
    },

    async setPassword(actor, name, password) {
      checkPassword(password);
      await requireUser(name);
      await meta.setPassword(name, await hashPassword(password));
      // A new password ends every session held with the old one.
      await meta.revokeRefreshTokens(name, new Date().toISOString());
      changed(name);
      record(actor, 'user.password', name);
    },

    async setDisabled(actor, name, disabled) {
      await requireUser(name);
      if (disabled) await keepAnAdmin({ user: name, disabled: true });
      await meta.setUserDisabled(name, disabled);
      if (disabled) await meta.revokeRefreshTokens(name, new Date().toISOString());
      changed(name);
      record(actor, disabled ? 'user.disable' : 'user.enable', name);
    },

    async deleteUser(actor, name) {
      await requireUser(name);
      await keepAnAdmin({ user: name, deleted: true });
      if (!(await meta.deleteUser(name))) throw notFound(`user "${name}" does not exist`);
      changed(name);
      record(actor, 'user.delete', name);
    },

    listRoles: () => meta.listRoles(),

    async putRole(actor, role) {
      checkName(role.name, 'role');
      const privileges = role.privileges.map(checkPrivilege);
      if (privileges.length === 0) throw invalid('a role needs at least one privilege');
      const result = await meta.putRole({
        name: role.name,
        description: role.description ?? '',
        privileges,
      });
      if (result === 'builtin')
        throw new RegistryError(
          'CONFLICT',
          `"${role.name}" is a built-in role and cannot be changed`,
        );
      record(actor, 'role.put', role.name, { privileges });
      const saved = await meta.getRole(role.name);
      if (!saved) throw new RegistryError('UNKNOWN', 'role vanished after saving');
      return saved;
    },

    async deleteRole(actor, name) {
      const result = await meta.deleteRole(name);
      if (result === 'unknown') throw notFound(`role "${name}" does not exist`);
      if (result === 'builtin')
        throw new RegistryError('CONFLICT', `"${name}" is a built-in role and cannot be deleted`);
      record(actor, 'role.delete', name);
    },

    async bind(actor, input) {
      const binding: BindingRow = {
        user: input.user,
        role: input.role,
        namespace: checkNamespace(input.namespace),
      };
      const result = await meta.bind(binding);
      if (result === 'unknown-user') throw notFound(`user "${input.user}" does not exist`);
      if (result === 'unknown-role') throw notFound(`role "${input.role}" does not exist`);
      changed(input.user);
      record(actor, 'role.bind', input.user, {
        role: input.role,
        namespace: binding.namespace || null,
      });
    },

    async unbind(actor, input) {
      const binding: BindingRow = {
        user: input.user,
        role: input.role,
        namespace: checkNamespace(input.namespace),
      };
      await keepAnAdmin({ user: input.user, removedBinding: binding });
      if (!(await meta.unbind(binding)))
        throw notFound(`user "${input.user}" has no such role binding`);
      changed(input.user);
      record(actor, 'role.unbind', input.user, {
        role: input.role,
        namespace: binding.namespace || null,
      });
    },

    async createToken(actor, input) {
      const user = await requireUser(input.user);
      if (user.disabled)
        throw new RegistryError(
          'CONFLICT',
          `user "${user.name}" is disabled: enable the user before creating a token for it`,
        );
      if (input.name.trim() === '' || input.name.length > 100)
        throw invalid('a token needs a name of 1 to 100 characters');
      // By default a token may do what its user may, whatever that becomes. Named privileges must
      // be the user's now: a token listed with powers that grant nothing misleads. Either way each
      // use intersects the token with the user's privileges at that moment.
      const privileges = (input.privileges ?? [{ pattern: '*', actions: [...ACTIONS] }]).map(
        checkPrivilege,
      );
      const held = await heldBy(user);
      if (input.privileges !== undefined) {
        const lacking = notGranted(held, privileges);
        if (lacking) {
          throw invalid(
            `user "${user.name}" does not hold ${formatPrivilege(lacking)}, so a token of theirs ` +
              `cannot have it (their privileges: ${held.map(formatPrivilege).join(' ') || 'none'})`,
          );
        }
      }
      const days = input.expiresInDays ?? null;
      if (days !== null && (!Number.isFinite(days) || days <= 0 || days > MAX_TOKEN_DAYS)) {
        throw invalid(`expiry must be between 1 and ${MAX_TOKEN_DAYS} days, or none`);
      }
      const minted = mintSecret('pat');
      const now = new Date();
      const row: AccessTokenRow = {
        id: minted.id,
        user: input.user,
        name: input.name.trim(),
        secretHash: minted.hash,
        privileges,
        expiresAt: days === null ? null : new Date(now.getTime() + days * 86_400_000).toISOString(),
        createdAt: now.toISOString(),
        lastUsedAt: null,
        revokedAt: null,
      };
      await meta.createAccessToken(row);
      record(actor, 'token.create', `${input.user}/${row.id}`, {
        name: row.name,
        privileges,
        expiresAt: row.expiresAt,
      });
      return {
        token: tokenView(row, effectivePrivileges(held, privileges)),
        secret: minted.secret,
      };
    },

    async listTokens(user) {
      return tokenViews(await meta.listAccessTokens(user));
    },

    async getToken(id) {
      const row = await meta.getAccessToken(id);
      return row ? ((await tokenViews([row]))[0] ?? null) : null;
    },

    async revokeToken(actor, id) {
      const row = await meta.getAccessToken(id);
      if (!row) throw notFound(`access token "${id}" does not exist`);
      if (!(await meta.revokeAccessToken(id, new Date().toISOString())))
        throw new RegistryError('CONFLICT', 'the token is already revoked');
      record(actor, 'token.revoke', `${row.user}/${id}`);
    },

    listAudit: (query) => meta.listAudit(query),
  };
}

function toView(user: UserRow, bindings: BindingRow[]): UserView {
  return {
    name: user.name,
    disabled: user.disabled,
    createdAt: user.createdAt,
    updatedAt: user.updatedAt,
    roles: bindings.map((b) => ({
      role: b.role,
      namespace: b.namespace === '' ? null : b.namespace,
    })),
  };
}

function tokenView(row: AccessTokenRow, privileges: Privilege[]): AccessTokenView {
  return {
    id: row.id,
    user: row.user,
    name: row.name,
    privileges,
    expiresAt: row.expiresAt,
    createdAt: row.createdAt,
    lastUsedAt: row.lastUsedAt,
    revokedAt: row.revokedAt,
  };
}

function checkName(name: string, what: string): void {
  if (!NAME.test(name))
    throw invalid(`a ${what} name is 1 to 64 characters of letters, digits, ".", "_", "@" and "-"`);
}

function checkPassword(password: string): void {
  if (password.length < MIN_PASSWORD_LENGTH)
    throw invalid(`a password needs at least ${MIN_PASSWORD_LENGTH} characters`);
  if (password.length > 1024) throw invalid('a password may have at most 1024 characters');
}

function checkNamespace(namespace: string | null | undefined): string {
  if (namespace === null || namespace === undefined || namespace === '') return '';
  if (!PATTERN.test(namespace) || namespace.includes('*'))
    throw invalid(`"${namespace}" is not a namespace name`);
  return namespace;
}

function checkPrivilege(p: Privilege): Privilege {
  if (!PATTERN.test(p.pattern)) {
    throw invalid(
      `privilege pattern "${p.pattern}" must be *, a namespace, or a namespace prefix ending in *`,
    );
  }
  const actions = [...new Set(p.actions)];
  if (actions.length === 0 || actions.some((a) => !ACTIONS.includes(a))) {
    throw invalid(`privilege actions must be some of ${ACTIONS.join(', ')}`);
  }
  return { pattern: p.pattern, actions };
}

/** `library=pull,push`, as the CLI takes it. */
function formatPrivilege(p: Privilege): string {
  return `${p.pattern}=${p.actions.join(',')}`;
}

function invalid(message: string): RegistryError {
  return new RegistryError('INVALID_REQUEST', message);
}

function notFound(message: string): RegistryError {
  return new RegistryError('NOT_FOUND', message);
}
