/**
 * @module config/schema
 * One TypeBox schema gives both the Config type and its validation, with the defaults that make
 * `berth serve` work with no configuration at all.
 */
import { Type, type Static } from '@sinclair/typebox';

export const ConfigSchema = Type.Object(
  {
    /** `HOST:PORT`, `[IPv6]:PORT` or `:PORT` (all interfaces); several allowed. */
    listen: Type.Array(Type.String({ minLength: 1 }), { minItems: 1, default: [':5000'] }),
    /** Data directory: SQLite metadata and filesystem blobs. */
    data: Type.String({ minLength: 1, default: './data' }),
    log: Type.Object(
      {
        level: Type.Union(
          ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) =>
            Type.Literal(l),
          ),
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
