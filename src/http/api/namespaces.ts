/**
 * @module http/api/namespaces
 * Namespaces: everyone signed in sees those they may pull from, with repository counts and what
 * they may do there. Creating, publishing and deleting a namespace needs `admin` on it (the
 * registry administrator has that everywhere; a team lead may hold it on `team-*`).
 */
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import { RegistryError } from '../../core/errors.js';
import { auditedProxyChange, federationView } from '../../core/federation-view.js';
import type { NamespaceRow } from '../../meta/store.js';
import {
  conflict,
  denied,
  invalid,
  notFound,
  orderedActions,
  type Api,
  type Caller,
} from './context.js';
import { Namespace, NameParams, Retention } from './schemas.js';

const NamespaceList = Type.Object({ items: Type.Array(Namespace) });

const UpstreamUrl = Type.String({
  minLength: 1,
  maxLength: 2048,
  description: "The upstream registry's origin, e.g. https://registry-1.docker.io",
});
const UpstreamPassword = Type.String({
  minLength: 1,
  maxLength: 4096,
  description: 'Stored for the upstream, never shown or audited',
});
const ProxyTtl = Type.String({
  minLength: 1,
  maxLength: 50,
  description: 'How long a cached tag is served before the upstream is asked again (default 6h)',
});
const GroupMembers = Type.Array(Type.String({ minLength: 1, maxLength: 255 }), {
  minItems: 1,
  maxItems: 100,
  description: 'Hosted or proxy namespaces, pulled from in this order',
});
// Null first: with type coercion on, a string branch tried first would turn null into "".
const PushTo = Type.Union([Type.Null(), Type.String({ minLength: 1, maxLength: 255 })], {
  description: 'The hosted member that takes pushes through the group; null refuses them',
});

const NewNamespace = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 255 }),
    public: Type.Optional(Type.Boolean({ description: 'Anonymous pull (default false)' })),
    proxy: Type.Optional(
      Type.Object(
        {
          url: UpstreamUrl,
          username: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
          password: Type.Optional(UpstreamPassword),
          ttl: Type.Optional(ProxyTtl),
        },
        { additionalProperties: false, description: 'Makes it a pull-through cache' },
      ),
    ),
    group: Type.Optional(
      Type.Object(
        { members: GroupMembers, pushTo: Type.Optional(PushTo) },
        { additionalProperties: false, description: 'Makes it a group (not with proxy)' },
      ),
    ),
  },
  { additionalProperties: false },
);
const NamespacePatch = Type.Object(
  {
    public: Type.Optional(Type.Boolean({ description: 'Anonymous pull' })),
    immutableTags: Type.Optional(
      Type.Array(Type.String({ maxLength: 128 }), {
        maxItems: 100,
        description:
          'Tag globs (`*`, `?`): a matching tag cannot be moved to another digest or deleted (403 DENIED); [] clears',
      }),
    ),
    indexChildren: Type.Optional(
      // Null first: with type coercion on, a string branch tried first would turn null into "".
      Type.Union([Type.Null(), Type.String({ maxLength: 1000 })], {
        description:
          'Which children of a pushed index must exist: `all`, `none` or platforms (`linux/amd64,linux/arm64`); null inherits `manifests.indexChildren`',
      }),
    ),
    quotaBytes: Type.Optional(
      // One JSON Schema type list, not a union: with Fastify's type coercion a union's null
      // branch would take 0 for null (no limit instead of nothing more).
      Type.Unsafe<number | null>({
        type: ['integer', 'null'],
        minimum: 0,
        maximum: Number.MAX_SAFE_INTEGER,
        description:
          'Bytes the distinct blobs of the namespace may take; a push that would exceed it is refused (403 DENIED); null removes the limit',
      }),
    ),
    retention: Type.Optional(
      // Not `additionalProperties: false`: Fastify's Ajv would drop a misspelt rule quietly
      // (removeAdditional); validateRetention refuses it by name instead.
      Type.Union([Type.Null(), Type.Object(Retention.properties)], {
        description:
          'Which tags retention keeps and when untagged manifests go; null removes the policy',
      }),
    ),
    proxy: Type.Optional(
      Type.Object(
        {
          url: Type.Optional(UpstreamUrl),
          username: Type.Optional(
            Type.Union([Type.Null(), Type.String({ minLength: 1, maxLength: 255 })], {
              description: 'null drops the credentials (pulls anonymously)',
            }),
          ),
          password: Type.Optional(UpstreamPassword),
          ttl: Type.Optional(ProxyTtl),
        },
        {
          additionalProperties: false,
          minProperties: 1,
          description: "A proxy's upstream settings; absent fields stay",
        },
      ),
    ),
    group: Type.Optional(
      Type.Object(
        { members: Type.Optional(GroupMembers), pushTo: Type.Optional(PushTo) },
        {
          additionalProperties: false,
          minProperties: 1,
          description: "A group's members or push member; absent fields stay",
        },
      ),
    ),
  },
  { additionalProperties: false, minProperties: 1 },
);
const DeleteQuery = Type.Object(
  {
    force: Type.Optional(
      Type.Boolean({ description: 'Also delete its repositories, tags and manifests' }),
    ),
  },
  { additionalProperties: false },
);

