/**
 * @module http/api/tokens
 * Access tokens for CI and robots: a user lists, creates and revokes their own; an administrator
 * may list everyone's and revoke any. The secret is returned once, at creation, and never again.
 *
 * A request authenticated BY an access token may not create another one: the new token would be
 * bounded only by the user's privileges, not by the narrower token that asked for it.
 */
import { Type } from '@sinclair/typebox';
import { denied, notFound, type Api } from './context.js';
import { AccessToken, Privilege } from './schemas.js';

const TokenList = Type.Object({ items: Type.Array(AccessToken) });

const TokenQuery = Type.Object(
  {
    user: Type.Optional(
      Type.String({ minLength: 1, maxLength: 64, description: 'Administrators: this user’s' }),
    ),
    all: Type.Optional(Type.Boolean({ description: 'Administrators: every user’s tokens' })),
  },
  { additionalProperties: false },
);

const NewToken = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100 }),
    privileges: Type.Optional(
      Type.Array(Privilege, {
        minItems: 1,
        maxItems: 100,
        description:
          'Default: everything the user may do, now and later. Privileges named here must be the user’s own (400 names one that is not); at every use the token is narrowed to what the user may do then',
      }),
    ),
    expiresInDays: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 3650,
        description: 'Omit for a token that does not expire',
      }),
    ),
  },
  { additionalProperties: false },
);

const CreatedToken = Type.Object({
  token: AccessToken,
  secret: Type.String({
    description: 'Use as the password, with your user name; shown only in this response',
  }),
});

const TokenParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });

export function registerTokenRoutes(api: Api): void {
  const { identity } = api.options;

  api.route({
    method: 'GET',
    url: '/tokens',
    operationId: 'listTokens',
    summary: 'List access tokens (your own, or as administrator any user’s or all)',
    tag: 'tokens',
    access: 'signed-in',
    querystring: TokenQuery,
    response: TokenList,
    handler: async ({ caller, query }) => {
      const others = query.all === true || (query.user !== undefined && query.user !== caller.name);
      if (others && !(await api.isAdmin(caller)))
        throw denied('only administrators may list other users’ tokens');
      const user = query.all === true ? undefined : (query.user ?? caller.name);
      return { items: await identity.listTokens(user) };
    },
  });

  api.route({
    method: 'POST',
    url: '/tokens',
    operationId: 'createToken',
    summary: 'Create an access token for yourself; the secret is shown once',
    tag: 'tokens',
    access: 'signed-in',
    body: NewToken,
    status: 201,
    response: CreatedToken,
    handler: ({ caller, request, body }) => {
      if (caller.principal.kind === 'access-token')
        throw denied('sign in with a password to create access tokens');
      return identity.createToken(api.actor(caller, request), {
        user: caller.name,
        name: body.name,
        ...(body.privileges ? { privileges: body.privileges } : {}),
        ...(body.expiresInDays !== undefined ? { expiresInDays: body.expiresInDays } : {}),
      });
    },
  });

  api.route({
    method: 'DELETE',
    url: '/tokens/:id',
    operationId: 'revokeToken',
    summary: 'Revoke an access token (your own, or any as administrator)',
    tag: 'tokens',
    access: 'signed-in',
    params: TokenParams,
    handler: async ({ caller, request, params }) => {
      const token = await identity.getToken(params.id);
      if (!token) throw notFound(`access token "${params.id}" does not exist`);
      if (token.user !== caller.name && !(await api.isAdmin(caller)))
        throw denied('only administrators may revoke other users’ tokens');
      await identity.revokeToken(api.actor(caller, request), params.id);
    },
  });
}
