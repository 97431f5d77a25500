/**
 * @module auth/passwords
 * Password hashing with argon2id (OWASP parameters: 19 MiB, 2 iterations), computed off the main
 * thread. Unknown users are checked against a dummy hash so a miss takes as long as a hit.
 */
import { randomBytes } from 'node:crypto';
import type * as Argon2 from '@node-rs/argon2';

/** `Algorithm.Argon2id` is an ambient const enum, which isolated modules cannot read: its value is 2. */
// eslint-disable-next-line @typescript-eslint/no-unsafe-enum-assignment -- see above
const ARGON2ID = 2 as Argon2.Algorithm;
const OPTIONS = { algorithm: ARGON2ID, memoryCost: 19456, timeCost: 2, parallelism: 1 };

export const MIN_PASSWORD_LENGTH = 8;

let argon2: Promise<typeof Argon2> | undefined;

/** The native module loads on first use: a start that hashes nothing (most of them) never needs it. */
function loadArgon2(): Promise<typeof Argon2> {
  argon2 ??= import('@node-rs/argon2');
  return argon2;
}

export async function hashPassword(password: string): Promise<string> {
  const { hash } = await loadArgon2();
  return hash(password, OPTIONS);
}

let dummy: Promise<string> | undefined;

/** Constant-time verification; `stored` null (no such user) still costs one argon2 run. */
export async function verifyPassword(stored: string | null, password: string): Promise<boolean> {
  const { verify } = await loadArgon2();
  if (stored === null) {
    dummy ??= hashPassword(randomBytes(16).toString('hex'));
    await verify(await dummy, password).catch(() => false);
    return false;
  }
  try {
    return await verify(stored, password);
  } catch {
    return false;
  }
}

/** A random password for the first admin: 24 characters of base64url (144 bits). */
export function generatePassword(): string {
  return randomBytes(18).toString('base64url');
}
