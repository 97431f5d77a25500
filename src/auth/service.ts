/**
 * @module auth/service
 * Authentication (who is asking) and authorization (what they may do), shared by the registry
 * API, the token realm and the admin API. Credentials arrive as:
 * - `Basic` with a user's password, or with an access token as the password;
 * - `Bearer` with a registry JWT issued by our token realm.
 * Verified passwords are cached briefly (a push must not pay argon2 per request); failures are
 * throttled per user and per client address.
 *
 * Every refused login is audited and logged (warn, with the request id, the user name tried and
 * the client address; never the secret). A successful login is audited when it is verified, not
 * at each re-use: a password when it enters the cache, an access token at its first use from an
 * address and then at most once per cache period (its `lastUsedAt` moves at the same pace).
 * An access token works only with its owner's user name, so the name in a log is never made up.
 */
import { createHash } from 'node:crypto';
import { RegistryError } from '../core/errors.js';
import type { IdentityMeta, Privilege } from '../meta/identity.js';
import type { NamespaceMeta } from '../meta/store.js';
import type { AuditLog } from './audit.js';
import type { AccessEntry, TokenSigner } from './jwt.js';
import { verifyPassword } from './passwords.js';
import { allowedIn, isGlobalAdmin } from './policy.js';
import { secretId, secretMatches } from './secrets.js';
import type { Throttle } from './throttle.js';
import { ANONYMOUS, type Action, type Principal, type Requester, type Scope } from './types.js';

/** What a request proved about itself. */
export interface Authentication {
  principal: Principal;
  via: 'anonymous' | 'basic' | 'bearer';
  /** The access a bearer token carries (absent for basic and anonymous). */
  access?: AccessEntry[];
}

export interface AuthOptions {
  /** The `service` (JWT audience) this registry answers to. */
  service: string;
  /** How long verified passwords stay cached. */
  credentialCacheSeconds: number;
}

export interface AuthService {
  readonly options: AuthOptions;
  readonly signer: TokenSigner;
  readonly audit: AuditLog;
  /** Parses an Authorization header; throws UNAUTHORIZED for bad credentials, TOOMANYREQUESTS when throttled. */
  authenticate(authorization: string | undefined, from: Requester): Promise<Authentication>;
  /** Verifies a user's password (no access tokens): the token realm's and the UI's login. */
  login(user: string, password: string, from: Requester): Promise<Principal>;
  /** Audits and logs a refused login (`user` as tried; `target` e.g. `refresh_token`). */
  loginFailed(from: Requester, user: string, reason: string, target?: string): void;
  /** The actions a principal may take in a namespace, by policy (its roles; public pulls). */
  allowedActions(principal: Principal, namespace: string): Promise<Set<Action>>;
  /**
   * The names among `namespaces` whose repositories the principal may pull: its privileges are
   * read once for all of them (a catalog request must not look them up per namespace).
   */
  pullableAmong(
    principal: Principal,
    namespaces: readonly { name: string; public: boolean }[],
  ): Promise<string[]>;
  /** Whether the principal administers the whole registry. */
  isAdmin(principal: Principal): Promise<boolean>;
  /** Forget cached credentials (after a password change, disable or delete). */
  forget(user?: string): void;
}