export function registerNamespaceRoutes(api: Api): void {
  const { registry, router } = api.options;
  const namespaces = registry.namespaces;

  async function view(
    caller: Caller,
    row: NamespaceRow,
    repositories: number,
    usedBytes: number,
  ): Promise<typeof Namespace.static> {
    const actions = await api.actions(caller, row.name);
    const { kind, proxy, group } = federationView(row.federation);
    const health = proxy && (await router.upstreamHealth(row.name));
    return {
      name: row.name,
      kind,
      // A proxy this process has not asked yet has no health to show.
      proxy: proxy && {
        ...proxy,
        health: health ?? { lastSuccessAt: null, lastFailureAt: null, lastFailure: null },
      },
      group,
      public: row.public,
      createdAt: row.createdAt,
      immutableTags: row.immutableTags,
      indexChildren: row.indexChildren,
      quotaBytes: row.quotaBytes,
      usedBytes,
      retention: row.retention,
      repositories,
      actions: orderedActions(actions),
    };
  }

  async function find(
    name: string,
  ): Promise<{ row: NamespaceRow; repositories: number; usedBytes: number }> {
    const row = (await namespaces.list()).find((n) => n.name === name);
    if (!row) throw notFound(`namespace "${name}" does not exist`);
    return { row, repositories: row.repositories, usedBytes: await registry.quota.usedBytes(name) };
  }

  async function requireAdmin(caller: Caller, name: string): Promise<void> {
    if (!(await api.actions(caller, name)).has('admin'))
      throw denied(`changing namespace "${name}" needs the admin action on it`);
  }

  /**
   * Whoever may pull from a group reads its members' content, and pushes through it land in its
   * push member: so naming a namespace there needs admin on it too, or a team lead could expose
   * another team's images through a group of their own (and make it public).
   */
  async function requireAdminOnMembers(
    caller: Caller,
    group: { members?: readonly string[]; pushTo?: string | null },
  ): Promise<void> {
    const named = [...(group.members ?? []), ...(group.pushTo ? [group.pushTo] : [])];
    for (const member of new Set(named)) {
      if (!(await api.actions(caller, member)).has('admin'))
        throw denied(`a group member needs the admin action on it, and you lack it on "${member}"`);
    }
  }

  /**
   * A proxy makes this server send requests wherever its URL says, with credentials it is given:
   * only the registry administrator may point one somewhere, or a team lead with admin on
   * `team-*` could reach addresses inside the network through Berth (server-side request forgery).
   */
  async function requireRegistryAdminForProxy(caller: Caller, proxy: unknown): Promise<void> {
    if (proxy !== undefined && !(await api.isAdmin(caller)))
      throw denied(
        'setting up a proxy namespace (its upstream URL and credentials) needs the registry administrator',
      );
  }

  function audit(
    caller: Caller,
    request: FastifyRequest,
    action: string,
    name: string,
    detail?: Record<string, unknown>,
  ): void {
    api.record(caller, request, `namespace.${action}`, name, detail);
  }

  api.route({
    method: 'GET',
    url: '/namespaces',
    operationId: 'listNamespaces',
    summary: 'Namespaces the caller may pull from, with repository counts',
    tag: 'namespaces',
    access: 'signed-in',
    response: NamespaceList,
    handler: async ({ caller }) => {
      const items = [];
      const used = await registry.quota.usedBytesByNamespace();
      for (const ns of await namespaces.list()) {
        const v = await view(caller, ns, ns.repositories, used.get(ns.name) ?? 0);
        if (v.actions.includes('pull')) items.push(v);
      }
      return { items };
    },
  });

  api.route({
    method: 'GET',
    url: '/namespaces/:name',
    operationId: 'getNamespace',
    summary: 'One namespace (needs pull on it)',
    tag: 'namespaces',
    access: 'signed-in',
    params: NameParams,
    response: Namespace,
    handler: async ({ caller, params }) => {
      if (!(await api.actions(caller, params.name)).has('pull'))
        throw denied(`you may not see namespace "${params.name}"`);
      const { row, repositories, usedBytes } = await find(params.name);
      return view(caller, row, repositories, usedBytes);
    },
  });

  api.route({
    method: 'POST',
    url: '/namespaces',
    operationId: 'createNamespace',
    summary: 'Create a namespace',
    tag: 'namespaces',
    access: 'signed-in',
    body: NewNamespace,
    status: 201,
    response: Namespace,
    handler: async ({ caller, request, body }) => {
      await requireAdmin(caller, body.name);
      await requireRegistryAdminForProxy(caller, body.proxy);
      if (body.group) await requireAdminOnMembers(caller, body.group);
      if (await namespaces.get(body.name))
        throw conflict(`namespace "${body.name}" already exists`);
      const isPublic = body.public ?? false;
      const { proxy, group } = body;
      const row = await domain(() =>
        namespaces.create(body.name, {
          public: isPublic,
          ...(proxy && { proxy }),
          ...(group && { group }),
        }),
      );
      audit(caller, request, 'create', row.name, {
        public: row.public,
        ...auditedFederation(row),
      });
      return view(caller, row, 0, 0);
    },
  });

  api.route({
    method: 'PATCH',
    url: '/namespaces/:name',
    operationId: 'updateNamespace',
    summary:
      "Change a namespace: public or private, immutable tags, which index children must exist, quota, retention, a proxy's upstream, a group's members",
    tag: 'namespaces',
    access: 'signed-in',
    params: NameParams,
    body: NamespacePatch,
    response: Namespace,
    handler: async ({ caller, request, params, body }) => {
      await requireAdmin(caller, params.name);
      const { public: isPublic, immutableTags, indexChildren, quotaBytes, retention } = body;
      const { proxy, group } = body;
      await requireRegistryAdminForProxy(caller, proxy);
      if (group) await requireAdminOnMembers(caller, group);
      // Federation first: its checks (the namespace's kind, members that exist) are the likelier
      // to refuse, and a refusal there changes nothing.
      if (proxy || group)
        await domain(() =>
          namespaces.updateFederation(params.name, {
            ...(proxy && { proxy }),
            ...(group && { group }),
          }),
        );
      // The rules are validated before they are written, so a bad pattern changes none of them.
      await domain(() =>
        namespaces.setPolicy(params.name, {
          ...(immutableTags !== undefined && { immutableTags }),
          ...(indexChildren !== undefined && { indexChildren }),
          ...(quotaBytes !== undefined && { quotaBytes }),
          ...(retention !== undefined && { retention }),
        }),
      );
      if (isPublic !== undefined) await domain(() => namespaces.setPublic(params.name, isPublic));
      audit(caller, request, 'update', params.name, {
        ...body,
        ...(proxy && { proxy: auditedProxyChange(proxy) }),
      });
      const { row, repositories, usedBytes } = await find(params.name);
      return view(caller, row, repositories, usedBytes);
    },
  });

  api.route({
    method: 'DELETE',
    url: '/namespaces/:name',
    operationId: 'deleteNamespace',
    summary: 'Delete a namespace (409 while it has repositories, unless force=true)',
    tag: 'namespaces',
    access: 'signed-in',
    params: NameParams,
    querystring: DeleteQuery,
    handler: async ({ caller, request, params, query }) => {
      await requireAdmin(caller, params.name);
      const force = query.force ?? false;
      await domain(
        () => namespaces.delete(params.name, { force }),
        `namespace "${params.name}" still has repositories; delete them first or pass force=true`,
      );
      audit(caller, request, 'delete', params.name, { force });
    },
  });
}

/** A new namespace's kind and settings for the audit log (never the upstream password). */
function auditedFederation(row: NamespaceRow): Record<string, unknown> {
  const { kind, proxy, group } = federationView(row.federation);
  return { kind, ...(proxy && { proxy }), ...(group && { group }) };
}

/**
 * The namespace service speaks the /v2 vocabulary (NAME_INVALID, NAME_UNKNOWN, DENIED for
 * "exists" and "not empty"); the admin API answers with its own codes.
 */
async function domain<T>(run: () => Promise<T>, conflictMessage?: string): Promise<T> {
  try {
    return await run();
  } catch (e) {
    if (!(e instanceof RegistryError)) throw e;
    const detail = e.detail ? { ...e.detail } : undefined;
    if (e.code === 'NAME_INVALID') throw invalid(e.message, detail);
    if (e.code === 'NAME_UNKNOWN') throw notFound(e.message);
    // The CLI's wording ("use --force") becomes the API's ("pass force=true").
    const notEmpty = e.detail?.['reason'] === 'not-empty';
    if (e.code === 'DENIED') throw conflict((notEmpty ? conflictMessage : undefined) ?? e.message);
    throw e;
  }
}
