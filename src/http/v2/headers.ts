/**
 * @module http/v2/headers
 * Parsing of the request headers and query values the distribution API depends on.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { RegistryError } from '../../core/errors.js';
import type { ByteRange } from '../../core/types.js';
import type { ChunkRange } from '../../registry/uploads.js';

/** True when the request carries a body (even an empty chunked one). */
export function hasBody(headers: IncomingHttpHeaders): boolean {
  if (headers['transfer-encoding'] !== undefined) return true;
  const length = headers['content-length'];
  return length !== undefined && length !== '0';
}

/** `Content-Range: <start>-<end>` of an upload chunk (spec form; `bytes ` prefixes tolerated). */
export function parseContentRange(headers: IncomingHttpHeaders): ChunkRange | null {
  const value = headers['content-range'];
  if (value === undefined) return null;
  const m = /^(?:bytes[ =])?(\d{1,15})-(\d{1,15})(?:\/(?:\d+|\*))?$/.exec(value.trim());
  if (!m)
    throw new RegistryError('BLOB_UPLOAD_INVALID', 'Content-Range must be "<start>-<end>"', {
      contentRange: value.slice(0, 100),
    });
  const start = Number(m[1]);
  const end = Number(m[2]);
  if (end < start)
    throw new RegistryError('RANGE_INVALID', 'Content-Range end is before its start');
  const length = headers['content-length'];
  if (length !== undefined && Number(length) !== end - start + 1) {
    throw new RegistryError('BLOB_UPLOAD_INVALID', 'Content-Length does not match Content-Range');
  }
  return { start, end };
}

export type RangeRequest =
  { kind: 'full' } | { kind: 'partial'; range: ByteRange } | { kind: 'unsatisfiable' };

/**
 * `Range` of a blob GET (RFC 9110 §14). One range is served as 206; a syntactically valid range
 * that cannot be satisfied is 416; multiple ranges or other units are ignored (200, as allowed).
 */
export function parseRange(value: string | undefined, size: number): RangeRequest {
  if (value === undefined) return { kind: 'full' };
  const m = /^bytes=(\d*)-(\d*)$/.exec(value.trim());
  if (!m || (m[1] === '' && m[2] === '')) return { kind: 'full' };
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', range: { start: Math.max(size - suffix, 0), end: size - 1 } };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || (m[2] !== '' && Number(m[2]) < start)) return { kind: 'unsatisfiable' };
  return { kind: 'partial', range: { start, end } };
}

/**
 * Whether a `Range` may be honoured under this `If-Range` (RFC 9110 §13.1.5), for a representation
 * whose only validator is the strong `etag` (content-addressed content: the digest never changes).
 * No If-Range: yes. An entity tag: only a strong match (a weak `W/"…"` never matches). An HTTP date:
 * never. Immutability would make any date harmless, but the RFC lets a date match only a strong
 * Last-Modified it equals exactly, and we send no Last-Modified (a blob file's mtime changes with
 * copies and restores, so it would not be a validator of the bytes). A false condition makes the
 * caller ignore Range and answer 200 with the whole content, which is always correct.
 */
export function ifRangeAllows(ifRange: string | string[] | undefined, etag: string): boolean {
  return ifRange === undefined || (typeof ifRange === 'string' && ifRange.trim() === etag);
}

/**
 * Whether a manifest of `mediaType` may be returned for this `Accept`. Only an Accept that names
 * manifest types, none of them this one and no wildcard, refuses (browsers and old clients that
 * send `application/json` or nothing get the manifest as stored).
 */
export function acceptsManifest(
  accept: string | undefined,
  mediaType: string,
  manifestTypes: readonly string[],
): boolean {
  if (!accept) return true;
  let namesManifestTypes = false;
  for (const part of accept.split(',')) {
    const type = part.split(';')[0]?.trim().toLowerCase() ?? '';
    if (type === mediaType || type === '*/*' || type === 'application/*') return true;
    if (manifestTypes.includes(type)) namesManifestTypes = true;
  }
  return !namesManifestTypes;
}

/** `n` of a paginated listing: absent → undefined; otherwise a non-negative integer. */
export function parsePageSize(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !/^\d{1,9}$/.test(value)) {
    throw new RegistryError('PAGINATION_NUMBER_INVALID', 'n must be a non-negative integer', {
      n: typeof value === 'string' ? value.slice(0, 50) : typeof value,
    });
  }
  return Number(value);
}

/** One value of a query parameter that may repeat; the last one wins. */
export function queryValue(query: unknown, key: string): string | undefined {
  const value = (query as Record<string, unknown>)[key];
  if (Array.isArray(value)) return value.length > 0 ? String(value[value.length - 1]) : undefined;
  return typeof value === 'string' ? value : undefined;
}

export function queryValues(query: unknown, key: string): string[] {
  const value = (query as Record<string, unknown>)[key];
  if (Array.isArray(value)) return value.map(String);
  return typeof value === 'string' ? [value] : [];
}
