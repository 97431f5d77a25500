/**
 * @module http/api/session
 * Browser sign-in for the web UI: `POST /session` checks a user's password (throttled and audited
 * by the auth service) and sets an HttpOnly, SameSite=Strict cookie holding an opaque session id;
 * the response carries the CSRF token that every later change must send in X-CSRF-Token.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { RegistryError } from '../../core/errors.js';
import { effectivePrivileges } from '../../auth/policy.js';
import type { Privilege as Held } from '../../meta/identity.js';
import {
  AUTH_OFF_USER,
  checkCsrf,
  notSignedIn,
  SESSION_COOKIE,
  type Api,
  type Caller,
} from './context.js';
import { Password, Privilege, RoleBinding, UserName } from './schemas.js';

const Login = Type.Object(
  { username: UserName, password: Password },
  { additionalProperties: false },
);

const LoginResult = Type.Object({
  user: Type.String(),
  isAdmin: Type.Boolean(),
  csrfToken: Type.String({
    description: 'Send as X-CSRF-Token on every change; empty when authentication is off',
  }),
});

const WhoAmI = Type.Object({
  user: Type.String(),
  isAdmin: Type.Boolean(),
  authEnabled: Type.Boolean(),
  via: Type.Union([Type.Literal('session'), Type.Literal('basic'), Type.Literal('auth-off')]),
  /** Set when the caller authenticated with an access token. */
  accessToken: Type.Union([Type.String(), Type.Null()]),
  roles: Type.Array(RoleBinding),
  privileges: Type.Array(Privilege),
  csrfToken: Type.Union([Type.String(), Type.Null()], {
    description: 'The session CSRF token; null when not signed in with a session',
  }),
});

export function registerSessionRoutes(api: Api): void {
  const { auth, identity, meta } = api.options;

  /** What the caller can do: an access token's caller only what both it and its user allow. */
  async function privilegesOf(caller: Caller): Promise<Held[]> {
    const held = await meta.privilegesOf(caller.name);
    const token = caller.principal.tokenPrivileges;
    return token ? effectivePrivileges(held, token) : held;
  }

  function cookieOptions(request: FastifyRequest): {
    httpOnly: true;
    sameSite: 'strict';
    path: string;
    secure: boolean;
  } {
    return { httpOnly: true, sameSite: 'strict', path: '/', secure: request.protocol === 'https' };
  }

  async function endSession(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const id = request.cookies[SESSION_COOKIE];
    if (id !== undefined && id !== '') await api.sessions.delete(id);
    void reply.clearCookie(SESSION_COOKIE, cookieOptions(request));
  }

  api.route({
    method: 'POST',
    url: '/session',
    operationId: 'login',
    summary: 'Sign in with a user name and password (sets the session cookie)',
    description:
      'Access tokens are not accepted here. Failed attempts are throttled (429 with Retry-After).',
    tag: 'session',
    access: 'public',
    body: Login,
    response: LoginResult,
    handler: async ({ body, request, reply }) => {
      if (!auth) return { user: AUTH_OFF_USER, isAdmin: true, csrfToken: '' };
      const principal = await auth.login(body.username, body.password, request);
      request.principal = principal;
      const user = await meta.getUser(principal.name);
      if (!user) throw notSignedIn('invalid username or password');
      // A new id at every sign-in: a session id planted before login is worth nothing.
      await endSession(request, reply);
      const { id, session } = await api.sessions.create(user.name, user.passwordHash);
      void reply.setCookie(SESSION_COOKIE, id, cookieOptions(request));
      return {
        user: user.name,
        isAdmin: await auth.isAdmin(principal),
        csrfToken: session.csrfToken,
      };
    },
  });

  api.route({
    method: 'GET',
    url: '/session',
    operationId: 'whoAmI',
    summary: 'The signed-in caller: name, roles, privileges and the session CSRF token',
    tag: 'session',
    access: 'signed-in',
    response: WhoAmI,
    handler: async ({ caller }) => ({
      user: caller.name,
      isAdmin: await api.isAdmin(caller),
      authEnabled: auth !== null,
      via: signedInVia(caller),
      accessToken: caller.principal.tokenId ?? null,
      roles: (await identity.getUser(caller.name))?.roles ?? [],
      privileges: await privilegesOf(caller),
      csrfToken: caller.session?.csrfToken ?? null,
    }),
  });

  api.route({
    method: 'DELETE',
    url: '/session',
    operationId: 'logout',
    summary: 'Sign out: ends the session and clears the cookie',
    description: 'Needs X-CSRF-Token while the session is alive; succeeds when it is already gone.',
    tag: 'session',
    access: 'public',
    handler: async ({ caller, request, reply }) => {
      if (caller.session) {
        checkCsrf(request, caller.session);
        api.record(caller, request, 'logout', caller.name);
      }
      await endSession(request, reply);
    },
  });
}

function signedInVia(caller: Caller): 'session' | 'basic' | 'auth-off' {
  if (caller.via === 'anonymous') throw new RegistryError('UNAUTHORIZED', 'sign in first');
  return caller.via;
}
