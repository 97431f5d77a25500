/**
 * @module http/v2
 * The `/v2` plugin: the distribution API. Bodies are never parsed here: the content-type parsers
 * of this scope hand the raw request stream to the handlers, which stream blobs to storage and
 * read manifests with a hard cap.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { RegistryError } from '../../core/errors.js';
import type { Registry } from '../../registry/index.js';
import * as h from './handlers.js';
import { parseV2Path, type V2Route } from './route.js';

export interface V2Options {
  registry: Registry;
  maxManifestBytes: number;
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

// eslint-disable-next-line @typescript-eslint/require-await -- Fastify plugins are async by contract
export const v2Plugin: FastifyPluginAsync<V2Options> = async (app, options) => {
  app.removeAllContentTypeParsers();
  // Leave every body in request.raw for the handlers to stream.
  app.addContentTypeParser('*', (_request, _payload, done) => done(null));

  const context = (request: FastifyRequest, reply: FastifyReply): h.V2Context => ({
    registry: options.registry,
    request,
    reply,
    maxManifestBytes: options.maxManifestBytes,
  });
  app.route({
    method: [...METHODS],
    url: '/v2/*',
    exposeHeadRoute: false,
    handler: (request, reply) => {
      const url = request.url;
      const q = url.indexOf('?');
      const path = (q === -1 ? url : url.slice(0, q)).slice('/v2/'.length);
      return dispatch(context(request, reply), parseV2Path(path));
    },
  });
  app.route({
    method: [...METHODS],
    url: '/v2',
    exposeHeadRoute: false,
    handler: (request, reply) => dispatch(context(request, reply), { kind: 'base' }),
  });
};

async function dispatch(ctx: h.V2Context, route: V2Route): Promise<void> {
  const method = ctx.request.method;
  switch (route.kind) {
    case 'base':
      if (method !== 'GET' && method !== 'HEAD') break;
      ctx.reply.code(200).header('content-type', 'application/json');
      return ctx.reply.send(method === 'HEAD' ? undefined : '{}') as unknown as Promise<void>;
    case 'catalog':
      if (method === 'GET') return h.listCatalog(ctx);
      break;
    case 'tags':
      if (method === 'GET') return h.listTags(ctx, ctx.registry.repository(route.name));
      break;
    case 'manifest': {
      const repo = ctx.registry.repository(route.name);
      if (method === 'GET' || method === 'HEAD') return h.getManifest(ctx, repo, route.reference);
      if (method === 'PUT') return h.putManifest(ctx, repo, route.reference);
      if (method === 'DELETE') return h.deleteManifest(ctx, repo, route.reference);
      break;
    }
    case 'blob': {
      const repo = ctx.registry.repository(route.name);
      if (method === 'GET' || method === 'HEAD') return h.getBlob(ctx, repo, route.digest);
      if (method === 'DELETE') return h.deleteBlob(ctx, repo, route.digest);
      break;
    }
    case 'uploads':
      if (method === 'POST') return h.startUpload(ctx, ctx.registry.repository(route.name));
      break;
    case 'upload': {
      const repo = ctx.registry.repository(route.name);
      if (method === 'PATCH') return h.patchUpload(ctx, repo, route.id);
      if (method === 'PUT') return h.putUpload(ctx, repo, route.id);
      if (method === 'GET') return h.getUpload(ctx, repo, route.id);
      if (method === 'DELETE') return h.cancelUpload(ctx, repo, route.id);
      break;
    }
    case 'referrers':
      if (method === 'GET')
        return h.listReferrers(ctx, ctx.registry.repository(route.name), route.digest);
      break;
    case 'unknown':
      throw new RegistryError('NAME_INVALID', 'no such endpoint in the distribution API', {
        path: ctx.request.url.slice(0, 300),
      });
  }
  throw new RegistryError('UNSUPPORTED', `${method} is not supported on this endpoint`);
}
