/**
 * The shapes of the admin API (`/api/v1`) as the UI reads them. The server's OpenAPI document is
 * the authority; these mirror it for the fields the UI uses.
 */

export type Action = 'pull' | 'push' | 'delete' | 'admin';

export interface Privilege {
  pattern: string;
  actions: Action[];
}

export interface RoleBinding {
  role: string;
  namespace: string | null;
}

export interface Session {
  user: string;
  isAdmin: boolean;
  authEnabled: boolean;
  via: 'session' | 'basic' | 'auth-off';
  accessToken: string | null;
  roles: RoleBinding[];
  privileges: Privilege[];
  csrfToken: string | null;
}

export interface LoginResult {
  user: string;
  isAdmin: boolean;
  csrfToken: string;
}

/** Which tags a namespace keeps; a tag is kept when any keep-rule matches it. */
export interface RetentionPolicy {
  keepLast?: number;
  keepDays?: number;
  keepTags?: string;
  untaggedDays?: number;
}

/** `hosted` stores what is pushed; `proxy` caches one upstream registry; `group` pulls through others. */
export type NamespaceKind = 'hosted' | 'proxy' | 'group';

/** What this Berth process last heard from a proxy's upstream (kept in memory, not stored). */
export interface UpstreamHealth {
  lastSuccessAt: string | null;
  lastFailureAt: string | null;
  /** The last failure in words: a status such as 503, a timeout, a refused connection. */
  lastFailure: string | null;
}

export interface ProxySettings {
  /** The upstream's origin, e.g. `https://registry-1.docker.io`. */
  url: string;
  /** Null: pulls from the upstream anonymously. The password is never sent back. */
  username: string | null;
  /** How long a cached tag is served before the upstream is asked whether it moved: `6h`. */
  ttl: string;
  health: UpstreamHealth;
}

export interface GroupSettings {
  /** Pulls try these namespaces in this order. */
  members: string[];
  /** The hosted member that takes pushes made to the group; null refuses them. */
  pushTo: string | null;
}

export interface Namespace {
  name: string;
  kind: NamespaceKind;
  /** Set for a proxy namespace only. */
  proxy: ProxySettings | null;
  /** Set for a group namespace only. */
  group: GroupSettings | null;
  public: boolean;
  createdAt: string;
  repositories: number;
  /** Tag globs that cannot be moved or deleted. */
  immutableTags: string[];
  /** `all`, `none` or platforms (`linux/amd64,linux/arm64`); null: the configured default. */
  indexChildren: string | null;
  quotaBytes: number | null;
  usedBytes: number;
  retention: RetentionPolicy | null;
  actions: Action[];
}

/** What a collection removed, or in a dry run would remove. */
export interface GcReport {
  durationMs: number;
  manifests: number;
  blobs: number;
  /** The space reclaimed. */
  bytes: number;
  links: number;
  uploads: number;
  orphanFiles: number;
  graceMs: number;
  retention: { tags: number; manifests: number } | null;
  /** The first removed items: manifests as `repository@digest`, blob digests. */
  removed?: { manifests: string[]; blobs: string[]; truncated: boolean };
  error?: string;
}

export interface GcRun {
  id: string;
  trigger: 'cli' | 'api' | 'schedule';
  dryRun: boolean;
  status: 'running' | 'done' | 'failed' | 'abandoned';
  startedAt: string;
  finishedAt: string | null;
  report: GcReport | null;
}

export interface GcRuns {
  running: GcRun | null;
  /** Newest first, at most 20. */
  runs: GcRun[];
}

export interface RetentionReport {
  dryRun: boolean;
  namespaces: string[];
  tags: { repository: string; tag: string; digest: string }[];
  manifests: { repository: string; digest: string }[];
  kept: number;
}

export interface Overview {
  namespaces: number;
  repositories: number;
  tags: number;
  manifests: number;
  storage: { bytes: number; blobs: number };
  byNamespace: { namespace: string; repositories: number; tags: number; bytes: number }[];
  recentPushes: {
    repository: string;
    tag: string;
    digest: string;
    pushedAt: string;
    pushedBy: string | null;
  }[];
}

