/**
 * @module http/v2/route
 * Parses a `/v2/…` path into what it addresses. Repository names contain slashes, so routes are
 * recognised from the right, most specific suffix first (`blobs/uploads/<id>` before
 * `blobs/<digest>`). Nothing here is trusted yet: names, digests and ids are validated by the
 * handlers before any lookup.
 */

export type V2Route =
  | { kind: 'base' }
  | { kind: 'catalog' }
  | { kind: 'token' }
  | { kind: 'tags'; name: string }
  | { kind: 'manifest'; name: string; reference: string }
  | { kind: 'uploads'; name: string }
  | { kind: 'upload'; name: string; id: string }
  | { kind: 'blob'; name: string; digest: string }
  | { kind: 'referrers'; name: string; digest: string }
  | { kind: 'unknown' };

const PATTERNS: readonly [RegExp, (m: RegExpExecArray) => V2Route][] = [
  [/^(.+)\/tags\/list$/, (m) => ({ kind: 'tags', name: m[1] ?? '' })],
  [
    /^(.+)\/manifests\/([^/]+)$/,
    (m) => ({ kind: 'manifest', name: m[1] ?? '', reference: decode(m[2]) }),
  ],
  [/^(.+)\/blobs\/uploads\/?$/, (m) => ({ kind: 'uploads', name: m[1] ?? '' })],
  [
    /^(.+)\/blobs\/uploads\/([^/]+)$/,
    (m) => ({ kind: 'upload', name: m[1] ?? '', id: decode(m[2]) }),
  ],
  [/^(.+)\/blobs\/([^/]+)$/, (m) => ({ kind: 'blob', name: m[1] ?? '', digest: decode(m[2]) })],
  [
    /^(.+)\/referrers\/([^/]+)$/,
    (m) => ({ kind: 'referrers', name: m[1] ?? '', digest: decode(m[2]) }),
  ],
];

/** `path` is the part after `/v2/`, without the query string, still percent-encoded. */
export function parseV2Path(path: string): V2Route {
  if (path === '') return { kind: 'base' };
  if (path === '_catalog') return { kind: 'catalog' };
  if (path === 'token') return { kind: 'token' };
  for (const [pattern, build] of PATTERNS) {
    const m = pattern.exec(path);
    if (m) return build(m);
  }
  return { kind: 'unknown' };
}

/** Only the last segment (a reference, digest or id) is decoded: `sha256%3A…` is common. */
function decode(segment: string | undefined): string {
  if (segment === undefined) return '';
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
