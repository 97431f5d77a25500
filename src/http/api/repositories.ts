/**
 * @module http/api/repositories
 * Browsing stored content for the web UI: an overview, repositories, tags and manifest details,
 * and deleting a tag, a manifest or a whole repository. Everything is limited to the namespaces
 * the caller may pull from (anonymous callers see public namespaces); deleting needs `delete` on
 * the namespace.
 *
 * A repository name has slashes, so in a URL it is one percent-encoded segment
 * (`/repositories/library%2Fnginx/tags`); the router decodes it after matching.
 */
import { Type, type TSchema } from '@sinclair/typebox';
import { RegistryError } from '../../core/errors.js';
import type { Action } from '../../auth/types.js';
import { parseReadReference, type Reference } from '../../registry/manifests.js';
import type { RepositoryRef } from '../../registry/index.js';
import { denied, invalid, notFound, orderedActions, type Api, type Caller } from './context.js';
import { Action as ActionSchema } from './schemas.js';

const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
const Labels = Type.Record(Type.String(), Type.String());
const Actions = Type.Array(ActionSchema, { description: 'What the caller may do here' });
const Kind = Type.Union([Type.Literal('image'), Type.Literal('index'), Type.Literal('artifact')]);
const Platform = Type.Object({
  os: Type.String(),
  architecture: Type.String(),
  variant: Nullable(Type.String()),
});

const RepoParams = Type.Object({ name: Type.String({ minLength: 1, maxLength: 4096 }) });
const ReferenceParams = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 4096 }),
  reference: Type.String({ minLength: 1, maxLength: 1024 }),
});
const TagParams = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 4096 }),
  tag: Type.String({ minLength: 1, maxLength: 128 }),
});
const Paging = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
  offset: Type.Optional(Type.Integer({ minimum: 0, default: 0 })),
};
const RepositoryQuery = Type.Object(
  {
    q: Type.Optional(Type.String({ maxLength: 255, description: 'Part of the name' })),
    namespace: Type.Optional(Type.String({ maxLength: 255 })),
    ...Paging,
  },
  { additionalProperties: false },
);
const TagQuery = Type.Object(
  { q: Type.Optional(Type.String({ maxLength: 128, description: 'Part of the tag' })), ...Paging },
  { additionalProperties: false },
);

const Repository = Type.Object({
  name: Type.String(),
  namespace: Type.String(),
  tags: Type.Integer(),
  manifests: Type.Integer(),
  createdAt: Type.String(),
  updatedAt: Type.String(),
  actions: Actions,
});
const RepositoryPage = Type.Object({ items: Type.Array(Repository), total: Type.Integer() });

const Tag = Type.Object({
  name: Type.String(),
  digest: Type.String(),
  mediaType: Type.String(),
  kind: Kind,
  artifactType: Nullable(Type.String()),
  size: Type.Integer({ description: 'Manifest, config and layers (shared layers once)' }),
  pushedAt: Type.String(),
  pushedBy: Nullable(Type.String()),
  platforms: Type.Array(Type.Object({ ...Platform.properties, digest: Type.String() })),
});
const TagPage = Type.Object({ items: Type.Array(Tag), total: Type.Integer() });

const Descriptor = Type.Object({
  digest: Type.String(),
  mediaType: Type.String(),
  size: Type.Integer(),
  artifactType: Nullable(Type.String()),
  annotations: Nullable(Labels),
  platform: Nullable(Platform),
});
const ImageConfig = Type.Object({
  digest: Type.String(),
  mediaType: Type.String(),
  size: Type.Integer(),
  created: Nullable(Type.String()),
  author: Nullable(Type.String()),
  os: Nullable(Type.String()),
  architecture: Nullable(Type.String()),
  variant: Nullable(Type.String()),
  env: Type.Array(Type.String()),
  entrypoint: Nullable(Type.Array(Type.String())),
  cmd: Nullable(Type.Array(Type.String())),
  workingDir: Nullable(Type.String()),
  user: Nullable(Type.String()),
  exposedPorts: Type.Array(Type.String()),
  labels: Labels,
  history: Type.Array(
    Type.Object({
      created: Nullable(Type.String()),
      createdBy: Nullable(Type.String()),
      comment: Nullable(Type.String()),
      emptyLayer: Type.Boolean(),
    }),
  ),
});
const Manifest = Type.Object({
  repository: Type.String(),
  digest: Type.String(),
  mediaType: Type.String(),
  kind: Kind,
  artifactType: Nullable(Type.String()),
  size: Type.Integer({ description: 'Of the manifest itself' }),
  totalSize: Type.Integer({ description: 'Manifest, config and layers (children of an index)' }),
  pushedAt: Type.String(),
  pushedBy: Nullable(Type.String()),
  tags: Type.Array(Type.String()),
  annotations: Nullable(Labels),
  subject: Nullable(
    Type.Object({ digest: Type.String(), mediaType: Type.String(), size: Type.Integer() }),
  ),
  layers: Type.Array(Descriptor),
  config: Nullable(ImageConfig),
  manifests: Type.Array(Descriptor, { description: 'The children of an index' }),
  referrers: Type.Array(
    Type.Object({
      digest: Type.String(),
      mediaType: Type.String(),
      artifactType: Nullable(Type.String()),
      size: Type.Integer(),
      annotations: Nullable(Labels),
      createdAt: Type.String(),
    }),
  ),
  actions: Actions,
});