export interface Repository {
  name: string;
  namespace: string;
  tags: number;
  manifests: number;
  createdAt?: string;
  updatedAt: string;
  actions: Action[];
}

export interface Page<T> {
  items: T[];
  total: number;
}

export type ManifestKind = 'image' | 'index' | 'artifact';

export interface Platform {
  os: string;
  architecture: string;
  variant: string | null;
}

export interface Tag {
  name: string;
  digest: string;
  mediaType: string;
  kind: ManifestKind;
  artifactType: string | null;
  size: number;
  pushedAt: string;
  pushedBy: string | null;
  platforms: (Platform & { digest: string })[];
}

export type Annotations = Record<string, string> | null;

export interface Layer {
  digest: string;
  mediaType: string;
  size: number;
  annotations: Annotations;
}

export interface HistoryEntry {
  created: string | null;
  createdBy: string | null;
  comment: string | null;
  emptyLayer: boolean;
}

export interface ImageConfig {
  digest: string;
  mediaType: string;
  size: number;
  created: string | null;
  author: string | null;
  os: string | null;
  architecture: string | null;
  variant: string | null;
  env: string[];
  entrypoint: string[] | null;
  cmd: string[] | null;
  workingDir: string | null;
  user: string | null;
  exposedPorts: string[];
  labels: Record<string, string>;
  history: HistoryEntry[];
}

export interface ChildManifest {
  digest: string;
  mediaType: string;
  size: number;
  artifactType: string | null;
  platform: Platform | null;
  annotations: Annotations;
}

export interface Referrer {
  digest: string;
  mediaType: string;
  artifactType: string | null;
  size: number;
  annotations: Annotations;
  createdAt: string;
}

export interface ManifestDetail {
  digest: string;
  mediaType: string;
  kind: ManifestKind;
  artifactType: string | null;
  size: number;
  totalSize: number;
  pushedAt: string;
  pushedBy: string | null;
  tags: string[];
  annotations: Annotations;
  subject: { digest: string; mediaType: string; size: number } | null;
  layers: Layer[];
  config: ImageConfig | null;
  manifests: ChildManifest[];
  referrers: Referrer[];
  actions: Action[];
}

export interface User {
  name: string;
  disabled: boolean;
  createdAt: string;
  updatedAt: string;
  roles: RoleBinding[];
}

export interface Role {
  name: string;
  description: string;
  builtin: boolean;
  privileges: Privilege[];
}

export interface AccessToken {
  id: string;
  user: string;
  name: string;
  privileges: Privilege[];
  expiresAt: string | null;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

export interface CreatedToken {
  token: AccessToken;
  secret: string;
}

export interface AuditEvent {
  id: number;
  at: string;
  actor: string;
  action: string;
  target: string;
  outcome: 'success' | 'failure' | 'denied';
  client: string;
  detail?: Record<string, unknown>;
}

export interface AuditPage {
  items: AuditEvent[];
  more: boolean;
  nextBefore: number | null;
}

export interface Certificate {
  subject: string;
  dnsNames: string[];
  ipAddresses: string[];
  notAfter: string;
  issuer: string;
}

export interface SystemInfo {
  version: string;
  storage: { backend: string; bytes?: number; blobs?: number };
  auth: { enabled: boolean; service: string | null; tokenTtlSeconds: number };
  externalUrl: string | null;
  /** What clients dial (`host[:port]`), as the server sees it: the external URL, else the request. */
  registryHost?: string;
  /** Every client's CA set-up (docker, podman, containerd, k3s, kind) as text; null without TLS. */
  clientSetup?: string | null;
  registry: {
    defaultNamespace: string;
    maxManifestBytes: number;
    verifyManifestReferences: boolean;
  };
  tls?: {
    enabled: boolean;
    caAvailable: boolean;
    caFingerprint?: string | null;
    certificate: Certificate | null;
  };
}
