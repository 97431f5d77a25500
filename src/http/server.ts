/**
 * @module http/server
 * Builds the Fastify application (no I/O at import time, no listening here: `app.ts` attaches it to
 * one or more Node servers).
 */
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import type { DestinationStream, LoggerOptions } from 'pino';
import { RegistryError } from '../core/errors.js';
import type { AuditLog } from '../auth/audit.js';
import type { IdentityService } from '../auth/identity.js';
import type { AuthService } from '../auth/service.js';
import type { Principal } from '../auth/types.js';
import type { MetaStore } from '../meta/store.js';
import type { PullLog } from '../registry/pull-log.js';
import type { Registry } from '../registry/index.js';
import { VERSION } from '../cli/version.js';
import type { GcService } from '../lifecycle/gc-service.js';
import { apiPlugin, type TlsStatus } from './api/index.js';
import { errorBody, handleError } from './errors.js';
import { attachLazySchemas, lazySchemas } from './lazy-schemas.js';
import { loadWebUi, type WebUi } from './ui.js';
import { createNamespaceRouter } from '../federation/router.js';
import { v2Plugin } from './v2/index.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who the request authenticated as, for its access-log line; null until known. */
    principal: Principal | null;
  }
}

export interface ServerOptions {
  registry: Registry;
  logger: LoggerOptions | false;
  /** Where log lines go (default stdout): tests read them. */
  logStream?: DestinationStream | undefined;
  maxManifestBytes: number;
  /** Null when authentication is off. */
  auth: AuthService | null;
  identity: IdentityService;
  audit: AuditLog;
  meta: MetaStore;
  /** Where manifest GETs are noted (retention's "pulled within"). */
  pulls: PullLog;
  /** Garbage collection for the admin API. */
  gc: GcService;
  /** Proxy namespaces' upstream timeout and 404 memory (config `proxy`). */
  proxy: { upstreamTimeoutMs: number; notFoundTtlMs: number };
  tokenTtlSeconds: number;
  externalUrl: string | undefined;
  /** Proxies whose X-Forwarded-* headers are believed. */
  trustedProxies: string[];
  /** The CA certificate to serve at /ca.crt: PEM when Berth made it, else why there is none. */
  caCertificate: () => { pem: string } | { none: 'plain-http' | 'foreign' };
  /** What the admin API's system page shows about HTTPS. */
  tlsStatus: () => TlsStatus;
  /** The client set-up commands for clients dialling `host:port`; null on plain HTTP. */
  clientSetup: (dial: string) => string | null;
  /** The web UI's build (default: `web/dist` of this install); null serves no UI. */
  webUi?: WebUi | null;
}

export async function buildServer(options: ServerOptions): Promise<FastifyInstance> {
  const schemas = lazySchemas();
  const app = Fastify({
    // Route schemas compile on first use: see lazy-schemas.ts.
    schemaController: { compilersFactory: schemas.compilersFactory },
    logger:
      options.logger === false
        ? false
        : {
            ...options.logger,
            ...(options.logStream ? { stream: options.logStream } : {}),
            // Credentials never reach the log, whatever a later change logs.
            redact: [
              'req.headers.authorization',
              'req.headers.cookie',
              'req.headers["proxy-authorization"]',
            ],
          },
    // One access-log line per request, written by the onResponse hook below.
    logController: new LogController({ disableRequestLogging: true }),
    // Names are long and multi-segment; the router must not cut them.
    routerOptions: { maxParamLength: 4096 },
    // Request ids for log correlation; honour a proxy's id if it is sane.
    requestIdHeader: 'x-request-id',
    return503OnClosing: true,
    trustProxy: options.trustedProxies.length > 0 ? options.trustedProxies : false,
  });

  attachLazySchemas(app, schemas);
  app.decorateRequest('principal', null);

  app.addHook('onRequest', (_request, reply, done) => {
    reply.header('docker-distribution-api-version', 'registry/2.0');
    done();
  });
  app.addHook('onResponse', (request, reply, done) => {
    const status = reply.statusCode;
    const principal = request.principal;
    const data = {
      method: request.method,
      url: request.url,
      status,
      ms: Math.round(reply.elapsedTime),
      // An access token's requests carry its owner's name (filter by user to see everything a
      // user did) and the token's id.
      user: principal === null || principal.kind === 'anonymous' ? 'anonymous' : principal.name,
      token: principal?.tokenId,
      // The peer, or behind trusted proxies the right-most X-Forwarded-For address that is not one.
      client: request.ip,
    };
    if (status >= 500) request.log.error(data, 'request');
    else request.log.info(data, 'request');
    done();
  });

  const webUi = options.webUi === undefined ? loadWebUi() : options.webUi;
  webUi?.register(app);

  app.setErrorHandler(handleError);
  app.setNotFoundHandler((request, reply) => {
    // A browser opening a deep link of the UI (`/repositories/…`) gets the SPA's shell.
    if (webUi?.navigate(request, reply)) return;
    void reply
      .code(404)
      .type('application/json')
      .send(errorBody(new RegistryError('UNSUPPORTED', 'not found')));
  });

  const router = createNamespaceRouter({
    registry: options.registry,
    options: { ...options.proxy, maxManifestBytes: options.maxManifestBytes },
    log: app.log,
  });
  app.addHook('onClose', () => router.close());
  await app.register(v2Plugin, {
    router,
    registry: options.registry,
    maxManifestBytes: options.maxManifestBytes,
    auth: options.auth,
    audit: options.audit,
    meta: options.meta,
    pulls: options.pulls,
    tokenTtlSeconds: options.tokenTtlSeconds,
    externalUrl: options.externalUrl,
  });
  await app.register(apiPlugin, {
    prefix: '/api/v1',
    registry: options.registry,
    auth: options.auth,
    identity: options.identity,
    audit: options.audit,
    meta: options.meta,
    gc: options.gc,
    router,
    system: {
      version: VERSION,
      storageBackend: options.registry.storageBackend,
      authEnabled: options.auth !== null,
      authService: options.auth?.options.service ?? null,
      tokenTtlSeconds: options.tokenTtlSeconds,
      externalUrl: options.externalUrl ?? null,
      defaultNamespace: options.registry.options.defaultNamespace,
      maxManifestBytes: options.maxManifestBytes,
      verifyManifestReferences: options.registry.options.verifyManifestReferences,
      tls: options.tlsStatus,
      clientSetup: options.clientSetup,
    },
  });
  app.get('/ca.crt', (_request, reply) => {
    const ca = options.caCertificate();
    if ('pem' in ca) return reply.type('application/x-x509-ca-cert').send(ca.pem);
    const message =
      ca.none === 'foreign'
        ? 'this registry serves a certificate Berth did not make: get the CA from whoever issued it'
        : 'this registry serves plain HTTP: there is no CA certificate';
    return reply
      .code(404)
      .type('application/json')
      .send(errorBody(new RegistryError('NOT_FOUND', message)));
  });
  app.get('/healthz', (_request, reply) => reply.send({ status: 'ok' }));
  return app;
}
