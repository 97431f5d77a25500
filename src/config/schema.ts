/**
 * @module config/schema
 * One TypeBox schema gives both the Config type and its validation, with the defaults that make
 * `berth serve` work with no configuration at all.
 */
import { Type, type Static } from '@sinclair/typebox';
import { DURATION_PATTERN } from '../core/duration.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const ConfigSchema = Type.Object(
  {
    /** `HOST:PORT`, `[IPv6]:PORT` or `:PORT` (all interfaces); several allowed. */
    listen: Type.Array(Type.String({ minLength: 1 }), { minItems: 1, default: [':5000'] }),
    /** Data directory: SQLite metadata and filesystem blobs. */
    data: Type.String({ minLength: 1, default: './data' }),
    /**
     * Where the metadata lives: `sqlite:<file>` (default: `sqlite:<data>/meta.sqlite`) or
     * `postgres://user:pass@host:port/db`, which replicas share.
     */
    meta: Type.Optional(Type.String({ pattern: '^(sqlite:.+|postgres(ql)?://.+)$' })),
    /**
     * Where blobs live: `file:<dir>` (default: the data directory) or
     * `s3://BUCKET[/PREFIX]?endpoint=…&region=…&forcePathStyle=true`, which replicas share
     * (credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the AWS default chain).
     */
    storage: Type.Optional(Type.String({ pattern: '^(file:.+|s3://.+)$' })),
    /**
     * The URL clients use to reach this registry (scheme, host, port), when it differs from what
     * they send in Host: e.g. behind a TLS-terminating proxy. Used for the token realm.
     */
    externalUrl: Type.Optional(Type.String({ pattern: '^https?://[^/]+$' })),
    /**
     * Addresses or CIDRs of reverse proxies whose X-Forwarded-For/-Proto/-Host/-Port are believed
     * (for the token realm and the client address used by throttling and the audit log).
     */
    trustedProxies: Type.Array(Type.String({ minLength: 1 }), { default: [] }),
    auth: Type.Object(
      {
        /** Off only for trusted networks and tests: every request then acts as an administrator. */
        enabled: Type.Boolean({ default: true }),
        /** The `service` of the token realm, the audience of its tokens. */
        service: Type.String({ minLength: 1, default: 'berth' }),
        /** The `iss` of issued tokens. */
        issuer: Type.String({ minLength: 1, default: 'berth' }),
        /** Lifetime of registry tokens; clients treat anything under 60 s as 60 s. */
        tokenTtlSeconds: Type.Integer({ minimum: 60, maximum: 86400, default: 300 }),
        /** How long a verified password stays cached (a push must not pay argon2 per request). */
        credentialCacheSeconds: Type.Integer({ minimum: 0, maximum: 3600, default: 60 }),
      },
      { default: {}, additionalProperties: false },
    ),
    tls: Type.Object(
      {
        /**
         * Unset: HTTPS when a certificate is configured or `berth cert` wrote one into
         * `<data>/tls`; false: plain HTTP regardless; true: refuse to start without a certificate.
         */
        enabled: Type.Optional(Type.Boolean()),
        /** PEM server certificate (then any intermediates) and its unencrypted private key. */
        cert: Type.Optional(Type.String({ minLength: 1 })),
        key: Type.Optional(Type.String({ minLength: 1 })),
        /** Make a CA and certificate in `<data>/tls` on first start, reuse them afterwards. */
        auto: Type.Boolean({ default: false }),
        /** Names for `auto` (default: this machine's host name and localhost). */
        hosts: Type.Array(Type.String({ minLength: 1 }), { default: [] }),
        /** IPs for `auto` (default: 127.0.0.1 and ::1). */
        ips: Type.Array(Type.String({ minLength: 1 }), { default: [] }),
        /** `HOST:PORT` of a plain-HTTP listener that redirects every request to HTTPS (308). */
        redirectFrom: Type.Optional(Type.String({ minLength: 1 })),
      },
      { default: {}, additionalProperties: false },
    ),
    log: Type.Object(
      {
        level: Type.Union(
          LOG_LEVELS.map((l) => Type.Literal(l)),
          { default: 'info' },
        ),
      },
      { default: {}, additionalProperties: false },
    ),
    registry: Type.Object(
      {
        /** Where single-segment names (`nginx`) live, as on Docker Hub. */
        defaultNamespace: Type.String({
          default: 'library',
          pattern: '^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$',
        }),
        /** Manifests above this are refused with 413; the spec asks for at least 4 MiB. */
        maxManifestBytes: Type.Integer({ minimum: 4 * 1024 * 1024, default: 4 * 1024 * 1024 }),
        /** Refuse manifests whose blobs or child manifests were not pushed (MANIFEST_BLOB_UNKNOWN). */
        verifyManifestReferences: Type.Boolean({ default: true }),
        /** Upload sessions idle this long are deleted. */
        uploadTtlHours: Type.Number({ exclusiveMinimum: 0, default: 24 }),
      },
      { default: {}, additionalProperties: false },
    ),
    manifests: Type.Object(
      {
        /**
         * Which children of a pushed index must exist in the repository: `all`, `none` (sparse
         * indexes) or platforms such as `linux/amd64,linux/arm64`; others may be missing. A
         * namespace may override it (`berth namespace set NAME --index-children …`).
         */
        indexChildren: Type.String({
          default: 'all',
          pattern:
            '^(all|none|[a-z0-9][a-z0-9._-]*/[a-z0-9][a-z0-9._-]*(/[a-z0-9][a-z0-9._-]*)?(,[a-z0-9][a-z0-9._-]*/[a-z0-9][a-z0-9._-]*(/[a-z0-9][a-z0-9._-]*)?)*)$',
        }),
      },
      { default: {}, additionalProperties: false },
    ),
    gc: Type.Object(
      {
        /**
         * How long a blob link no manifest references is kept after it was uploaded, mounted or
         * found by a push (HEAD), and how young a manifest must be to be safe: a client that
         * uploads layers and then PUTs its manifest never races the collector. At least as long
         * as the slowest push. `berth gc --grace` overrides it for one run.
         */
        grace: Type.String({ pattern: DURATION_PATTERN, default: '1h' }),
        /**
         * Untagged manifests (not the children of a kept index, not the referrers of a kept
         * subject) are collected this long after they lost their last tag or were pushed; 0
         * keeps them forever. A namespace's retention (`untagged-days`) overrides it.
         */
        untaggedAfter: Type.String({ pattern: DURATION_PATTERN, default: '7d' }),
        /** How often the server collects: `daily`, `hourly`, `weekly`, a duration, or `off`. */
        schedule: Type.String({
          pattern: `^(daily|hourly|weekly|off)$|${DURATION_PATTERN}`,
          default: 'daily',
        }),
      },
      { default: {}, additionalProperties: false },
    ),
    proxy: Type.Object(
      {
        /**
         * Proxy namespaces: how long an upstream may take to connect and to answer, and the
         * longest pause inside a body. A cached tag is served stale after it.
         */
        upstreamTimeout: Type.String({ pattern: DURATION_PATTERN, default: '30s' }),
        /** How long an upstream's "not found" is believed before it is asked again. */
        notFoundTtl: Type.String({ pattern: DURATION_PATTERN, default: '1m' }),
      },
      { default: {}, additionalProperties: false },
    ),
    /**
     * Docker mirror listeners (`--mirror HOST:PORT=NAMESPACE`): each serves one proxy (or group)
     * namespace under the upstream's own names, for docker's `registry-mirrors`.
     */
    mirrors: Type.Array(
      Type.Object(
        {
          listen: Type.String({ minLength: 1 }),
          namespace: Type.String({ pattern: '^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$' }),
        },
        { additionalProperties: false },
      ),
      { default: [] },
    ),
    http: Type.Object(
      {
        /** A connection with no bytes moving for this long is closed (never a whole-request limit). */
        idleTimeoutSeconds: Type.Integer({ minimum: 10, default: 300 }),
        /** On SIGTERM, in-flight requests get this long to finish. */
        shutdownGraceSeconds: Type.Integer({ minimum: 0, default: 30 }),
      },
      { default: {}, additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

export type Config = Static<typeof ConfigSchema>;
