/**
 * @module http/api/roles
 * Roles: named sets of privileges. Anyone signed in may read them (the UI explains what a binding
 * grants); only administrators create, replace or delete custom roles. Built-in roles are fixed.
 */
import { Type } from '@sinclair/typebox';
import { conflict, type Api } from './context.js';
import { NameParams, Privilege, Role } from './schemas.js';

const RoleList = Type.Object({ items: Type.Array(Role) });

const RoleFields = {
  description: Type.Optional(Type.String({ maxLength: 1000 })),
  privileges: Type.Array(Privilege, { minItems: 1, maxItems: 100 }),
};
const NewRole = Type.Object(
  { name: Type.String({ minLength: 1, maxLength: 64 }), ...RoleFields },
  { additionalProperties: false },
);
const RoleUpdate = Type.Object(RoleFields, { additionalProperties: false });

export function registerRoleRoutes(api: Api): void {
  const { identity, meta } = api.options;

  api.route({
    method: 'GET',
    url: '/roles',
    operationId: 'listRoles',
    summary: 'List built-in and custom roles with their privileges',
    tag: 'roles',
    access: 'signed-in',
    response: RoleList,
    handler: async () => ({ items: await identity.listRoles() }),
  });

  api.route({
    method: 'POST',
    url: '/roles',
    operationId: 'createRole',
    summary: 'Create a custom role (409 if the name is taken)',
    tag: 'roles',
    access: 'admin',
    body: NewRole,
    status: 201,
    response: Role,
    handler: async ({ caller, request, body }) => {
      if (await meta.getRole(body.name)) throw conflict(`role "${body.name}" already exists`);
      return identity.putRole(api.actor(caller, request), {
        name: body.name,
        privileges: body.privileges,
        ...(body.description !== undefined ? { description: body.description } : {}),
      });
    },
  });

  api.route({
    method: 'PUT',
    url: '/roles/:name',
    operationId: 'putRole',
    summary: 'Create or replace a custom role',
    description: 'Users bound to the role get the new privileges at their next request.',
    tag: 'roles',
    access: 'admin',
    params: NameParams,
    body: RoleUpdate,
    response: Role,
    handler: ({ caller, request, params, body }) =>
      identity.putRole(api.actor(caller, request), {
        name: params.name,
        privileges: body.privileges,
        ...(body.description !== undefined ? { description: body.description } : {}),
      }),
  });

  api.route({
    method: 'DELETE',
    url: '/roles/:name',
    operationId: 'deleteRole',
    summary: 'Delete a custom role and its bindings',
    tag: 'roles',
    access: 'admin',
    params: NameParams,
    handler: ({ caller, request, params }) =>
      identity.deleteRole(api.actor(caller, request), params.name),
  });
}
