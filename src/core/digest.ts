/**
 * @module core/digest
 * Digests as the OCI image spec defines them (`algorithm ":" encoded`), parsed once at the edge
 * into a branded string. Only registered algorithms with their exact hex length are accepted, which
 * also guarantees that a digest can never carry `/`, `.` or anything else that could escape a
 * storage key.
 */
import { createHash, type Hash } from 'node:crypto';
import { createSHA256, createSHA512, type IHasher } from 'hash-wasm';
import { digestInvalid } from './errors.js';

export type Digest = string & { readonly __brand: 'Digest' };
export type DigestAlgorithm = 'sha256' | 'sha512';

const HEX_LENGTH: Readonly<Record<DigestAlgorithm, number>> = { sha256: 64, sha512: 128 };
const GRAMMAR = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

export const DIGEST_ALGORITHMS: readonly DigestAlgorithm[] = ['sha256', 'sha512'];

export function isDigestAlgorithm(value: string): value is DigestAlgorithm {
  return value === 'sha256' || value === 'sha512';
}

/** Parses a digest; throws DIGEST_INVALID for bad grammar, an unknown algorithm or bad hex. */
export function parseDigest(value: string): Digest {
  if (value.length > 300 || !GRAMMAR.test(value)) {
    throw digestInvalid('invalid digest format', { digest: value.slice(0, 300) });
  }
  const colon = value.indexOf(':');
  const algorithm = value.slice(0, colon);
  const hex = value.slice(colon + 1);
  if (!isDigestAlgorithm(algorithm)) {
    throw digestInvalid(`unsupported digest algorithm "${algorithm}"`, { digest: value });
  }
  if (hex.length !== HEX_LENGTH[algorithm] || !/^[0-9a-f]+$/.test(hex)) {
    throw digestInvalid(
      `invalid ${algorithm} digest: expected ${HEX_LENGTH[algorithm]} lowercase hex characters`,
      {
        digest: value,
      },
    );
  }
  return value as Digest;
}

/** Returns the digest, or null if the value is not a valid digest (for "tag or digest?" checks). */
export function tryParseDigest(value: string): Digest | null {
  try {
    return parseDigest(value);
  } catch {
    return null;
  }
}

export function digestAlgorithm(digest: Digest): DigestAlgorithm {
  return digest.slice(0, digest.indexOf(':')) as DigestAlgorithm;
}

export function digestHex(digest: Digest): string {
  return digest.slice(digest.indexOf(':') + 1);
}

export function digestOf(data: Uint8Array, algorithm: DigestAlgorithm = 'sha256'): Digest {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}` as Digest;
}

/** An incremental hasher whose result is a Digest. */
export interface Digester {
  readonly algorithm: DigestAlgorithm;
  update(chunk: Uint8Array): void;
  digest(): Digest;
  /** The state reached so far, to go on elsewhere (`resumeDigester`); only resumable digesters. */
  save?: () => Uint8Array;
}

export function createDigester(algorithm: DigestAlgorithm = 'sha256'): Digester {
  const hash: Hash = createHash(algorithm);
  return {
    algorithm,
    update: (chunk) => void hash.update(chunk),
    digest: () => `${algorithm}:${hash.digest('hex')}` as Digest,
  };
}

/**
 * A digester whose state can be saved and loaded in another process: what lets any replica go on
 * hashing an upload another one started. OpenSSL's hashes (createDigester) cannot export their
 * state, so this one is WebAssembly: about 10× slower (≈120 MB/s of SHA-256 per core here), which
 * is why only the scale-out mode, where uploads move between replicas, uses it. With `state`
 * it goes on from there; a state that does not load gives null (hash the stored bytes instead).
 */
export async function resumeDigester(
  algorithm: DigestAlgorithm,
  state?: Uint8Array | null,
): Promise<Digester | null> {
  const hasher: IHasher = algorithm === 'sha256' ? await createSHA256() : await createSHA512();
  if (state) {
    try {
      hasher.load(state);
    } catch {
      return null;
    }
  } else hasher.init();
  return {
    algorithm,
    update: (chunk) => void hasher.update(chunk),
    digest: () => `${algorithm}:${hasher.digest('hex')}` as Digest,
    save: () => hasher.save(),
  };
}
