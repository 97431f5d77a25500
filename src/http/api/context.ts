/**
 * @module http/api/context
 * What every admin API module shares: who is calling (a session cookie, Basic credentials, or
 * nobody), the access rule of each route, CSRF protection for cookie-authenticated changes, and
 * the route table that becomes the OpenAPI document.
 *
 * A caller is identified in the route's onRequest hook, before the body is even read, so an
 * anonymous or unauthorized request learns nothing about what the body should have been.
 */
import type { NamespaceRouter } from '../../federation/router.js';
import type { Static, TSchema, TUnknown, TVoid } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { RegistryError } from '../../core/errors.js';
import type { AuditLog } from '../../auth/audit.js';
import type { Actor, IdentityService } from '../../auth/identity.js';
import type { AuthService } from '../../auth/service.js';
import { ANONYMOUS, type Action, type Principal } from '../../auth/types.js';
import type { MetaStore } from '../../meta/store.js';
import type { GcService } from '../../lifecycle/gc-service.js';
import type { Registry } from '../../registry/index.js';
import { credentialOf, tokensEqual, type Session, type SessionStore } from './sessions.js';

export const SESSION_COOKIE = 'berth_session';
export const CSRF_HEADER = 'x-csrf-token';
/** Admin API bodies are small JSON documents. */
export const BODY_LIMIT = 64 * 1024;

/** Configuration shown by `GET /system`: nothing secret goes in here. */
export interface SystemInfo {
  version: string;
  storageBackend: string;
  authEnabled: boolean;
  authService: string | null;
  tokenTtlSeconds: number;
  externalUrl: string | null;
  defaultNamespace: string;
  maxManifestBytes: number;
  verifyManifestReferences: boolean;
  /** A getter: SIGHUP may swap the certificate while serving. */
  tls: () => TlsStatus;
  /** What clients dialling `host:port` must do to trust the certificate; null on plain HTTP. */
  clientSetup: (dial: string) => string | null;
}

/** What the system page shows about HTTPS: public facts of the certificate, never the key. */
export interface TlsStatus {
  enabled: boolean;
  /** GET /ca.crt serves the CA (Berth made it). */
  caAvailable: boolean;
  /** SHA-256 fingerprint of the CA Berth made, to check a downloaded ca.crt against. */
  caFingerprint: string | null;
  certificate: {
    subject: string;
    issuer: string;
    dnsNames: string[];
    ipAddresses: string[];
    notAfter: string;
  } | null;
}

export interface ApiOptions {
  registry: Registry;
  /** Null when authentication is off: every request then acts as the administrator `admin`. */
  auth: AuthService | null;
  identity: IdentityService;
  audit: AuditLog;
  /** The whole store: identity for sessions, retention for its runs. */
  meta: MetaStore;
  /** Garbage collection (lifecycle/gc-service.ts). */
  gc: GcService;
  /** Proxy and group namespaces: what this process last heard from each upstream. */
  router: NamespaceRouter;
  system: SystemInfo;
  /** A session ends after this long without a request (default 8 hours). */
  sessionIdleSeconds?: number;
}

/** The name every request acts as when authentication is off. */
export const AUTH_OFF_USER = 'admin';

export interface Caller {
  /** The user name ('' when anonymous). */
  name: string;
  principal: Principal;
  via: 'anonymous' | 'session' | 'basic' | 'auth-off';
  session: Session | null;
  /** The cookie value of the session (to keep it when the user's other sessions end). */
  sessionId: string | null;
  /** isAdmin, computed at most once per request. */
  admin?: boolean;
}

/** public: anyone; signed-in: any authenticated caller; admin: registry administrators. */
export type Access = 'public' | 'signed-in' | 'admin';
export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface HandlerArgs<P, Q, B> {
  caller: Caller;
  params: P;
  query: Q;
  body: B;
  request: FastifyRequest;
  reply: FastifyReply;
}

export interface RouteSpec<
  P extends TSchema,
  Q extends TSchema,
  B extends TSchema,
  R extends TSchema,