const Overview = Type.Object({
  namespaces: Type.Integer(),
  repositories: Type.Integer(),
  tags: Type.Integer(),
  manifests: Type.Integer(),
  storage: Type.Object({ blobs: Type.Integer(), bytes: Type.Integer() }),
  byNamespace: Type.Array(
    Type.Object({
      namespace: Type.String(),
      repositories: Type.Integer(),
      tags: Type.Integer(),
      manifests: Type.Integer(),
      blobs: Type.Integer(),
      bytes: Type.Integer(),
    }),
  ),
  recentPushes: Type.Array(
    Type.Object({
      repository: Type.String(),
      tag: Type.String(),
      digest: Type.String(),
      pushedAt: Type.String(),
      pushedBy: Nullable(Type.String()),
    }),
  ),
});

export function registerRepositoryRoutes(api: Api): void {
  const { registry } = api.options;

  async function actionsIn(caller: Caller, namespace: string): Promise<Action[]> {
    return orderedActions(await api.actions(caller, namespace));
  }

  /** The namespaces the caller may pull from. */
  async function visibleNamespaces(caller: Caller): Promise<string[]> {
    const names: string[] = [];
    for (const ns of await registry.namespaces.list()) {
      if ((await api.actions(caller, ns.name)).has('pull')) names.push(ns.name);
    }
    return names;
  }

  /** The repository, if the caller may pull from it; permission first, so nothing leaks. */
  async function openRepository(
    caller: Caller,
    name: string,
    need: Action = 'pull',
  ): Promise<{ repo: RepositoryRef; actions: Action[] }> {
    let repo: RepositoryRef;
    try {
      repo = registry.repository(name);
    } catch (e) {
      if (!(e instanceof RegistryError)) throw e;
      // A stored name that today's checks refuse (an older version wrote it) can still be seen
      // and deleted here, or nothing could ever remove it. Looked up only for a caller who may
      // see its namespace, so the answer tells no one else whether it exists.
      const namespace = name.split('/', 1)[0] ?? '';
      const stored = (await api.actions(caller, namespace)).has(need)
        ? await registry.repositories.stored(name)
        : null;
      if (!stored) throw invalid(e.message);
      repo = stored;
    }
    const actions = await actionsIn(caller, repo.namespace);
    if (!actions.includes(need)) {
      throw need === 'pull'
        ? denied(`you may not see repository "${repo.name}"`)
        : denied(`deleting in namespace "${repo.namespace}" needs the ${need} action`);
    }
    return { repo, actions };
  }

  function reference(value: string): Reference {
    try {
      return parseReadReference(value);
    } catch (e) {
      if (e instanceof RegistryError) throw notFound(`no manifest "${value.slice(0, 200)}"`);
      throw e;
    }
  }

  /**
   * The domain's MANIFEST_UNKNOWN is the API's NOT_FOUND, and its REFERENCED (a child of an index)
   * the API's CONFLICT, with the message that names the index.
   */
  async function found<T>(run: () => Promise<T>, what: string): Promise<T> {
    try {
      return await run();
    } catch (e) {
      if (e instanceof RegistryError && e.code === 'MANIFEST_UNKNOWN') throw notFound(what);
      if (e instanceof RegistryError && e.code === 'REFERENCED')
        throw new RegistryError('CONFLICT', e.message, e.detail);
      throw e;
    }
  }

  api.route({
    method: 'GET',
    url: '/overview',
    operationId: 'getOverview',
    summary: 'Counts, storage used per namespace and the newest pushes, over visible namespaces',
    tag: 'repositories',
    access: 'public',
    response: Overview,
    handler: async ({ caller }) => {
      const namespaces = await visibleNamespaces(caller);
      return registry.browse.overview(namespaces, await api.isAdmin(caller));
    },
  });

  api.route({
    method: 'GET',
    url: '/repositories',
    operationId: 'listRepositories',
    summary: 'Repositories the caller may pull from, by name, with search and paging',
    tag: 'repositories',
    access: 'public',
    querystring: RepositoryQuery,
    response: RepositoryPage,
    handler: async ({ caller, query }) => {
      let namespaces = await visibleNamespaces(caller);
      if (query.namespace !== undefined)
        namespaces = namespaces.filter((n) => n === query.namespace);
      const page = await registry.browse.repositories({
        namespaces,
        query: query.q,
        limit: query.limit ?? 50,
        offset: query.offset ?? 0,
      });
      const actions = new Map<string, Action[]>();
      const items = [];
      for (const r of page.items) {
        if (!actions.has(r.namespace))
          actions.set(r.namespace, await actionsIn(caller, r.namespace));
        items.push({ ...r, actions: actions.get(r.namespace) ?? [] });
      }
      return { items, total: page.total };
    },
  });

  api.route({
    method: 'GET',
    url: '/repositories/:name',
    operationId: 'getRepository',
    summary: 'One repository (the name percent-encoded as one segment)',
    tag: 'repositories',
    access: 'public',
    params: RepoParams,
    response: Repository,
    handler: async ({ caller, params }) => {
      const { repo, actions } = await openRepository(caller, params.name);
      const summary = await registry.browse.repository(repo.name);
      if (!summary) throw notFound(`repository "${repo.name}" does not exist`);
      return { ...summary, actions };
    },
  });

  api.route({
    method: 'DELETE',
    url: '/repositories/:name',
    operationId: 'deleteRepository',
    summary:
      'Delete a repository with its tags, manifests, blob links and upload sessions (blobs stay for GC)',
    tag: 'repositories',
    access: 'signed-in',
    params: RepoParams,
    handler: async ({ caller, request, params }) => {
      const { repo } = await openRepository(caller, params.name, 'delete');
      if (!(await registry.repositories.delete(repo)))
        throw notFound(`repository "${repo.name}" does not exist`);
      api.record(caller, request, 'delete', repo.name);
    },
  });

  api.route({
    method: 'GET',
    url: '/repositories/:name/tags',
    operationId: 'listRepositoryTags',
    summary: "A repository's tags, newest first, with size, platforms and who pushed them",
    tag: 'repositories',
    access: 'public',
    params: RepoParams,
    querystring: TagQuery,
    response: TagPage,
    handler: async ({ caller, params, query }) => {
      const { repo } = await openRepository(caller, params.name);
      return registry.browse.tags(repo, {
        query: query.q,
        limit: query.limit ?? 50,
        offset: query.offset ?? 0,
      });
    },
  });

  api.route({
    method: 'GET',
    url: '/repositories/:name/manifests/:reference',
    operationId: 'getManifestDetail',
    summary: 'A manifest by tag or digest: layers, image configuration, history, referrers',
    tag: 'repositories',
    access: 'public',
    params: ReferenceParams,
    response: Manifest,
    handler: async ({ caller, params }) => {
      const { repo, actions } = await openRepository(caller, params.name);
      const detail = await found(
        () => registry.browse.manifest(repo, reference(params.reference)),
        `no manifest "${params.reference}" in ${repo.name}`,
      );
      return { repository: repo.name, ...detail, actions };
    },
  });

  api.route({
    method: 'DELETE',
    url: '/repositories/:name/tags/:tag',
    operationId: 'deleteTag',
    summary: 'Delete a tag (the manifest stays, reachable by digest)',
    tag: 'repositories',
    access: 'signed-in',
    params: TagParams,
    handler: async ({ caller, request, params }) => {
      const { repo } = await openRepository(caller, params.name, 'delete');
      const ref = reference(params.tag);
      if (ref.kind !== 'tag') throw invalid('a tag, not a digest: delete manifests by digest');
      await found(
        () => registry.manifests.delete(repo, ref),
        `no tag "${params.tag}" in ${repo.name}`,
      );
      api.record(caller, request, 'delete', `${repo.name}:${params.tag}`);
    },
  });

  api.route({
    method: 'DELETE',
    url: '/repositories/:name/manifests/:reference',
    operationId: 'deleteManifest',
    summary: 'Delete a manifest by digest, and every tag that points at it',
    tag: 'repositories',
    access: 'signed-in',
    params: ReferenceParams,
    handler: async ({ caller, request, params }) => {
      const { repo } = await openRepository(caller, params.name, 'delete');
      const ref = reference(params.reference);
      if (ref.kind !== 'digest') throw invalid('a digest, not a tag: delete tags by tag');
      await found(
        () => registry.manifests.delete(repo, ref),
        `no manifest "${params.reference}" in ${repo.name}`,
      );
      api.record(caller, request, 'delete', `${repo.name}@${ref.digest}`);
    },
  });
}
