/**
 * @module http/v2
 * The `/v2` plugin: the distribution API and its token realm. Bodies are never parsed here: the
 * content-type parsers of this scope hand the raw request stream to the handlers, which stream
 * blobs to storage and read manifests with a hard cap. Every request is authenticated first, and
 * every route states the access it needs before its handler runs.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { RegistryError } from '../../core/errors.js';
import type { AuditLog } from '../../auth/audit.js';
import type { AuthService, Authentication } from '../../auth/service.js';
import { ANONYMOUS } from '../../auth/types.js';
import type { IdentityMeta } from '../../meta/identity.js';
import type { NamespaceRouter } from '../../federation/router.js';
import {
  createNsResolver,
  mirrorNamespaceOf,
  mirrorPullOnly,
  mirrorRepository,
} from '../../federation/mirror.js';
import type { Registry, RepositoryRef } from '../../registry/index.js';
import type { PullLog } from '../../registry/pull-log.js';
import {
  requireAccess,
  requireAuthenticated,
  requireCatalog,
  unauthorizedChallenge,
} from './access.js';
import * as h from './handlers.js';
import { parseV2Path, type V2Route } from './route.js';
import { externalBase as externalUrlOf } from '../external-url.js';
import { tokenGet, tokenPost } from './token.js';
import { queryValue } from './headers.js';

export interface V2Options {
  registry: Registry;
  maxManifestBytes: number;
  /** Null when authentication is off. */
  auth: AuthService | null;
  audit: AuditLog;
  meta: IdentityMeta;
  pulls: PullLog;
  router: NamespaceRouter;
  tokenTtlSeconds: number;
  /** Configured external URL (`https://host:port`), else derived from each request. */
  externalUrl: string | undefined;
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
const NO_AUTH: Authentication = { principal: ANONYMOUS, via: 'anonymous' };

// eslint-disable-next-line @typescript-eslint/require-await -- Fastify plugins are async by contract
export const v2Plugin: FastifyPluginAsync<V2Options> = async (app, options) => {
  app.removeAllContentTypeParsers();
  // Leave every body in request.raw for the handlers to stream.
  app.addContentTypeParser('*', (_request, _payload, done) => done(null));
  const ns = createNsResolver(options);

  /**
   * How the request's repository names become stored ones (federation/mirror.ts): prefixed on a
   * mirror listener, mapped by `?ns=` on the others, else as they are.
   */
  const namesFor = async (
    request: FastifyRequest,
    reply: FastifyReply,
    route: V2Route,
    mirror: string | undefined,
  ): Promise<(name: string) => RepositoryRef> => {
    if (mirror !== undefined) {
      if ('name' in route) mirrorPullOnly(request.method, mirror);
      return (name) => mirrorRepository(options.registry, mirror, name);
    }
    const host = queryValue(request.query, 'ns');
    if (host === undefined || !('name' in route) || !NS_HOST.test(host))
      return (name) => options.registry.repository(name);
    const mapped = await ns.resolve(host, route.name);
    if (mapped.echo) reply.header('OCI-Namespace', host);
    return () => options.registry.repository(mapped.name);
  };

  const handle = async (
    request: FastifyRequest,
    reply: FastifyReply,
    route: V2Route,
  ): Promise<void> => {
    const mirror = mirrorNamespaceOf(request.raw);
    // A mirror's clients get its own realm: a configured external URL names the main listener,
    // whose realm would not map their scopes.
    const externalBase = externalUrlOf(
      request,
      mirror === undefined ? options.externalUrl : undefined,
    );
    const { auth } = options;
    if (route.kind === 'token') {
      if (!auth)
        throw new RegistryError('UNSUPPORTED', 'authentication is off: there is no token realm');
      const tokenCtx = {
        auth,
        meta: options.meta,
        registry: options.registry,
        tokenTtlSeconds: options.tokenTtlSeconds,
        request,
        reply,
        mirror,
      };
      if (request.method === 'GET') return tokenGet(tokenCtx);
      if (request.method === 'POST') return tokenPost(tokenCtx);
      throw new RegistryError(
        'UNSUPPORTED',
        `${request.method} is not supported on the token endpoint`,
      );
    }
    const repository = await namesFor(request, reply, route, mirror);
    let authn = NO_AUTH;
    if (auth) {
      try {
        authn = await auth.authenticate(request.headers.authorization, request);
      } catch (e) {
        if (e instanceof RegistryError && e.code === 'UNAUTHORIZED') {
          const error = e.detail?.['error'] === 'invalid_token' ? 'invalid_token' : undefined;
          throw unauthorizedChallenge({ auth, externalBase }, e.message, undefined, error);
        }
        throw e;
      }
    }
    request.principal = authn.principal;
    const ctx: h.V2Context = {
      registry: options.registry,
      request,
      reply,
      maxManifestBytes: options.maxManifestBytes,
      auth,
      authn,
      externalBase,
      owner: authn.principal.name,
      audit: options.audit,
      pulls: options.pulls,
      router: options.router,
    };
    return dispatch(ctx, route, repository);
  };

  app.route({
    method: [...METHODS],
    url: '/v2/*',
    exposeHeadRoute: false,
    handler: (request, reply) => {
      const url = request.url;
      const q = url.indexOf('?');
      return handle(
        request,
        reply,
        parseV2Path((q === -1 ? url : url.slice(0, q)).slice('/v2/'.length)),
      );
    },
  });
  app.route({
    method: [...METHODS],
    url: '/v2',
    exposeHeadRoute: false,
    handler: (request, reply) => handle(request, reply, { kind: 'base' }),
  });
};

