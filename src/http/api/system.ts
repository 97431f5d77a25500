/**
 * @module http/api/system
 * `GET /system`: what this Berth is and how it is configured, for the UI's system page. Built from
 * {@link SystemInfo}, which holds no secret by construction (no keys, hashes or passwords).
 */
import { Type } from '@sinclair/typebox';
import type { Api } from './context.js';

const System = Type.Object({
  version: Type.String(),
  storage: Type.Object({ backend: Type.String() }),
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
    // eslint-disable-next-line @typescript-eslint/require-await -- handlers are async by contract
    handler: async () => ({
      version: info.version,
      storage: { backend: info.storageBackend },
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
