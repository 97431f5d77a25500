import { sql, type Kysely, type Migration } from 'kysely';
import { isPostgres } from './dialect.js';

/** Users, roles, bindings, access and refresh tokens, signing keys, audit events; uploads get an owner. */
export const identity: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('users')
      .addColumn('name', 'text', (c) => c.primaryKey())
      .addColumn('password_hash', 'text', (c) => c.notNull())
      .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('roles')
      .addColumn('name', 'text', (c) => c.primaryKey())
      .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
      .addColumn('builtin', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('role_privileges')
      .addColumn('role', 'text', (c) => c.notNull().references('roles.name').onDelete('cascade'))
      .addColumn('pattern', 'text', (c) => c.notNull())
      .addColumn('actions', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('role_privileges_pk', ['role', 'pattern'])
      .execute();

    await db.schema
      .createTable('role_bindings')
      .addColumn('user', 'text', (c) => c.notNull().references('users.name').onDelete('cascade'))
      .addColumn('role', 'text', (c) => c.notNull().references('roles.name').onDelete('cascade'))
      // '' binds the role everywhere; a namespace name binds it to that namespace only.
      .addColumn('namespace', 'text', (c) => c.notNull().defaultTo(''))
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('role_bindings_pk', ['user', 'role', 'namespace'])
      .execute();

    await db.schema
      .createTable('access_tokens')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('user', 'text', (c) => c.notNull().references('users.name').onDelete('cascade'))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('secret_hash', 'text', (c) => c.notNull())
      .addColumn('privileges', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('last_used_at', 'text')
      .addColumn('revoked_at', 'text')
      .execute();
    await db.schema.createIndex('access_tokens_user').on('access_tokens').column('user').execute();

    await db.schema
      .createTable('refresh_tokens')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('user', 'text', (c) => c.notNull().references('users.name').onDelete('cascade'))
      .addColumn('service', 'text', (c) => c.notNull())
      .addColumn('client_id', 'text', (c) => c.notNull())
      .addColumn('secret_hash', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('last_used_at', 'text')
      .addColumn('revoked_at', 'text')
      .execute();
    await db.schema
      .createIndex('refresh_tokens_user')
      .on('refresh_tokens')
      .column('user')
      .execute();

    await db.schema
      .createTable('signing_keys')
      .addColumn('kid', 'text', (c) => c.primaryKey())
      .addColumn('algorithm', 'text', (c) => c.notNull())
      .addColumn('private_jwk', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('audit_events')
      // PostgreSQL has no AUTOINCREMENT: a 64-bit identity, as SQLite's integer key is.
      .addColumn('id', isPostgres(db) ? 'bigserial' : 'integer', (c) =>
        isPostgres(db) ? c.primaryKey() : c.primaryKey().autoIncrement(),
      )
      .addColumn('at', 'text', (c) => c.notNull())
      .addColumn('actor', 'text', (c) => c.notNull())
      .addColumn('action', 'text', (c) => c.notNull())
      .addColumn('target', 'text', (c) => c.notNull().defaultTo(''))
      .addColumn('outcome', 'text', (c) => c.notNull())
      .addColumn('client', 'text', (c) => c.notNull().defaultTo(''))
      .addColumn('detail', 'text')
      .execute();
    await db.schema.createIndex('audit_events_at').on('audit_events').column('at').execute();
    await db.schema
      .createIndex('audit_events_actor')
      .on('audit_events')
      .columns(['actor', 'at'])
      .execute();

    await db.schema
      .alterTable('uploads')
      .addColumn('owner', 'text', (c) => c.notNull().defaultTo(''))
      .execute();

    const now = new Date().toISOString();
    const builtins: [string, string, string][] = [
      ['admin', 'everything, including administration', 'pull,push,delete,admin'],
      ['maintainer', 'pull, push and delete images', 'pull,push,delete'],
      ['developer', 'pull and push images', 'pull,push'],
      ['viewer', 'pull images', 'pull'],
    ];
    for (const [name, description, actions] of builtins) {
      await sql`insert into roles (name, description, builtin, created_at) values (${name}, ${description}, 1, ${now})`.execute(
        db,
      );
      await sql`insert into role_privileges (role, pattern, actions) values (${name}, '*', ${actions})`.execute(
        db,
      );
    }
  },
};
