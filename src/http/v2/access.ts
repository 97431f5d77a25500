/**
 * @module http/v2/access
 * Authorization of distribution API requests (distribution's method → action mapping: GET/HEAD
 * pull, POST/PUT/PATCH push, DELETE delete; a mount also needs pull on its source). Outcomes:
 * - allowed → the handler runs;
 * - no or insufficient credentials → 401 with a `WWW-Authenticate: Bearer` challenge naming the
 *   realm, service and the scope to ask for (`error="insufficient_scope"` when a token lacked it);
 * - the caller is known but policy refuses → 403 DENIED.
 */
import type { FastifyRequest } from 'fastify';
import { RegistryError } from '../../core/errors.js';
import type { AuthService, Authentication } from '../../auth/service.js';
import type { Action } from '../../auth/types.js';
import type { Registry, RepositoryRef } from '../../registry/index.js';

export interface AccessContext {
  auth: AuthService | null;
  authn: Authentication;
  registry: Registry;
  request: FastifyRequest;
  /** `https://registry.example.com:5000`: where clients reach us. */
  externalBase: string;
}

/** The realm URL and service of the challenge. */
export function challenge(
  ctx: Pick<AccessContext, 'auth' | 'externalBase'>,
  scope?: string,
  error?: string,
): string {
  const service = ctx.auth?.options.service ?? 'berth';
  let value = `Bearer realm="${ctx.externalBase}/v2/token",service="${service}"`;
  if (scope !== undefined) value += `,scope="${scope}"`;
  if (error !== undefined) value += `,error="${error}"`;
  return value;
}

/**
 * A 401 with its challenge. With a scope, the body's detail names it (as Distribution's names the
 * access records): docker reads an error whose message is its code's own text ("authentication
 * required") and that has no detail as a bare code, which its push does not take as final, so an
 * anonymous `docker push` retried each layer 5 times and failed only after 50 s.
 */
export function unauthorizedChallenge(
  ctx: Pick<AccessContext, 'auth' | 'externalBase'>,
  message: string,
  scope?: string,
  error?: string,
): RegistryError {
  return new RegistryError('UNAUTHORIZED', message, scope !== undefined ? { scope } : undefined, {
    'WWW-Authenticate': challenge(ctx, scope, error),
  });
}

/** Whether the request may take all `actions` on the repository (no throwing). */
export async function isAllowed(
  ctx: AccessContext,
  repo: RepositoryRef,
  actions: readonly Action[],
): Promise<boolean> {
  const { auth, authn } = ctx;
  if (!auth) return true;
  if (authn.via === 'bearer') {
    const granted = tokenActions(ctx, repo);
    return actions.every((a) => granted.has(a));
  }
  const allowed = await auth.allowedActions(authn.principal, repo.namespace);
  return actions.every((a) => allowed.has(a));
}

/** Whether the caller's roles (not its token's scopes) allow pulling: for listings. */
export async function mayPullByPolicy(ctx: AccessContext, repo: RepositoryRef): Promise<boolean> {
  if (!ctx.auth) return true;
  return (await ctx.auth.allowedActions(ctx.authn.principal, repo.namespace)).has('pull');
}

/** Throws the right 401 or 403 unless the request may take all `actions` on the repository. */
export async function requireAccess(
  ctx: AccessContext,
  repo: RepositoryRef,
  actions: readonly Action[],
): Promise<void> {
  const { auth, authn } = ctx;
  if (!auth || (await isAllowed(ctx, repo, actions))) return;
  // Ask for pull with push, as distribution does: a pushing client reads what it writes.
  const wanted = actions.includes('push') ? ['pull', ...actions] : actions;
  const scope = `repository:${repo.requested}:${[...new Set(wanted)].join(',')}`;
  if (authn.principal.kind === 'anonymous') {
    // No error code for an unauthenticated request, anonymous token or not (RFC 6750 §3.1):
    // clients then say "authentication required" rather than "denied".
    throw unauthorizedChallenge(ctx, 'authentication required', scope);
  }
  const allowed = await auth.allowedActions(authn.principal, repo.namespace);
  if (authn.via === 'bearer' && actions.every((a) => allowed.has(a))) {
    // Policy allows it; this token just was not issued for it: ask for a token that is.
    throw unauthorizedChallenge(
      ctx,
      'token lacks the scope for this request',
      scope,
      'insufficient_scope',
    );
  }
  throw new RegistryError(
    'DENIED',
    `requested access to the resource is denied: ${actions.join(', ')} on ${repo.requested}`,
    {
      repository: repo.requested,
      actions,
    },
  );
}

/** Any authenticated caller (anonymous gets the challenge): `/v2/`, upload sessions. */
export function requireAuthenticated(ctx: AccessContext): void {
  if (ctx.auth && ctx.authn.principal.kind === 'anonymous' && ctx.authn.via !== 'bearer') {
    throw unauthorizedChallenge(ctx, 'authentication required');
  }
}

/** `registry:catalog:*` for bearer tokens; any signed-in user otherwise. */
export function requireCatalog(ctx: AccessContext): void {
  const { auth, authn } = ctx;
  if (!auth) return;
  if (authn.via === 'bearer') {
    const ok = authn.access?.some(
      (e) => e.type === 'registry' && e.name === 'catalog' && e.actions.includes('*'),
    );
    if (ok === true) return;
    throw unauthorizedChallenge(
      ctx,
      'token lacks the catalog scope',
      'registry:catalog:*',
      'insufficient_scope',
    );
  }
  if (authn.principal.kind === 'anonymous')
    throw unauthorizedChallenge(ctx, 'authentication required', 'registry:catalog:*');
}

function tokenActions(ctx: AccessContext, repo: RepositoryRef): Set<string> {
  const actions = new Set<string>();
  for (const entry of ctx.authn.access ?? []) {
    if (entry.type !== 'repository') continue;
    let name: string;
    try {
      name = ctx.registry.repository(entry.name).name;
    } catch {
      continue;
    }
    if (name === repo.name) for (const a of entry.actions) actions.add(a);
  }
  return actions;
}