export function createAuthService(deps: {
  meta: IdentityMeta & Pick<NamespaceMeta, 'getNamespace'>;
  signer: TokenSigner;
  throttle: Throttle;
  audit: AuditLog;
  options: AuthOptions;
  /** Maps a requested repository name to its namespace (`nginx` → `library`). */
  namespaceOf: (repository: string) => string;
}): AuthService {
  const { meta, signer, throttle, audit, options } = deps;
  /** sha256(user \0 password) → user and expiry. Only successes are cached. */
  const verified = new Map<string, { user: string; until: number }>();
  /** token id \0 client address → until when a use is not audited again as a login. */
  const tokenLogins = new Map<string, number>();
  const cacheMs = options.credentialCacheSeconds * 1000;

  function loginFailed(
    from: Requester,
    user: string,
    reason: string,
    target = '',
    detail?: Record<string, unknown>,
  ): void {
    audit.record({
      actor: user,
      action: 'login',
      target,
      outcome: 'failure',
      client: from.ip,
      ...(detail ? { detail } : {}),
    });
    from.log.warn({ user, client: from.ip, ...(target ? { target } : {}), reason }, 'login failed');
  }

  function cacheKey(user: string, password: string): string {
    return createHash('sha256').update(user).update('\0').update(password).digest('base64');
  }

  async function checkPassword(user: string, password: string, from: Requester): Promise<boolean> {
    const key = cacheKey(user, password);
    const hit = verified.get(key);
    if (hit && hit.until > Date.now()) return true;
    const client = from.ip;
    await refuseIfThrottled(user, from);
    const row = await meta.getUser(user);
    const ok =
      (await verifyPassword(row?.passwordHash ?? null, password)) && row !== null && !row.disabled;
    if (!ok) {
      await throttle.failed(user, client);
      const reason = !row ? 'no such user' : row.disabled ? 'user disabled' : 'wrong password';
      loginFailed(from, user, reason);
      return false;
    }
    await throttle.succeeded(user);
    if (verified.size > 10_000) verified.clear();
    verified.set(key, { user, until: Date.now() + cacheMs });
    audit.record({ actor: user, action: 'login', target: '', outcome: 'success', client });
    return true;
  }

  /** TOOMANYREQUESTS while the user name or the client address is throttled. */
  async function refuseIfThrottled(user: string, from: Requester): Promise<void> {
    const wait = await throttle.retryAfter(user, from.ip);
    if (wait <= 0) return;
    // Logged, not audited: a guessing run would otherwise write a row per request.
    from.log.warn({ user, client: from.ip, retryAfter: wait }, 'login throttled');
    throw new RegistryError(
      'TOOMANYREQUESTS',
      'too many failed logins; try again later',
      undefined,
      {
        'Retry-After': String(wait),
      },
    );
  }

  /**
   * A refused access token counts as a failed login: under the throttle, a stream of made-up
   * tokens gets 429s that write no audit row instead of one row each. A valid token is not held
   * back by the throttle: its secret cannot be guessed, and a CI job must not stop because
   * someone is guessing its owner's password.
   */
  async function tokenRefused(
    from: Requester,
    user: string,
    reason: string,
    target: string,
    message: string,
    detail?: Record<string, unknown>,
  ): Promise<RegistryError> {
    await refuseIfThrottled(user, from);
    await throttle.failed(user, from.ip);
    loginFailed(from, user, reason, target, detail);
    return unauthorized(message);
  }

  /** The principal of Basic credentials whose password is an access token; null if it is none. */
  async function accessTokenPrincipal(
    user: string,
    password: string,
    from: Requester,
  ): Promise<Principal | null> {
    const id = secretId('pat', password);
    if (id === null) return null;
    const target = `token:${id}`;
    const row = await meta.getAccessToken(id);
    const live =
      row !== null &&
      row.revokedAt === null &&
      (row.expiresAt === null || Date.parse(row.expiresAt) > Date.now()) &&
      secretMatches(password, row.secretHash);
    if (!live) {
      throw await tokenRefused(
        from,
        user,
        'access token invalid, expired or revoked',
        target,
        'access token is invalid, expired or revoked',
      );
    }
    // Any other name would put a made-up user into every log line and audit event of its uses.
    if (user !== row.user) {
      throw await tokenRefused(
        from,
        user,
        'access token sent with a user name not its owner’s',
        target,
        'an access token must be sent with the user name of its owner',
        { owner: row.user },
      );
    }
    const owner = await meta.getUser(row.user);
    if (!owner || owner.disabled) {
      loginFailed(from, user, 'user disabled', target);
      throw unauthorized('the access token belongs to a disabled user');
    }
    const now = Date.now();
    const key = `${row.id}\0${from.ip}`;
    if ((tokenLogins.get(key) ?? 0) <= now) {
      if (tokenLogins.size > 10_000) tokenLogins.clear();
      tokenLogins.set(key, now + cacheMs);
      audit.record({
        actor: row.user,
        action: 'login',
        target,
        outcome: 'success',
        client: from.ip,
        detail: { token: row.id, name: row.name },
      });
      void meta.touchAccessToken(row.id, new Date(now).toISOString()).catch(() => undefined);
    }
    return {
      kind: 'access-token',
      name: row.user,
      tokenId: row.id,
      tokenPrivileges: row.privileges,
    };
  }

  /** The principal of an access token that is still valid and whose user is active. */
  async function liveAccessToken(id: string): Promise<Principal | null> {
    const row = await meta.getAccessToken(id);
    if (
      !row ||
      row.revokedAt !== null ||
      (row.expiresAt !== null && Date.parse(row.expiresAt) <= Date.now())
    ) {
      return null;
    }
    const user = await meta.getUser(row.user);
    if (!user || user.disabled) return null;
    return {
      kind: 'access-token',
      name: row.user,
      tokenId: row.id,
      tokenPrivileges: row.privileges,
    };
  }

  async function privilegesOf(principal: Principal): Promise<Privilege[]> {
    if (principal.kind === 'anonymous') return [];
    const user = await meta.getUser(principal.name);
    if (!user || user.disabled) return [];
    return meta.privilegesOf(principal.name);
  }

  return {
    options,
    signer,
    audit,

    async authenticate(authorization, from) {
      if (!authorization) return { principal: ANONYMOUS, via: 'anonymous' };
      const space = authorization.indexOf(' ');
      const scheme = authorization.slice(0, space).toLowerCase();
      const value = authorization.slice(space + 1).trim();
      if (scheme === 'bearer') {
        const token = await signer.verify(value, options.service);
        if (!token) throw unauthorized('token is invalid or expired', 'invalid_token');
        if (token.accessTokenId !== undefined) {
          // Issued to an access token: it keeps that token's limits, and dies with it.
          const principal = await liveAccessToken(token.accessTokenId);
          if (!principal)
            throw unauthorized('the access token behind this token was revoked', 'invalid_token');
          return { principal, via: 'bearer', access: token.access };
        }
        const principal: Principal =
          token.subject === '' ? ANONYMOUS : { kind: 'user', name: token.subject };
        return { principal, via: 'bearer', access: token.access };
      }
      if (scheme === 'basic') {
        const decoded = Buffer.from(value, 'base64').toString('utf8');
        const colon = decoded.indexOf(':');
        if (colon < 0) {
          from.log.warn({ client: from.ip, reason: 'no colon' }, 'malformed Basic credentials');
          throw unauthorized('malformed basic credentials');
        }
        const user = decoded.slice(0, colon);
        const password = decoded.slice(colon + 1);
        const viaToken = await accessTokenPrincipal(user, password, from);
        if (viaToken) return { principal: viaToken, via: 'basic' };
        if (!(await checkPassword(user, password, from)))
          throw unauthorized('invalid username or password');
        return { principal: { kind: 'user', name: user }, via: 'basic' };
      }
      throw unauthorized(`unsupported authorization scheme`);
    },

    async login(user, password, from) {
      if (!(await checkPassword(user, password, from)))
        throw unauthorized('invalid username or password');
      return { kind: 'user', name: user };
    },

    loginFailed(from, user, reason, target) {
      loginFailed(from, user, reason, target);
    },

    async allowedActions(principal, namespace) {
      if (principal.kind === 'anonymous') {
        const ns = await meta.getNamespace(namespace);
        return new Set(ns?.public ? ['pull'] : []);
      }
      const allowed = allowedIn(
        await privilegesOf(principal),
        principal.tokenPrivileges,
        namespace,
      );
      if (!allowed.has('pull')) {
        const ns = await meta.getNamespace(namespace);
        if (ns?.public) allowed.add('pull');
      }
      return allowed;
    },

    async pullableAmong(principal, namespaces) {
      const privileges = await privilegesOf(principal);
      return namespaces
        .filter(
          (ns) =>
            ns.public || allowedIn(privileges, principal.tokenPrivileges, ns.name).has('pull'),
        )
        .map((ns) => ns.name);
    },

    async isAdmin(principal) {
      if (principal.kind === 'anonymous') return false;
      const privileges = await privilegesOf(principal);
      if (!isGlobalAdmin(privileges)) return false;
      return principal.tokenPrivileges === undefined || isGlobalAdmin(principal.tokenPrivileges);
    },

    forget(user) {
      if (user === undefined) verified.clear();
      else for (const [k, v] of verified) if (v.user === user) verified.delete(k);
    },
  };
}

