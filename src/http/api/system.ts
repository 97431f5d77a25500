/**
 * @module http/api/system
 * `GET /system`: what this Berth is and how it is configured, for the UI's system page: version,
 * storage used, TLS certificate facts. Built from
 * {@link SystemInfo}, which holds no secret by construction (no keys, hashes or passwords).
 */
import { Type } from '@sinclair/typebox';
import type { Api } from './context.js';

const System = Type.Object({
  version: Type.String(),
  storage: Type.Object({
    backend: Type.String(),
    blobs: Type.Integer({ description: 'Blobs stored (referenced or not)' }),
    bytes: Type.Integer(),
  }),
  tls: Type.Object({
    enabled: Type.Boolean(),
    caAvailable: Type.Boolean({ description: 'GET /ca.crt serves the CA Berth made' }),
    certificate: Type.Union([
      Type.Object({
        subject: Type.String(),
        issuer: Type.String(),
        dnsNames: Type.Array(Type.String()),
        ipAddresses: Type.Array(Type.String()),
        notAfter: Type.String(),
      }),
      Type.Null(),
    ]),
  }),
  auth: Type.Object({
    enabled: Type.Boolean({
      description: 'When false, every request acts as the administrator `admin`',
    }),
    service: Type.Union([Type.String(), Type.Null()], { description: 'Token audience' }),
    tokenTtlSeconds: Type.Integer(),
  }),
  externalUrl: Type.Union([Type.String(), Type.Null()]),
  registry: Type.Object({
    defaultNamespace: Type.String(),
    maxManifestBytes: Type.Integer(),
    verifyManifestReferences: Type.Boolean(),
  }),
});

export function registerSystemRoutes(api: Api): void {
  const info = api.options.system;
  api.route({
    method: 'GET',
    url: '/system',
    operationId: 'getSystem',
    summary: 'Version, storage backend and a configuration summary (no secrets)',
    tag: 'system',
    access: 'signed-in',
    response: System,
    handler: async () => ({
      version: info.version,
      storage: {
        backend: info.storageBackend,
        ...(await api.options.registry.browse.storageUsed()),
      },
      tls: info.tls(),
      auth: {
        enabled: info.authEnabled,
        service: info.authService,
        tokenTtlSeconds: info.tokenTtlSeconds,
      },
      externalUrl: info.externalUrl,
      registry: {
        defaultNamespace: info.defaultNamespace,
        maxManifestBytes: info.maxManifestBytes,
        verifyManifestReferences: info.verifyManifestReferences,
      },
    }),
  });
}
