/**
 * @module http/api
 * The admin REST API at `/api/v1`: users, roles and bindings, namespaces, repositories and their
 * content, access tokens, the audit log, the system summary, and browser sessions for the web UI. JSON in and out, every request
 * validated by a TypeBox schema, the same schemas published as an OpenAPI document at
 * `/api/v1/openapi.json`.
 *
 * Callers authenticate with a session cookie (from `POST /api/v1/session`; changes then need the
 * X-CSRF-Token header) or with Basic credentials (a password or an access token). When
 * authentication is off, every request acts as the administrator `admin`.
 *
 * Register with `{ prefix: '/api/v1' }`. The scope parses JSON bodies (up to 64 KiB) and turns
 * Fastify's own 4xx errors into INVALID_REQUEST, never echoing a body back.
 */
import fastifyCookie from '@fastify/cookie';
import type { FastifyError, FastifyPluginAsync } from 'fastify';
import { RegistryError } from '../../core/errors.js';
import { handleError } from '../errors.js';
import { registerAuditRoutes } from './audit.js';
import { createApi, type ApiOptions } from './context.js';
import { registerNamespaceRoutes } from './namespaces.js';
import { registerRepositoryRoutes } from './repositories.js';
import { registerRetentionRoutes } from './retention.js';
import { registerGcRoutes } from './gc.js';
import { registerOpenApiRoute } from './openapi.js';
import { registerRoleRoutes } from './roles.js';
import { registerSessionRoutes } from './session.js';
import { createSessionStore } from './sessions.js';
import { registerSystemRoutes } from './system.js';
import { registerTokenRoutes } from './tokens.js';
import { registerUserRoutes } from './users.js';

export type { ApiOptions, SystemInfo, TlsStatus } from './context.js';

const DEFAULT_IDLE_SECONDS = 8 * 3600;
const MAX_SESSION_SECONDS = 24 * 3600;
const MAX_SESSIONS = 10_000;
/** Each replica sweeps a bounded batch of ended sessions this often. */
const SWEEP_MS = 60 * 1000;

export const apiPlugin: FastifyPluginAsync<ApiOptions> = async (app, options) => {
  await app.register(fastifyCookie);
  // JSON only: a cross-site HTML form can send text/plain or urlencoded bodies, never JSON.
  app.removeContentTypeParser('text/plain');

  const sessions = createSessionStore(options.meta, {
    idleSeconds: options.sessionIdleSeconds ?? DEFAULT_IDLE_SECONDS,
    maxAgeSeconds: MAX_SESSION_SECONDS,
    maxSessions: MAX_SESSIONS,
  });
  const sweeper = setInterval(() => {
    sessions.sweep().catch((err: unknown) => app.log.warn({ err }, 'session sweep failed'));
  }, SWEEP_MS).unref();
  app.addHook('onClose', (_instance, done) => {
    clearInterval(sweeper);
    done();
  });

  app.addHook('onRequest', (_request, reply, done) => {
    // Responses carry secrets (a new token, the CSRF token): no cache may keep them.
    void reply.header('cache-control', 'no-store').header('x-content-type-options', 'nosniff');
    done();
  });

  app.setSchemaErrorFormatter((errors, dataVar) => {
    const first = errors[0];
    const where = `${dataVar}${first?.instancePath ?? ''}`;
    return new RegistryError('INVALID_REQUEST', `${where} ${first?.message ?? 'is invalid'}`, {
      // Paths and rules only: the rejected values may be passwords.
      errors: errors.map((e) => ({ path: `${dataVar}${e.instancePath}`, message: e.message })),
    });
  });
  app.setErrorHandler((err, request, reply) => {
    handleError(apiError(err), request, reply);
  });
  app.setNotFoundHandler((request, reply) => {
    handleError(
      new RegistryError('NOT_FOUND', `no such API route: ${request.method} ${request.url}`),
      request,
      reply,
    );
  });

  const api = createApi(app, options, sessions);
  registerSessionRoutes(api);
  registerUserRoutes(api);
  registerRoleRoutes(api);
  registerTokenRoutes(api);
  registerNamespaceRoutes(api);
  registerRepositoryRoutes(api);
  registerRetentionRoutes(api);
  registerGcRoutes(api);
  registerAuditRoutes(api);
  registerSystemRoutes(api);
  registerOpenApiRoute(api);
};

/**
 * Fastify's own client errors (bad JSON, wrong content type, an empty body) as API errors. Their
 * messages can quote the body, so they are replaced by fixed ones.
 */
function apiError(err: unknown): unknown {
  if (err instanceof RegistryError) return err;
  const e = err as Partial<FastifyError>;
  const status = e.statusCode;
  if (typeof status !== 'number' || status < 400 || status >= 500 || status === 413) return err;
  if (status === 415)
    return new RegistryError('INVALID_REQUEST', 'send the body as application/json');
  if (e.code === 'FST_ERR_CTP_EMPTY_JSON_BODY')
    return new RegistryError('INVALID_REQUEST', 'the JSON body is empty');
  if (e.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err instanceof SyntaxError)
    return new RegistryError('INVALID_REQUEST', 'the body is not valid JSON');
  return new RegistryError('INVALID_REQUEST', 'the request is malformed');
}
