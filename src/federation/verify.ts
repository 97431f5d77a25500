/**
 * @module federation/verify
 * Bytes from an upstream are checked against the digest they were asked for while they pass. The
 * last chunk is held back until the whole body is verified, so a client never receives all of a
 * blob whose digest or length is wrong: the stream fails instead, and the client sees a short
 * body, not wrong content.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { createDigester, digestAlgorithm, type Digest } from '../core/digest.js';

export class UpstreamContentError extends Error {
  override readonly name = 'UpstreamContentError';
}

/** `size` null when the upstream did not say (then only the digest is checked). */
export function verifying(digest: Digest, size: number | null): Transform {
  const digester = createDigester(digestAlgorithm(digest));
  let held: Buffer | null = null;
  let received = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      received += chunk.length;
      digester.update(chunk);
      if (size !== null && received > size) {
        callback(
          new UpstreamContentError(`upstream sent more than the ${size} bytes of ${digest}`),
        );
        return;
      }
      const previous = held;
      held = chunk;
      callback(null, previous ?? undefined);
    },
    flush(callback: TransformCallback) {
      if (size !== null && received !== size) {
        callback(
          new UpstreamContentError(`upstream sent ${received} of the ${size} bytes of ${digest}`),
        );
        return;
      }
      const actual = digester.digest();
      if (actual !== digest) {
        callback(
          new UpstreamContentError(`upstream sent content of digest ${actual} for ${digest}`),
        );
        return;
      }
      callback(null, held ?? undefined);
    },
  });
}
