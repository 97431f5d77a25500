/**
 * @module http/api/users
 * Users and their role bindings. Administrators manage everyone; a user may read their own record
 * and change their own password, which needs the current one (a stolen session cookie alone must
 * not be able to take over the account).
 */
import { Type } from '@sinclair/typebox';
import { RegistryError } from '../../core/errors.js';
import type { UserView } from '../../auth/identity.js';
import { conflict, denied, invalid, notFound, type Api, type Caller } from './context.js';
import { NameParams, Password, RoleBindingInput, User, UserName } from './schemas.js';

const UserList = Type.Object({ items: Type.Array(User) });

const NewUser = Type.Object(
  {
    name: UserName,
    password: Password,
    roles: Type.Optional(Type.Array(RoleBindingInput, { maxItems: 100 })),
  },
  { additionalProperties: false },
);

const PasswordChange = Type.Object(
  {
    password: Password,
    currentPassword: Type.Optional(
      Type.String({
        maxLength: 1024,
        description: 'Required when changing your own password',
      }),
    ),
  },
  { additionalProperties: false },
);

const UserPatch = Type.Object({ disabled: Type.Boolean() }, { additionalProperties: false });

const BindingParams = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 255 }),
  role: Type.String({ minLength: 1, maxLength: 64 }),
});
const BindingQuery = Type.Object(
  {
    namespace: Type.Optional(
      Type.String({ maxLength: 255, description: 'Omit for a global binding' }),
    ),
  },
  { additionalProperties: false },
);

export function registerUserRoutes(api: Api): void {
  const { identity, auth } = api.options;

  async function requireUser(name: string): Promise<UserView> {
    const user = await identity.getUser(name);
    if (!user) throw notFound(`user "${name}" does not exist`);
    return user;
  }

  function notSelf(caller: Caller, name: string, what: string): void {
    if (caller.name === name) throw conflict(`you cannot ${what} your own account`);
  }

  api.route({
    method: 'GET',
    url: '/users',
    operationId: 'listUsers',
    summary: 'List users with their role bindings',
    tag: 'users',
    access: 'admin',
    response: UserList,
    handler: async () => ({ items: await identity.listUsers() }),
  });

  api.route({
    method: 'POST',
    url: '/users',
    operationId: 'createUser',
    summary: 'Create a user, optionally with role bindings',
    tag: 'users',
    access: 'admin',
    body: NewUser,
    status: 201,
    response: User,
    handler: ({ caller, request, body }) =>
      identity.addUser(api.actor(caller, request), {
        name: body.name,
        password: body.password,
        ...(body.roles ? { roles: body.roles } : {}),
      }),
  });

  api.route({
    method: 'GET',
    url: '/users/:name',
    operationId: 'getUser',
    summary: 'One user (administrators, or the user themself)',
    tag: 'users',
    access: 'signed-in',
    params: NameParams,
    response: User,
    handler: async ({ caller, params }) => {
      if (caller.name !== params.name && !(await api.isAdmin(caller)))
        throw denied('only administrators may read other users');
      return requireUser(params.name);
    },
  });

  api.route({
    method: 'PUT',
    url: '/users/:name/password',
    operationId: 'setPassword',
    summary: 'Change a password',
    description:
      'Administrators may set anyone else’s password. Changing your own needs `currentPassword`. ' +
      'Every other session of the user ends.',
    tag: 'users',
    access: 'signed-in',
    params: NameParams,
    body: PasswordChange,
    handler: async ({ caller, request, params, body }) => {
      const self = caller.name === params.name && caller.via !== 'auth-off';
      if (self && auth) {
        if (body.currentPassword === undefined)
          throw invalid('changing your own password needs currentPassword');
        try {
          await auth.login(params.name, body.currentPassword, request);
        } catch (e) {
          if (e instanceof RegistryError && e.code === 'UNAUTHORIZED')
            throw denied('the current password is wrong');
          throw e;
        }
      } else if (!(await api.isAdmin(caller))) {
        throw denied('only administrators may change another user’s password');
      }
      await identity.setPassword(api.actor(caller, request), params.name, body.password);
      await api.sessions.deleteUser(
        params.name,
        self ? (caller.sessionId ?? undefined) : undefined,
      );
      // The caller's own session stays valid under the new password.
      const changed = self && caller.session ? await api.options.meta.getUser(params.name) : null;
      if (changed && caller.session && caller.sessionId !== null)
        await api.sessions.setPassword(caller.sessionId, caller.session, changed.passwordHash);
    },
  });

  api.route({
    method: 'PATCH',
    url: '/users/:name',
    operationId: 'updateUser',
    summary: 'Disable or enable a user',
    description:
      'A disabled user can no longer sign in, and their sessions and tokens stop working.',
    tag: 'users',
    access: 'admin',
    params: NameParams,
    body: UserPatch,
    response: User,
    handler: async ({ caller, request, params, body }) => {
      if (body.disabled) notSelf(caller, params.name, 'disable');
      await identity.setDisabled(api.actor(caller, request), params.name, body.disabled);
      if (body.disabled) await api.sessions.deleteUser(params.name);
      return requireUser(params.name);
    },
  });

  api.route({
    method: 'DELETE',
    url: '/users/:name',
    operationId: 'deleteUser',
    summary: 'Delete a user, their role bindings and access tokens',
    tag: 'users',
    access: 'admin',
    params: NameParams,
    handler: async ({ caller, request, params }) => {
      notSelf(caller, params.name, 'delete');
      await identity.deleteUser(api.actor(caller, request), params.name);
      await api.sessions.deleteUser(params.name);
    },
  });

  api.route({
    method: 'POST',
    url: '/users/:name/roles',
    operationId: 'bindRole',
    summary: 'Bind a role to a user, everywhere (namespace null) or in one namespace',
    tag: 'users',
    access: 'admin',
    params: NameParams,
    body: RoleBindingInput,
    response: User,
    handler: async ({ caller, request, params, body }) => {
      await identity.bind(api.actor(caller, request), {
        user: params.name,
        role: body.role,
        namespace: body.namespace ?? null,
      });
      return requireUser(params.name);
    },
  });

  api.route({
    method: 'DELETE',
    url: '/users/:name/roles/:role',
    operationId: 'unbindRole',
    summary: 'Remove a role binding from a user',
    tag: 'users',
    access: 'admin',
    params: BindingParams,
    querystring: BindingQuery,
    response: User,
    handler: async ({ caller, request, params, query }) => {
      await identity.unbind(api.actor(caller, request), {
        user: params.name,
        role: params.role,
        namespace: query.namespace ?? null,
      });
      return requireUser(params.name);
    },
  });
}