/** The intersection of requested scopes and what the principal may do (never an error). */
export async function grantScopes(
  auth: AuthService,
  principal: Principal,
  requested: readonly Scope[],
  namespaceOf: (name: string) => string,
): Promise<AccessEntry[]> {
  const granted: AccessEntry[] = [];
  for (const scope of requested) {
    if (scope.type === 'registry') {
      if (scope.name === 'catalog' && principal.kind !== 'anonymous')
        granted.push({ type: 'registry', name: 'catalog', actions: ['*'] });
      continue;
    }
    let namespace: string;
    try {
      namespace = namespaceOf(scope.name);
    } catch {
      continue; // not a valid repository name: grant nothing for it
    }
    const allowed = await auth.allowedActions(principal, namespace);
    const actions = scope.actions.flatMap((a) =>
      a === '*' ? [...allowed].filter((x) => x !== 'admin') : allowed.has(a as Action) ? [a] : [],
    );
    granted.push({ type: 'repository', name: scope.name, actions: [...new Set(actions)] });
  }
  return granted;
}

/** 401; the HTTP layer adds the challenge, with `error="invalid_token"` when the detail says so. */
export function unauthorized(message: string, error?: 'invalid_token'): RegistryError {
  return new RegistryError('UNAUTHORIZED', message, error ? { error } : undefined);
}
