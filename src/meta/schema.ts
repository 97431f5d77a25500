/**
 * @module meta/schema
 * Table types for the query layer (Kysely). The SQL is portable between SQLite and PostgreSQL:
 * text keys, integers, ISO-8601 timestamps as text, JSON as text.
 */
import type { ColumnType, Generated } from 'kysely';

/**
 * An integer column. SQLite returns a number; PostgreSQL's bigint arrives as a string unless a type
 * parser is set, so reads go through Number().
 */
type Int = ColumnType<number | string, number, number>;

export interface NamespacesTable {
  name: string;
  kind: ColumnType<string, string | undefined, string>;
  /** 1 when anonymous clients may pull. */
  public: Int;
  created_at: string;
  /** JSON list of immutable-tag patterns ('[]': none). */
  immutable_tags: ColumnType<string, string | undefined, string>;
  /** 'all', 'none' or a comma-separated platform list; null inherits `manifests.indexChildren`. */
  index_children: ColumnType<string | null, string | null | undefined, string | null>;
  /** Bytes the namespace may hold (distinct blobs); null for no limit. */
  quota_bytes: ColumnType<number | string | null, number | null | undefined, number | null>;
  /** JSON RetentionPolicy (core/retention-policy.ts); null for none. */
  retention: ColumnType<string | null, string | null | undefined, string | null>;
  /** A proxy's or group's settings as JSON (core/federation.ts); null for hosted. */
  federation: ColumnType<string | null, string | null | undefined, string | null>;
}

export interface RepositoriesTable {
  name: string;
  namespace: string;
  created_at: string;
}

export interface BlobsTable {
  digest: string;
  size: Int;
  created_at: string;
}

export interface RepositoryBlobsTable {
  repository: string;
  digest: string;
  created_at: string;
  /** The link's last upload, mount or push-time HEAD: GC's grace counts from here. */
  used_at: ColumnType<string | null, string | undefined, string>;
}

export interface ManifestsTable {
  repository: string;
  digest: string;
  media_type: string;
  size: Int;
  payload: Uint8Array;
  /** artifactType, else (image manifests) the config media type; what referrers report. */
  artifact_type: string | null;
  subject: string | null;
  /** JSON object of the manifest's top-level annotations, or null. */
  annotations: string | null;
  created_at: string;
  /** The user who first pushed it; null without authentication. */
  pushed_by: ColumnType<string | null, string | null | undefined, string | null>;
  /** When it was last pushed or lost its last tag: an untagged manifest's age counts from here. */
  idle_since: ColumnType<string | null, string | undefined, string>;
  /** The last GET (recorded in batches); null when never pulled. */
  last_pulled_at: ColumnType<string | null, string | null | undefined, string | null>;
}

export interface ManifestReferencesTable {
  repository: string;
  manifest: string;
  digest: string;
  /** 'blob' for configs and layers, 'manifest' for an index's children. */
  kind: string;
}

export interface TagsTable {
  repository: string;
  name: string;
  digest: string;
  updated_at: string;
  /** The user who last pointed the tag here; null without authentication. */
  pushed_by: ColumnType<string | null, string | null | undefined, string | null>;
}

export interface UploadsTable {
  id: string;
  repository: string;
  /** The hash this process runs while bytes arrive; the final digest may still use another. */
  algorithm: string;
  offset: Int;
  created_at: string;
  updated_at: string;
  /** The principal that started the session; only it may continue it. */
  owner: ColumnType<string, string | undefined, string>;
  /** The storage driver's handle of the upload ('' before migration 0006). */
  storage_handle: ColumnType<string, string | undefined, string>;
  /** The running hash's saved state at `offset`; null when it was not saved. */
  hash_state: ColumnType<Uint8Array | null, Uint8Array | null | undefined, Uint8Array | null>;
}

export interface UsersTable {
  name: string;
  password_hash: string;
  disabled: Int;
  created_at: string;
  updated_at: string;
}

export interface RolesTable {
  name: string;
  description: ColumnType<string, string | undefined, string>;
  builtin: ColumnType<number | string, number | undefined, number>;
  created_at: string;
}

export interface RolePrivilegesTable {
  role: string;
  /** A namespace glob: `*`, `team`, `team-*`. */
  pattern: string;
  /** Comma-separated actions: pull, push, delete, admin. */
  actions: string;
}

export interface RoleBindingsTable {
  user: string;
  role: string;
  /** '' for everywhere, else the one namespace the role applies in. */
  namespace: ColumnType<string, string | undefined, string>;
  created_at: string;
}

export interface AccessTokensTable {
  id: string;
  user: string;
  name: string;
  secret_hash: string;
  /** JSON array of {pattern, actions}. */
  privileges: string;
  expires_at: string | null;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

export interface RefreshTokensTable {
  id: string;
  user: string;
  service: string;
  client_id: string;
  secret_hash: string;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

export interface SigningKeysTable {
  kid: string;
  algorithm: string;
  private_jwk: string;
  created_at: string;
}

export interface AuditEventsTable {
  id: Generated<number>;
  at: string;
  actor: string;
  action: string;
  target: string;
  outcome: string;
  client: string;
  detail: string | null;
}

export interface GcRunsTable {
  id: string;
  /** 'cli', 'api' or 'schedule'. */
  trigger: string;
  dry_run: Int;
  started_at: string;
  heartbeat_at: string;
  /** `host:pid` of the process running it. */
  owner: ColumnType<string, string | undefined, string>;
  finished_at: string | null;
  status: string;
  /** JSON GcReport once finished. */
  report: string | null;
}

/** A web UI session (meta/shared-state.ts); times in ms since the epoch. */
export interface UiSessionsTable {
  /** SHA-256 of the session id, never the id. */
  key: string;
  user_name: string;
  csrf_token: string;
  credential: string;
  created_at: Int;
  last_seen: Int;
}

/** A login throttle counter per user name or client address; times in ms since the epoch. */
export interface LoginThrottleTable {
  /** 'user' or 'client'. */
  kind: string;
  key: string;
  failures: Int;
  blocked_until: Int;
  window_start: Int;
}

export interface SchemaTables {
  namespaces: NamespacesTable;
  repositories: RepositoriesTable;
  blobs: BlobsTable;
  repository_blobs: RepositoryBlobsTable;
  manifests: ManifestsTable;
  manifest_references: ManifestReferencesTable;
  tags: TagsTable;
  uploads: UploadsTable;
  users: UsersTable;
  roles: RolesTable;
  role_privileges: RolePrivilegesTable;
  role_bindings: RoleBindingsTable;
  access_tokens: AccessTokensTable;
  refresh_tokens: RefreshTokensTable;
  signing_keys: SigningKeysTable;
  audit_events: AuditEventsTable;
  gc_runs: GcRunsTable;
  ui_sessions: UiSessionsTable;
  login_throttle: LoginThrottleTable;
}

export type { Generated };
