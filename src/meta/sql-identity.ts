/**
 * @module meta/sql-identity
 * IdentityMeta over the portable query layer (see sql-store.ts).
 */
import type { Kysely } from 'kysely';
import type { Page } from '../core/types.js';
import type {
  AccessTokenRow,
  Action,
  AuditEvent,
  AuditQuery,
  BindingRow,
  IdentityMeta,
  Privilege,
  RefreshTokenRow,
  RoleRow,
  SigningKeyRow,
  UserRow,
} from './identity.js';
import { matchesPattern } from './identity.js';
import type { SchemaTables } from './schema.js';
import type { KeyLock } from './sql-tx.js';

type Db = Kysely<SchemaTables>;

const now = (): string => new Date().toISOString();

export function createSqlIdentityMeta(db: Db, lockKeys: KeyLock): IdentityMeta {
  async function rolePrivileges(role: string): Promise<Privilege[]> {
    const rows = await db
      .selectFrom('role_privileges')
      .select(['pattern', 'actions'])
      .where('role', '=', role)
      .execute();
    return rows.map((r) => ({ pattern: r.pattern, actions: parseActions(r.actions) }));
  }

  return {
    async createUser(user) {
      return db.transaction().execute(async (tx) => {
        const exists = await tx
          .selectFrom('users')
          .select('name')
          .where('name', '=', user.name)
          .executeTakeFirst();
        if (exists) return 'exists' as const;
        for (const b of user.roles) {
          const role = await tx
            .selectFrom('roles')
            .select('name')
            .where('name', '=', b.role)
            .executeTakeFirst();
          if (!role) return 'unknown-role' as const;
        }
        const at = now();
        // Another writer (a replica on PostgreSQL) may create the name after the check above.
        const inserted = await tx
          .insertInto('users')
          .values({
            name: user.name,
            password_hash: user.passwordHash,
            disabled: 0,
            created_at: at,
            updated_at: at,
          })
          .onConflict((oc) => oc.column('name').doNothing())
          .returning('name')
          .executeTakeFirst();
        if (!inserted) return 'exists' as const;
        for (const b of user.roles) {
          await tx
            .insertInto('role_bindings')
            .values({ user: user.name, role: b.role, namespace: b.namespace, created_at: at })
            .onConflict((oc) => oc.doNothing())
            .execute();
        }
        return 'ok' as const;
      });
    },

    async getUser(name) {
      const row = await db
        .selectFrom('users')
        .selectAll()
        .where('name', '=', name)
        .executeTakeFirst();
      return row ? toUser(row) : null;
    },

    async listUsers() {
      const users = await db.selectFrom('users').selectAll().orderBy('name').execute();
      const bindings = await db
        .selectFrom('role_bindings')
        .select(['user', 'role', 'namespace'])
        .orderBy('role')
        .execute();
      return users.map((u) => ({
        ...toUser(u),
        bindings: bindings.filter((b) => b.user === u.name),
      }));
    },

    async setPassword(name, passwordHash) {
      const r = await db
        .updateTable('users')
        .set({ password_hash: passwordHash, updated_at: now() })
        .where('name', '=', name)
        .executeTakeFirst();
      return Number(r.numUpdatedRows) > 0;
    },

    async setUserDisabled(name, disabled) {
      const r = await db
        .updateTable('users')
        .set({ disabled: disabled ? 1 : 0, updated_at: now() })
        .where('name', '=', name)
        .executeTakeFirst();
      return Number(r.numUpdatedRows) > 0;
    },

    async deleteUser(name) {
      return db.transaction().execute(async (tx) => {
        await tx.deleteFrom('role_bindings').where('user', '=', name).execute();
        await tx.deleteFrom('access_tokens').where('user', '=', name).execute();
        await tx.deleteFrom('refresh_tokens').where('user', '=', name).execute();
        const r = await tx.deleteFrom('users').where('name', '=', name).executeTakeFirst();
        return Number(r.numDeletedRows) > 0;
      });
    },

    async countUsers() {
      const row = await db
        .selectFrom('users')
        .select((eb) => eb.fn.countAll<number | string>().as('n'))
        .executeTakeFirst();
      return Number(row?.n ?? 0);
    },

    async listRoles() {
      const roles = await db
        .selectFrom('roles')
        .selectAll()
        .orderBy('builtin', 'desc')
        .orderBy('name')
        .execute();
      const privileges = await db
        .selectFrom('role_privileges')
        .selectAll()
        .orderBy('pattern')
        .execute();
      return roles.map((r) => ({
        name: r.name,
        description: r.description,
        builtin: Number(r.builtin) === 1,
        privileges: privileges
          .filter((p) => p.role === r.name)
          .map((p) => ({ pattern: p.pattern, actions: parseActions(p.actions) })),
      }));
    },

    async getRole(name) {
      const row = await db
        .selectFrom('roles')
        .selectAll()
        .where('name', '=', name)
        .executeTakeFirst();
      if (!row) return null;
      return {
        name: row.name,
        description: row.description,
        builtin: Number(row.builtin) === 1,
        privileges: await rolePrivileges(name),
      };
    },

    async putRole(role) {
      return db.transaction().execute(async (tx) => {
        const existing = await tx
          .selectFrom('roles')
          .select('builtin')
          .where('name', '=', role.name)
          .executeTakeFirst();
        if (existing && Number(existing.builtin) === 1) return 'builtin' as const;
        if (existing) {
          await tx
            .updateTable('roles')
            .set({ description: role.description })
            .where('name', '=', role.name)
            .execute();
          await tx.deleteFrom('role_privileges').where('role', '=', role.name).execute();
        } else {
          await tx
            .insertInto('roles')
            .values({
              name: role.name,
              description: role.description,
              builtin: 0,
              created_at: now(),
            })
            .execute();
        }
        for (const p of role.privileges) {
          await tx
            .insertInto('role_privileges')
            .values({ role: role.name, pattern: p.pattern, actions: p.actions.join(',') })
            .onConflict((oc) =>
              oc.columns(['role', 'pattern']).doUpdateSet({ actions: p.actions.join(',') }),
            )
            .execute();
        }
        return 'ok' as const;
      });
    },

    async deleteRole(name) {
      return db.transaction().execute(async (tx) => {
        const existing = await tx
          .selectFrom('roles')
          .select('builtin')
          .where('name', '=', name)
          .executeTakeFirst();
        if (!existing) return 'unknown' as const;
        if (Number(existing.builtin) === 1) return 'builtin' as const;
        await tx.deleteFrom('role_bindings').where('role', '=', name).execute();
        await tx.deleteFrom('role_privileges').where('role', '=', name).execute();
        await tx.deleteFrom('roles').where('name', '=', name).execute();
        return 'ok' as const;
      });
    },

    async bind(binding) {
      return db.transaction().execute(async (tx) => {
        if (
          !(await tx
            .selectFrom('users')
            .select('name')
            .where('name', '=', binding.user)
            .executeTakeFirst())
        )
          return 'unknown-user' as const;
        if (
          !(await tx
            .selectFrom('roles')
            .select('name')
            .where('name', '=', binding.role)
            .executeTakeFirst())
        )
          return 'unknown-role' as const;
        await tx
          .insertInto('role_bindings')
          .values({
            user: binding.user,
            role: binding.role,
            namespace: binding.namespace,
            created_at: now(),
          })
          .onConflict((oc) => oc.doNothing())
          .execute();
        return 'ok' as const;
      });
    },

    async unbind(binding) {
      const r = await db
        .deleteFrom('role_bindings')
        .where('user', '=', binding.user)
        .where('role', '=', binding.role)
        .where('namespace', '=', binding.namespace)
        .executeTakeFirst();
      return Number(r.numDeletedRows) > 0;
    },

    async privilegesOf(user) {
      const rows = await db
        .selectFrom('role_bindings as b')
        .innerJoin('role_privileges as p', 'p.role', 'b.role')
        .select(['b.namespace', 'p.pattern', 'p.actions'])
        .where('b.user', '=', user)
        .execute();
      const result: Privilege[] = [];
      for (const r of rows) {
        const actions = parseActions(r.actions);
        if (r.namespace === '') result.push({ pattern: r.pattern, actions });
        else if (matchesPattern(r.pattern, r.namespace))
          result.push({ pattern: r.namespace, actions });
      }
      return result;
    },

    async createAccessToken(t) {
      await db
        .insertInto('access_tokens')
        .values({
          id: t.id,
          user: t.user,
          name: t.name,
          secret_hash: t.secretHash,
          privileges: JSON.stringify(t.privileges),
          expires_at: t.expiresAt,
          created_at: t.createdAt,
          last_used_at: null,
          revoked_at: null,
        })
        .execute();
    },

    async getAccessToken(id) {
      const row = await db
        .selectFrom('access_tokens')
        .selectAll()
        .where('id', '=', id)
        .executeTakeFirst();
      return row ? toAccessToken(row) : null;
    },

    async listAccessTokens(user) {
      let q = db.selectFrom('access_tokens').selectAll().orderBy('created_at');
      if (user !== undefined) q = q.where('user', '=', user);
      return (await q.execute()).map(toAccessToken);
    },

    async revokeAccessToken(id, at) {
      const r = await db
        .updateTable('access_tokens')
        .set({ revoked_at: at })
        .where('id', '=', id)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      return Number(r.numUpdatedRows) > 0;
    },

    async touchAccessToken(id, at) {
      await db
        .updateTable('access_tokens')
        .set({ last_used_at: at })
        .where('id', '=', id)
        .execute();
    },

    async createRefreshToken(t) {
      await db
        .insertInto('refresh_tokens')
        .values({
          id: t.id,
          user: t.user,
          service: t.service,
          client_id: t.clientId,
          secret_hash: t.secretHash,
          created_at: t.createdAt,
          last_used_at: null,
          revoked_at: t.revokedAt,
        })
        .execute();
    },

    async getRefreshToken(id) {
      const row = await db
        .selectFrom('refresh_tokens')
        .selectAll()
        .where('id', '=', id)
        .executeTakeFirst();
      return row
        ? {
            id: row.id,
            user: row.user,
            service: row.service,
            clientId: row.client_id,
            secretHash: row.secret_hash,
            createdAt: row.created_at,
            revokedAt: row.revoked_at,
          }
        : null;
    },

    async touchRefreshToken(id, at) {
      await db
        .updateTable('refresh_tokens')
        .set({ last_used_at: at })
        .where('id', '=', id)
        .execute();
    },

    async revokeRefreshTokens(user, at) {
      const r = await db
        .updateTable('refresh_tokens')
        .set({ revoked_at: at })
        .where('user', '=', user)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      return Number(r.numUpdatedRows);
    },

    async getSigningKey() {
      const row = await db
        .selectFrom('signing_keys')
        .selectAll()
        .orderBy('created_at', 'desc')
        .executeTakeFirst();
      return row
        ? {
            kid: row.kid,
            algorithm: row.algorithm,
            privateJwk: row.private_jwk,
            createdAt: row.created_at,
          }
        : null;
    },

    async putSigningKey(key) {
      return db.transaction().execute(async (tx) => {
        // One key for every replica: the check below and the insert are one step.
        await lockKeys(tx, ['signing_keys'], 'exclusive');
        const existing = await tx
          .selectFrom('signing_keys')
          .selectAll()
          .orderBy('created_at', 'desc')
          .executeTakeFirst();
        if (existing) {
          return {
            kid: existing.kid,
            algorithm: existing.algorithm,
            privateJwk: existing.private_jwk,
            createdAt: existing.created_at,
          };
        }
        await tx
          .insertInto('signing_keys')
          .values({
            kid: key.kid,
            algorithm: key.algorithm,
            private_jwk: key.privateJwk,
            created_at: key.createdAt,
          })
          .execute();
        return key;
      });
    },

    async appendAudit(events) {
      if (events.length === 0) return;
      await db
        .insertInto('audit_events')
        .values(
          events.map((e) => ({
            at: e.at,
            actor: e.actor,
            action: e.action,
            target: e.target,
            outcome: e.outcome,
            client: e.client,
            detail: e.detail ? JSON.stringify(e.detail) : null,
          })),
        )
        .execute();
    },

    async listAudit(query: AuditQuery): Promise<Page<AuditEvent & { id: number }>> {
      let q = db
        .selectFrom('audit_events')
        .selectAll()
        .orderBy('id', 'desc')
        .limit(query.limit + 1);
      if (query.before !== undefined) q = q.where('id', '<', query.before);
      if (query.actor !== undefined) q = q.where('actor', '=', query.actor);
      if (query.action !== undefined) q = q.where('action', '=', query.action);
      if (query.since !== undefined) q = q.where('at', '>=', query.since);
      const rows = await q.execute();
      const items = rows.slice(0, query.limit).map((r) => ({
        id: r.id,
        at: r.at,
        actor: r.actor,
        action: r.action,
        target: r.target,
        outcome: r.outcome as AuditEvent['outcome'],
        client: r.client,
        ...(r.detail !== null ? { detail: JSON.parse(r.detail) as Record<string, unknown> } : {}),
      }));
      return { items, more: rows.length > query.limit };
    },
  };
}