/** `?ns=` as containerd sends it: a host name or IP, maybe with a port; anything else is ignored. */
const NS_HOST = /^(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

async function dispatch(
  ctx: h.V2Context,
  route: V2Route,
  repository: (name: string) => RepositoryRef,
): Promise<void> {
  const method = ctx.request.method;
  switch (route.kind) {
    case 'base':
      if (method !== 'GET' && method !== 'HEAD') break;
      requireAuthenticated(ctx);
      ctx.reply.code(200).header('content-type', 'application/json');
      return ctx.reply.send(method === 'HEAD' ? undefined : '{}') as unknown as Promise<void>;
    case 'catalog':
      if (method !== 'GET') break;
      requireCatalog(ctx);
      return h.listCatalog(ctx);
    case 'tags': {
      if (method !== 'GET') break;
      const repo = repository(route.name);
      await requireAccess(ctx, repo, ['pull']);
      return h.listTags(ctx, repo);
    }
    case 'manifest': {
      const repo = repository(route.name);
      if (method === 'GET' || method === 'HEAD') {
        await requireAccess(ctx, repo, ['pull']);
        return h.getManifest(ctx, repo, route.reference);
      }
      if (method === 'PUT') {
        await requireAccess(ctx, repo, ['push']);
        return h.putManifest(ctx, await ctx.router.writeTarget(repo, 'push'), route.reference);
      }
      if (method === 'DELETE') {
        await requireAccess(ctx, repo, ['delete']);
        return h.deleteManifest(ctx, await ctx.router.writeTarget(repo, 'delete'), route.reference);
      }
      break;
    }
    case 'blob': {
      const repo = repository(route.name);
      if (method === 'GET' || method === 'HEAD') {
        await requireAccess(ctx, repo, ['pull']);
        return h.getBlob(ctx, repo, route.digest);
      }
      if (method === 'DELETE') {
        await requireAccess(ctx, repo, ['delete']);
        return h.deleteBlob(ctx, await ctx.router.writeTarget(repo, 'delete'), route.digest);
      }
      break;
    }
    case 'uploads': {
      if (method !== 'POST') break;
      const repo = repository(route.name);
      await requireAccess(ctx, repo, ['push']);
      return h.startUpload(ctx, await ctx.router.writeTarget(repo, 'push'));
    }
    case 'upload': {
      // Authorized when the session started and bound to its principal: the next requests of a
      // push only need to come from the same principal, even if its token no longer names the scope.
      requireAuthenticated(ctx);
      const repo = await ctx.router.writeTarget(repository(route.name), 'push');
      if (method === 'PATCH') return h.patchUpload(ctx, repo, route.id);
      if (method === 'PUT') return h.putUpload(ctx, repo, route.id);
      if (method === 'GET') return h.getUpload(ctx, repo, route.id);
      if (method === 'DELETE') return h.cancelUpload(ctx, repo, route.id);
      break;
    }
    case 'referrers': {
      if (method !== 'GET') break;
      const repo = repository(route.name);
      await requireAccess(ctx, repo, ['pull']);
      return h.listReferrers(ctx, repo, route.digest);
    }
    case 'token':
      break;
    case 'unknown':
      throw new RegistryError('NAME_INVALID', 'no such endpoint in the distribution API', {
        path: ctx.request.url.slice(0, 300),
      });
  }
  throw new RegistryError('UNSUPPORTED', `${method} is not supported on this endpoint`);
}