> {
  method: Method;
  /** Relative to the API prefix, Fastify syntax (`/users/:name`). */
  url: string;
  operationId: string;
  summary: string;
  description?: string;
  tag: string;
  access: Access;
  params?: P;
  querystring?: Q;
  body?: B;
  /** The success status (default 200, or 204 when there is no response schema). */
  status?: number;
  response?: R;
  handler: (args: HandlerArgs<Static<P>, Static<Q>, Static<B>>) => Promise<Static<R>>;
}

/** A registered route as the OpenAPI document describes it. */
export interface RouteRecord {
  method: Method;
  /** Full path, Fastify syntax (`/api/v1/users/:name`). */
  path: string;
  operationId: string;
  summary: string;
  description: string | undefined;
  tag: string;
  access: Access;
  params: TSchema | undefined;
  querystring: TSchema | undefined;
  body: TSchema | undefined;
  status: number;
  response: TSchema | undefined;
}

export interface Api {
  readonly options: ApiOptions;
  readonly sessions: SessionStore;
  readonly routes: readonly RouteRecord[];
  route<
    P extends TSchema = TUnknown,
    Q extends TSchema = TUnknown,
    B extends TSchema = TUnknown,
    R extends TSchema = TVoid,
  >(
    spec: RouteSpec<P, Q, B, R>,
  ): void;
  isAdmin(caller: Caller): Promise<boolean>;
  /** What the caller may do in a namespace. */
  actions(caller: Caller, namespace: string): Promise<Set<Action>>;
  actor(caller: Caller, request: FastifyRequest): Actor;
  /** Records a successful change by the caller in the audit log. */
  record(
    caller: Caller,
    request: FastifyRequest,
    action: string,
    target: string,
    detail?: Record<string, unknown>,
  ): void;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const ALL_ACTIONS: readonly Action[] = ['pull', 'push', 'delete', 'admin'];

/** A set of actions as responses list them: always in the order pull, push, delete, admin. */
export function orderedActions(actions: ReadonlySet<Action>): Action[] {
  return ALL_ACTIONS.filter((a) => actions.has(a));
}

const anonymous = (): Caller => ({
  name: '',
  principal: ANONYMOUS,
  via: 'anonymous',
  session: null,
  sessionId: null,
});

export function createApi(app: FastifyInstance, options: ApiOptions, sessions: SessionStore): Api {
  const routes: RouteRecord[] = [];
  const callers = new WeakMap<FastifyRequest, Caller>();
  const { auth } = options;

  async function identify(request: FastifyRequest): Promise<Caller> {
    if (!auth) {
      return {
        name: AUTH_OFF_USER,
        principal: { kind: 'user', name: AUTH_OFF_USER },
        via: 'auth-off',
        session: null,
        sessionId: null,
      };
    }
    const header = request.headers.authorization;
    if (header !== undefined && header !== '') {
      // Registry JWTs are scoped to repositories and minted for docker clients; they are no
      // credential for administration.
      if (!/^basic /i.test(header)) {
        throw notSignedIn(
          'the admin API accepts a session cookie or Basic credentials (a password or an access token)',
        );
      }
      try {
        const { principal } = await auth.authenticate(header, request);
        return { name: principal.name, principal, via: 'basic', session: null, sessionId: null };
      } catch (e) {
        // Re-thrown without the /v2 challenge headers: a browser must not pop up a login dialog.
        if (e instanceof RegistryError && e.code === 'UNAUTHORIZED') throw notSignedIn(e.message);
        throw e;
      }
    }
    const id = request.cookies[SESSION_COOKIE];
    if (id === undefined || id === '') return anonymous();
    const session = await sessions.get(id);
    if (!session) return anonymous();
    // The user may have been disabled, deleted or given a new password since (also from the CLI).
    const user = await options.meta.getUser(session.user);
    if (!user || user.disabled || credentialOf(user.passwordHash) !== session.credential) {
      await sessions.delete(id);
      return anonymous();
    }
    return {
      name: session.user,
      principal: { kind: 'user', name: session.user },
      via: 'session',
      session,
      sessionId: id,
    };
  }

  async function isAdmin(caller: Caller): Promise<boolean> {
    if (caller.admin !== undefined) return caller.admin;
    caller.admin =
      caller.via === 'auth-off' ||
      (caller.via !== 'anonymous' && auth !== null && (await auth.isAdmin(caller.principal)));
    return caller.admin;
  }

  async function authorize(request: FastifyRequest, access: Access): Promise<Caller> {
    const caller = await identify(request);
    request.principal = caller.principal;
    if (access === 'public') return caller;
    if (caller.via === 'anonymous') throw notSignedIn('sign in first');
    if (caller.session && !SAFE_METHODS.has(request.method)) checkCsrf(request, caller.session);
    if (access === 'admin' && !(await isAdmin(caller)))
      throw denied('this needs the registry administrator');
    return caller;
  }

  function route<
    P extends TSchema = TUnknown,
    Q extends TSchema = TUnknown,
    B extends TSchema = TUnknown,
    R extends TSchema = TVoid,
  >(spec: RouteSpec<P, Q, B, R>): void {
    const status = spec.status ?? (spec.response ? 200 : 204);
    routes.push({
      method: spec.method,
      path: `${app.prefix}${spec.url}`,
      operationId: spec.operationId,
      summary: spec.summary,
      description: spec.description,
      tag: spec.tag,
      access: spec.access,
      params: spec.params,
      querystring: spec.querystring,
      body: spec.body,
      status,
      response: spec.response,
    });
    app.route({
      method: spec.method,
      url: spec.url,
      exposeHeadRoute: false,
      bodyLimit: BODY_LIMIT,
      schema: {
        ...(spec.params ? { params: spec.params } : {}),
        ...(spec.querystring ? { querystring: spec.querystring } : {}),
        ...(spec.body ? { body: spec.body } : {}),
        ...(spec.response ? { response: { [status]: spec.response } } : {}),
      },
      onRequest: async (request) => {
        callers.set(request, await authorize(request, spec.access));
      },
      handler: async (request, reply) => {
        const caller = callers.get(request);
        if (!caller) throw new RegistryError('UNKNOWN', 'request was not authorized');
        const result = await spec.handler({
          caller,
          request,
          reply,
          params: request.params,
          query: request.query,
          body: request.body,
        });
        if (reply.sent) return reply;
        if (!spec.response) return reply.code(204).send();
        return reply.code(status).send(result);
      },
    });
  }

  return {
    options,
    sessions,
    routes,

    route,

    isAdmin,

    async actions(caller, namespace) {
      if (caller.via === 'auth-off') return new Set(ALL_ACTIONS);
      if (!auth) return new Set();
      return auth.allowedActions(caller.principal, namespace);
    },

    actor(caller, request) {
      return { name: caller.name, client: request.ip };
    },

    record(caller, request, action, target, detail) {
      options.audit.record({
        actor: caller.name,
        action,
        target,
        outcome: 'success',
        client: request.ip,
        ...(detail ? { detail } : {}),
      });
    },
  };
}

/** CSRF: a cookie rides along on any request the browser makes; this header does not. */
export function checkCsrf(request: FastifyRequest, session: Session): void {
  const presented = request.headers[CSRF_HEADER];
  if (typeof presented !== 'string' || !tokensEqual(presented, session.csrfToken)) {
    throw denied(`a change made with a session cookie needs the ${CSRF_HEADER} header`);
  }
}

export function notSignedIn(message: string): RegistryError {
  return new RegistryError('UNAUTHORIZED', message);
}

export function denied(message: string): RegistryError {
  return new RegistryError('DENIED', message);
}

export function notFound(message: string): RegistryError {
  return new RegistryError('NOT_FOUND', message);
}

export function conflict(message: string): RegistryError {
  return new RegistryError('CONFLICT', message);
}

export function invalid(message: string, detail?: Record<string, unknown>): RegistryError {
  return new RegistryError('INVALID_REQUEST', message, detail);
}
