/**
 * @module http/v2/token
 * The token realm at `/v2/token` (Docker token spec + its OAuth2 variant). Every client flavour:
 * - GET with optional Basic credentials and `scope`s (docker, skopeo, podman, the conformance
 *   suite); `offline_token=true` (docker login) also returns a refresh token;
 * - POST `grant_type=password` (containerd first) and `grant_type=refresh_token` (docker after login).
 * It grants the intersection of what was asked and what is allowed (never an error for asking too
 * much), answers only JSON, and 401 only for bad credentials.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { RegistryError } from '../../core/errors.js';
import { grantScopes, unauthorized, type AuthService } from '../../auth/service.js';
import type { AccessEntry } from '../../auth/jwt.js';
import { mintSecret, secretId, secretMatches } from '../../auth/secrets.js';
import { ANONYMOUS, parseScopes, type Principal, type Scope } from '../../auth/types.js';
import type { IdentityMeta } from '../../meta/identity.js';
import type { Registry } from '../../registry/index.js';
import { mirrorScopes } from '../../federation/mirror.js';
import { readBounded } from './body.js';
import { queryValue, queryValues } from './headers.js';

export interface TokenContext {
  auth: AuthService;
  meta: IdentityMeta;
  registry: Registry;
  tokenTtlSeconds: number;
  request: FastifyRequest;
  reply: FastifyReply;
  /** The namespace of the mirror listener the request came to (federation/mirror.ts). */
  mirror?: string | undefined;
}

const MAX_FORM_BYTES = 16 * 1024;

export async function tokenGet(ctx: TokenContext): Promise<void> {
  const { request, auth } = ctx;
  const principal = await basicPrincipal(ctx, request.headers.authorization);
  const scopes = requestedScopes(ctx, queryValues(request.query, 'scope'));
  const granted = await grantScopes(
    auth,
    principal,
    scopes,
    (n) => ctx.registry.repository(n).namespace,
  );
  const offline = queryValue(request.query, 'offline_token') === 'true';
  const clientId = queryValue(request.query, 'client_id') ?? '';
  const refresh =
    offline && principal.kind === 'user'
      ? await mintRefreshToken(ctx, principal.name, clientId)
      : undefined;
  return issue(ctx, principal, granted, refresh, false);
}

export async function tokenPost(ctx: TokenContext): Promise<void> {
  const { request, auth, meta } = ctx;
  const form = new URLSearchParams(
    (await readBounded(request.raw, MAX_FORM_BYTES, 'token request')).toString('utf8'),
  );
  const grantType = form.get('grant_type');
  const clientId = form.get('client_id') ?? '';
  let principal: Principal;
  let refresh: string | undefined;
  if (grantType === 'password') {
    const username = form.get('username') ?? '';
    const password = form.get('password') ?? '';
    principal = await credentialsPrincipal(ctx, username, password);
    if (form.get('access_type') === 'offline' && principal.kind === 'user') {
      refresh = await mintRefreshToken(ctx, principal.name, clientId);
    }
  } else if (grantType === 'refresh_token') {
    const presented = form.get('refresh_token') ?? '';
    const id = secretId('rt', presented);
    const row = id === null ? null : await meta.getRefreshToken(id);
    const user = row ? await meta.getUser(row.user) : null;
    if (
      !row ||
      row.revokedAt !== null ||
      row.service !== auth.options.service ||
      !secretMatches(presented, row.secretHash) ||
      !user ||
      user.disabled
    ) {
      auth.loginFailed(
        request,
        row?.user ?? '',
        'refresh token invalid or revoked, or its user disabled',
        'refresh_token',
      );
      throw unauthorized('refresh token is invalid or revoked');
    }
    void meta.touchRefreshToken(row.id, new Date().toISOString()).catch(() => undefined);
    principal = { kind: 'user', name: row.user };
    refresh = presented;
  } else {
    throw new RegistryError('UNSUPPORTED', 'grant_type must be password or refresh_token', {
      grant_type: grantType,
    });
  }
  const scopes = requestedScopes(ctx, form.getAll('scope'));
  const granted = await grantScopes(
    auth,
    principal,
    scopes,
    (n) => ctx.registry.repository(n).namespace,
  );
  return issue(ctx, principal, granted, refresh, true);
}

/** On a mirror listener the client names repositories as its upstream does: map them. */
function requestedScopes(ctx: TokenContext, values: readonly string[]): Scope[] {
  const scopes = parseScopes(values);
  return ctx.mirror === undefined ? scopes : mirrorScopes(scopes, ctx.mirror);
}

async function issue(
  ctx: TokenContext,
  principal: Principal,
  granted: AccessEntry[],
  refreshToken: string | undefined,
  oauth: boolean,
): Promise<void> {
  ctx.request.principal = principal;
  const { token, issuedAt } = await ctx.auth.signer.sign({
    subject: principal.name,
    audience: ctx.auth.options.service,
    access: granted,
    lifetimeSeconds: ctx.tokenTtlSeconds,
    accessTokenId: principal.tokenId,
  });
  const body: Record<string, unknown> = {
    token,
    access_token: token,
    expires_in: ctx.tokenTtlSeconds,
    issued_at: issuedAt.toISOString(),
  };
  if (oauth)
    body['scope'] = granted.map((g) => `${g.type}:${g.name}:${g.actions.join(',')}`).join(' ');
  if (refreshToken !== undefined) body['refresh_token'] = refreshToken;
  ctx.reply
    .code(200)
    .header('content-type', 'application/json')
    .header('cache-control', 'no-store');
  return ctx.reply.send(JSON.stringify(body)) as unknown as Promise<void>;
}

/** Basic credentials of a token GET: absent → anonymous; a user's password or an access token. */
async function basicPrincipal(
  ctx: TokenContext,
  authorization: string | undefined,
): Promise<Principal> {
  if (!authorization) return ANONYMOUS;
  const [scheme, value = ''] = authorization.split(' ', 2);
  if (scheme?.toLowerCase() !== 'basic')
    throw unauthorized('the token endpoint takes Basic credentials');
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw unauthorized('malformed basic credentials');
  return credentialsPrincipal(ctx, decoded.slice(0, colon), decoded.slice(colon + 1));
}

async function credentialsPrincipal(
  ctx: TokenContext,
  username: string,
  password: string,
): Promise<Principal> {
  const basic = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  return (await ctx.auth.authenticate(basic, ctx.request)).principal;
}

async function mintRefreshToken(
  ctx: TokenContext,
  user: string,
  clientId: string,
): Promise<string> {
  const minted = mintSecret('rt');
  await ctx.meta.createRefreshToken({
    id: minted.id,
    user,
    service: ctx.auth.options.service,
    clientId,
    secretHash: minted.hash,
    createdAt: new Date().toISOString(),
    revokedAt: null,
  });
  return minted.secret;
}
