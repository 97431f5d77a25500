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
    caFingerprint: Type.Union([Type.String(), Type.Null()]),
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
  registryHost: Type.String({
    description: 'What clients dial (`host[:port]`): the external URL, else this request',
  }),
  clientSetup: Type.Union([Type.String(), Type.Null()], {
    description: "Commands that make docker, podman, containerd, k3s and kind trust Berth's CA",
  }),
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
    handler: async ({ request }) => {
      const registryHost = dialedHost(info.externalUrl, request.host);
      return {
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
        registryHost,
        clientSetup: info.clientSetup(registryHost),
        registry: {
          defaultNamespace: info.defaultNamespace,
          maxManifestBytes: info.maxManifestBytes,
          verifyManifestReferences: info.verifyManifestReferences,
        },
      };
    },
  });
}

/** A host as clients write it: letters, digits, dots, dashes, an optional port, IPv6 in brackets. */
const HOST = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/**
 * The registry host for pull commands and the CA folder name. The Host header is the caller's
 * own and only echoed back to them, but anything not shaped like a host is not used.
 */
function dialedHost(externalUrl: string | null, requestHost: string): string {
  if (externalUrl !== null) {
    const url = new URL(externalUrl);
    const defaultPort = url.protocol === 'https:' ? '443' : '80';
    return url.port && url.port !== defaultPort ? `${url.hostname}:${url.port}` : url.hostname;
  }
  return HOST.test(requestHost) ? requestHost : 'HOST:PORT';
}
