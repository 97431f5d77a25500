/**
 * @module http/v2/body
 * The only place a request body is buffered: manifests, which are small and capped.
 */
import type { IncomingMessage } from 'node:http';
import { RegistryError } from '../../core/errors.js';

/** Reads the whole body, refusing (413) anything over `limit` bytes without reading further. */
export async function readBounded(
  req: IncomingMessage,
  limit: number,
  what: string,
): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) throw tooLarge(what, limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > limit) throw tooLarge(what, limit);
    chunks.push(buffer);
  }
  return Buffer.concat(chunks, size);
}

function tooLarge(what: string, limit: number): RegistryError {
  return new RegistryError('TOO_LARGE', `${what} larger than ${limit} bytes`, { limit });
}
