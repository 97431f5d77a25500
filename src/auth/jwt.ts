/**
 * @module auth/jwt
 * Registry tokens: ES256 JWTs with a `kid`, in the Docker token format (jwt.md). The signing key is
 * generated once and kept in the metadata store, so every process (and later every replica) that
 * shares the store verifies the same tokens. Verified tokens are cached until they expire: clients
 * reuse one token for many requests, and an ECDSA verify per request would cost more than serving
 * the request.
 */
import { randomUUID } from 'node:crypto';
import {
  SignJWT,
  exportJWK,
  generateKeyPair,
  importJWK,
  jwtVerify,
  type JWK,
  type KeyObject,
} from 'jose';
import type { IdentityMeta } from '../meta/identity.js';

const ALGORITHM = 'ES256';
const CLOCK_LEEWAY_SECONDS = 30;
const CACHE_LIMIT = 2048;

export interface AccessEntry {
  type: 'repository' | 'registry';
  name: string;
  actions: string[];
}

export interface VerifiedToken {
  subject: string;
  access: AccessEntry[];
  expiresAt: number;
  /** Set when the token was issued to an access token (claim `berth_pat`). */
  accessTokenId?: string;
}

export interface TokenSigner {
  readonly kid: string;
  sign(claims: {
    subject: string;
    audience: string;
    access: AccessEntry[];
    lifetimeSeconds: number;
    accessTokenId?: string | undefined;
  }): Promise<{
    token: string;
    issuedAt: Date;
  }>;
  /** Null for any token that is not ours, not for this audience, not yet or no longer valid. */
  verify(token: string, audience: string): Promise<VerifiedToken | null>;
}

export async function loadTokenSigner(meta: IdentityMeta, issuer: string): Promise<TokenSigner> {
  let row = await meta.getSigningKey();
  if (!row) {
    const { privateKey } = await generateKeyPair(ALGORITHM, { extractable: true });
    const jwk = await exportJWK(privateKey);
    row = await meta.putSigningKey({
      kid: randomUUID(),
      algorithm: ALGORITHM,
      privateJwk: JSON.stringify(jwk),
      createdAt: new Date().toISOString(),
    });
  }
  const jwk = JSON.parse(row.privateJwk) as JWK;
  const privateKey = (await importJWK(jwk, ALGORITHM)) as KeyObject;
  const publicJwk = Object.fromEntries(Object.entries(jwk).filter(([k]) => k !== 'd')) as JWK;
  const publicKey = (await importJWK(publicJwk, ALGORITHM)) as KeyObject;
  const kid = row.kid;
  const cache = new Map<string, VerifiedToken & { audience: string }>();

  return {
    kid,
    async sign({ subject, audience, access, lifetimeSeconds, accessTokenId }) {
      const issuedAt = new Date();
      const iat = Math.floor(issuedAt.getTime() / 1000);
      const token = await new SignJWT(
        accessTokenId === undefined ? { access } : { access, berth_pat: accessTokenId },
      )
        .setProtectedHeader({ alg: ALGORITHM, typ: 'JWT', kid })
        .setIssuer(issuer)
        .setSubject(subject)
        .setAudience(audience)
        .setIssuedAt(iat)
        .setNotBefore(iat)
        .setExpirationTime(iat + lifetimeSeconds)
        .setJti(randomUUID())
        .sign(privateKey);
      return { token, issuedAt };
    },

    async verify(token, audience) {
      const now = Date.now() / 1000;
      const cached = cache.get(token);
      if (cached) {
        if (cached.audience === audience && cached.expiresAt + CLOCK_LEEWAY_SECONDS > now)
          return cached;
        cache.delete(token);
        return null;
      }
      try {
        const { payload, protectedHeader } = await jwtVerify(token, publicKey, {
          algorithms: [ALGORITHM],
          issuer,
          audience,
          clockTolerance: CLOCK_LEEWAY_SECONDS,
          requiredClaims: ['exp', 'sub'],
        });
        if (protectedHeader.kid !== kid) return null;
        const verified = {
          subject: payload.sub ?? '',
          access: parseAccess(payload['access']),
          expiresAt: payload.exp ?? 0,
          ...(typeof payload['berth_pat'] === 'string'
            ? { accessTokenId: payload['berth_pat'] }
            : {}),
          audience,
        };
        if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value ?? '');
        cache.set(token, verified);
        return verified;
      } catch {
        return null;
      }
    },
  };
}

function parseAccess(value: unknown): AccessEntry[] {
  if (!Array.isArray(value)) return [];
  const entries: AccessEntry[] = [];
  for (const item of value as unknown[]) {
    if (typeof item !== 'object' || item === null) continue;
    const { type, name, actions } = item as Record<string, unknown>;
    if (
      (type === 'repository' || type === 'registry') &&
      typeof name === 'string' &&
      Array.isArray(actions)
    ) {
      entries.push({
        type,
        name,
        actions: actions.filter((a): a is string => typeof a === 'string'),
      });
    }
  }
  return entries;
}
