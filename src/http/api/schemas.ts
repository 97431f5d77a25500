/**
 * @module http/api/schemas
 * TypeBox schemas shared by several admin API modules. They validate requests (Fastify's Ajv),
 * shape responses (fast-json-stringify drops any property a schema does not name, so a new field
 * on a service object never leaks by accident) and become the OpenAPI document.
 */
import { Type } from '@sinclair/typebox';

export const Action = Type.Union(
  [Type.Literal('pull'), Type.Literal('push'), Type.Literal('delete'), Type.Literal('admin')],
  { description: '`admin` implies pull, push and delete' },
);

export const Privilege = Type.Object(
  {
    pattern: Type.String({
      minLength: 1,
      maxLength: 256,
      description: 'Namespace pattern: `*`, a namespace, or a prefix ending in `*`',
    }),
    actions: Type.Array(Action, { minItems: 1, maxItems: 4 }),
  },
  { additionalProperties: false },
);

export const RoleBinding = Type.Object(
  {
    role: Type.String({ minLength: 1, maxLength: 64 }),
    namespace: Type.Union([Type.String({ maxLength: 255 }), Type.Null()], {
      description: 'null binds the role everywhere',
    }),
  },
  { additionalProperties: false },
);

export const RoleBindingInput = Type.Object(
  {
    role: Type.String({ minLength: 1, maxLength: 64 }),
    namespace: Type.Optional(Type.Union([Type.String({ maxLength: 255 }), Type.Null()])),
  },
  { additionalProperties: false },
);

export const User = Type.Object({
  name: Type.String(),
  disabled: Type.Boolean(),
  createdAt: Type.String(),
  updatedAt: Type.String(),
  roles: Type.Array(RoleBinding),
});

export const UserName = Type.String({ minLength: 1, maxLength: 64 });
export const Password = Type.String({ minLength: 1, maxLength: 1024 });

export const Role = Type.Object({
  name: Type.String(),
  description: Type.String(),
  builtin: Type.Boolean(),
  privileges: Type.Array(Privilege),
});

export const AccessToken = Type.Object({
  id: Type.String(),
  user: Type.String(),
  name: Type.String(),
  privileges: Type.Array(Privilege, {
    description:
      'What the token can do now: its own privileges narrowed by its user’s current ones (none while the user is disabled)',
  }),
  expiresAt: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String(),
  lastUsedAt: Type.Union([Type.String(), Type.Null()]),
  revokedAt: Type.Union([Type.String(), Type.Null()]),
});

/** A namespace's retention policy (core/retention-policy.ts); at least one rule. */
export const Retention = Type.Object(
  {
    keepLast: Type.Optional(
      Type.Integer({ description: 'Keep the N most recently pushed tags of each repository' }),
    ),
    keepDays: Type.Optional(
      Type.Integer({
        description: 'Keep tags pushed, or whose manifest was pulled, within N days',
      }),
    ),
    keepTags: Type.Optional(
      Type.String({ description: 'Keep tags matching this regular expression (unanchored)' }),
    ),
    untaggedDays: Type.Optional(
      Type.Integer({
        description: 'Collect untagged manifests N days after they lost their last tag (0: never)',
      }),
    ),
  },
  {
    additionalProperties: false,
    description: 'Tags are kept when any keep rule matches; without a keep rule no tag is removed',
  },
);

/** When this server process last heard from a proxy's upstream (kept in memory, not stored). */
export const UpstreamHealth = Type.Object({
  lastSuccessAt: Type.Union([Type.String(), Type.Null()], {
    description: 'The last answer that was not 429 or 5xx (a 404 counts: the upstream works)',
  }),
  lastFailureAt: Type.Union([Type.String(), Type.Null()]),
  lastFailure: Type.Union([Type.String(), Type.Null()], {
    description: 'What went wrong then: unreachable, timed out, 5xx, 429, refused credentials',
  }),
});

export const Namespace = Type.Object({
  name: Type.String(),
  kind: Type.Union([Type.Literal('hosted'), Type.Literal('proxy'), Type.Literal('group')], {
    description:
      '`hosted`: pushed here; `proxy`: a pull-through cache of an upstream; `group`: members pulled from in order',
  }),
  proxy: Type.Union(
    [
      Type.Object({
        url: Type.String({ description: "The upstream registry's origin" }),
        username: Type.Union([Type.String(), Type.Null()], {
          description: 'Upstream user; null pulls anonymously (the password is never shown)',
        }),
        ttl: Type.String({
          description: 'How long a cached tag is served before the upstream is asked again (6h)',
        }),
        health: UpstreamHealth,
      }),
      Type.Null(),
    ],
    { description: 'null unless kind is proxy' },
  ),
  group: Type.Union(
    [
      Type.Object({
        members: Type.Array(Type.String(), { description: 'Pulls try these in order' }),
        pushTo: Type.Union([Type.String(), Type.Null()], {
          description: 'The hosted member that takes pushes through the group; null refuses them',
        }),
      }),
      Type.Null(),
    ],
    { description: 'null unless kind is group' },
  ),
  public: Type.Boolean(),
  createdAt: Type.String(),
  repositories: Type.Integer(),
  immutableTags: Type.Array(Type.String(), {
    description: 'Tag globs that cannot be moved or deleted',
  }),
  indexChildren: Type.Union([Type.String(), Type.Null()], {
    description: 'Which index children must exist; null: the configured default',
  }),
  quotaBytes: Type.Union([Type.Integer(), Type.Null()], {
    description: 'Bytes its distinct blobs may take (a push past it is 403 DENIED); null: no limit',
  }),
  usedBytes: Type.Integer({
    description:
      'Bytes of the distinct blobs it holds: referenced by its manifests, or uploaded by a push still within the GC grace',
  }),
  retention: Type.Union([Retention, Type.Null()], { description: 'null: none' }),
  actions: Type.Array(Action, { description: 'What the caller may do in this namespace' }),
});

export const AuditEvent = Type.Object({
  id: Type.Integer(),
  at: Type.String(),
  actor: Type.String(),
  action: Type.String(),
  target: Type.String(),
  outcome: Type.Union([Type.Literal('success'), Type.Literal('failure'), Type.Literal('denied')]),
  client: Type.String(),
  detail: Type.Optional(Type.Object({}, { additionalProperties: true })),
});

export const ErrorBody = Type.Object({
  errors: Type.Array(
    Type.Object({
      code: Type.String(),
      message: Type.String(),
      detail: Type.Optional(Type.Unknown()),
    }),
  ),
});

export const NameParams = Type.Object({ name: Type.String({ minLength: 1, maxLength: 255 }) });