const ACTIONS: readonly Action[] = ['pull', 'push', 'delete', 'admin'];

function parseActions(csv: string): Action[] {
  return csv.split(',').filter((a): a is Action => (ACTIONS as readonly string[]).includes(a));
}

function toUser(row: {
  name: string;
  password_hash: string;
  disabled: number | string;
  created_at: string;
  updated_at: string;
}): UserRow {
  return {
    name: row.name,
    passwordHash: row.password_hash,
    disabled: Number(row.disabled) === 1,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function toAccessToken(row: {
  id: string;
  user: string;
  name: string;
  secret_hash: string;
  privileges: string;
  expires_at: string | null;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}): AccessTokenRow {
  return {
    id: row.id,
    user: row.user,
    name: row.name,
    secretHash: row.secret_hash,
    privileges: parsePrivileges(row.privileges),
    expiresAt: row.expires_at,
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
    revokedAt: row.revoked_at,
  };
}

/**
 * A token's stored privileges, keeping only entries of the right shape: a row written by hand or
 * by an older version reads as fewer privileges (none at worst), never as an error that fails
 * every request made with the token.
 */
function parsePrivileges(text: string): Privilege[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return [];
  }
  if (!Array.isArray(value)) return [];
  return value.flatMap((entry: unknown): Privilege[] => {
    if (typeof entry !== 'object' || entry === null) return [];
    const { pattern, actions } = entry as Record<string, unknown>;
    if (typeof pattern !== 'string' || !Array.isArray(actions)) return [];
    return [
      {
        pattern,
        actions: actions.filter(
          (a): a is Action => typeof a === 'string' && (ACTIONS as readonly string[]).includes(a),
        ),
      },
    ];
  });
}

export type { BindingRow, RefreshTokenRow, RoleRow, SigningKeyRow };
