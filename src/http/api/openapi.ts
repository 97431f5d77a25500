/**
 * @module http/api/openapi
 * The OpenAPI 3.1 document of the admin API, built from the route table: the same TypeBox schemas
 * that validate requests describe them here, so the document cannot drift from the code. OpenAPI
 * 3.1 takes JSON Schema as is.
 */
import type { TSchema } from '@sinclair/typebox';
import { Type } from '@sinclair/typebox';
import { CSRF_HEADER, SESSION_COOKIE, type Api, type RouteRecord } from './context.js';
import { ErrorBody } from './schemas.js';

const DESCRIPTION = [
  'Administration of a Berth registry: users, roles and bindings, namespaces, repositories, tags',
  'and manifests (browse and delete), access tokens, the audit log and the system summary.',
  'A manifest that an index of its repository lists cannot be deleted (409) until the index is.',
  'A tag matching an immutable-tag rule of its namespace (`PATCH /namespaces/{name}`) cannot be',
  'deleted, nor can its manifest or repository (403 DENIED, the message names the rule).',
  'A namespace may have a quota (`quotaBytes`): a push that would make it hold more is refused',
  '(403 DENIED, "quota exceeded: namespace team uses 9.8 GiB of 10 GiB"); `usedBytes` is what it holds.',
  '',
  'A repository name is one path segment, percent-encoded: `/repositories/library%2Fnginx/tags`.',
  'Content routes answer anonymous callers too, limited to public namespaces.',
  '',
  'Authenticate with Basic credentials (a user name and password, or any user name with an access',
  'token as the password) or with the session cookie set by `POST /api/v1/session`. Requests that',
  `change something with a session cookie must send the session's CSRF token in \`${CSRF_HEADER}\`.`,
  'Registry bearer tokens (from /v2/token) are not accepted.',
  '',
  'When authentication is off (`berth serve --no-auth`), every request acts as the administrator',
  '`admin` and needs no credentials.',
  '',
  'Errors are `{"errors":[{"code","message","detail"}]}`: 400 INVALID_REQUEST, 401 UNAUTHORIZED,',
  '403 DENIED, 404 NOT_FOUND, 409 CONFLICT, 413 SIZE_INVALID, 429 TOOMANYREQUESTS.',
].join('\n');

interface ObjectSchema {
  properties?: Record<string, TSchema>;
  required?: string[];
}

export function registerOpenApiRoute(api: Api): void {
  let document: unknown;
  api.route({
    method: 'GET',
    url: '/openapi.json',
    operationId: 'openapi',
    summary: 'This document',
    tag: 'meta',
    access: 'public',
    response: Type.Object({}, { additionalProperties: true }),
    // eslint-disable-next-line @typescript-eslint/require-await -- handlers are async by contract
    handler: async () => {
      // Built on first use, when every route is registered.
      document ??= buildOpenApi(api.routes, api.options.system.version);
      return document as Record<string, unknown>;
    },
  });
}

export function buildOpenApi(routes: readonly RouteRecord[], version: string): unknown {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const path = route.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    paths[path] ??= {};
    paths[path][route.method.toLowerCase()] = operation(route);
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Berth admin API', version, description: DESCRIPTION },
    tags: [...new Set(routes.map((r) => r.tag))].map((name) => ({ name })),
    paths,
    components: {
      securitySchemes: {
        basic: {
          type: 'http',
          scheme: 'basic',
          description: 'A password, or an access token as the password',
        },
        session: {
          type: 'apiKey',
          in: 'cookie',
          name: SESSION_COOKIE,
          description: `From POST /api/v1/session; changes also need the ${CSRF_HEADER} header`,
        },
      },
      schemas: { Error: ErrorBody },
    },
  };
}

function operation(route: RouteRecord): Record<string, unknown> {
  const changes = route.method !== 'GET';
  const parameters = [
    ...parametersOf(route.params, 'path'),
    ...parametersOf(route.querystring, 'query'),
    ...(changes && route.access !== 'public'
      ? [
          {
            name: CSRF_HEADER,
            in: 'header',
            required: false,
            description: 'Required when authenticated by the session cookie',
            schema: { type: 'string' },
          },
        ]
      : []),
  ];
  const success =
    route.response === undefined
      ? { description: 'Done (no content)' }
      : { description: 'OK', content: { 'application/json': { schema: route.response } } };
  return {
    operationId: route.operationId,
    summary: route.summary,
    ...(route.description !== undefined ? { description: route.description } : {}),
    tags: [route.tag],
    'x-berth-access': route.access,
    security: route.access === 'public' ? [] : [{ basic: [] }, { session: [] }],
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(route.body
      ? { requestBody: { required: true, content: { 'application/json': { schema: route.body } } } }
      : {}),
    responses: {
      [String(route.status)]: success,
      '4XX': {
        description: 'Refused (see the error code)',
        content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
      },
    },
  };
}

function parametersOf(schema: TSchema | undefined, where: 'path' | 'query'): unknown[] {
  if (!schema) return [];
  const object = schema as ObjectSchema;
  const required = new Set(object.required ?? []);
  return Object.entries(object.properties ?? {}).map(([name, property]) => ({
    name,
    in: where,
    required: where === 'path' || required.has(name),
    schema: property,
    ...(typeof property.description === 'string' ? { description: property.description } : {}),
  }));
}
