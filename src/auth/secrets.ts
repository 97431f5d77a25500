/**
 * @module auth/secrets
 * Opaque bearer secrets (access tokens, refresh tokens): `berth_<kind>_<id>_<secret>`. The id
 * finds the row; only a SHA-256 of the 256-bit secret is stored (a slow hash adds nothing to a
 * random secret of that size), compared in constant time.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export type SecretKind = 'pat' | 'rt';

export interface MintedSecret {
  id: string;
  /** Shown once to its owner, never stored. */
  secret: string;
  hash: string;
}

export function mintSecret(kind: SecretKind): MintedSecret {
  const id = randomBytes(9).toString('base64url').replace(/[-_]/g, 'x');
  const secret = `berth_${kind}_${id}_${randomBytes(32).toString('base64url')}`;
  return { id, secret, hash: hashSecret(secret) };
}

/** The id inside a secret of this kind, or null if it is not one. */
export function secretId(kind: SecretKind, value: string): string | null {
  const m = new RegExp(`^berth_${kind}_([A-Za-z0-9]{12})_[A-Za-z0-9_-]{43}$`).exec(value);
  return m?.[1] ?? null;
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export function secretMatches(secret: string, storedHash: string): boolean {
  const a = Buffer.from(hashSecret(secret), 'hex');
  const b = Buffer.from(storedHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}
