import { describe, expect, it } from 'vitest';
import { parseV2Path } from './route.js';

describe('parseV2Path', () => {
  it.each([
    ['', { kind: 'base' }],
    ['_catalog', { kind: 'catalog' }],
    ['a/b/tags/list', { kind: 'tags', name: 'a/b' }],
    ['a/manifests/latest', { kind: 'manifest', name: 'a', reference: 'latest' }],
    ['a/b/manifests/sha256%3Aab', { kind: 'manifest', name: 'a/b', reference: 'sha256:ab' }],
    ['a/blobs/uploads/', { kind: 'uploads', name: 'a' }],
    ['a/blobs/uploads', { kind: 'uploads', name: 'a' }],
    ['a/blobs/uploads/123', { kind: 'upload', name: 'a', id: '123' }],
    ['a/blobs/sha256:ab', { kind: 'blob', name: 'a', digest: 'sha256:ab' }],
    ['a/referrers/sha256:ab', { kind: 'referrers', name: 'a', digest: 'sha256:ab' }],
    // Names that contain route words still route by their suffix.
    ['x/blobs/b/blobs/sha256:ab', { kind: 'blob', name: 'x/blobs/b', digest: 'sha256:ab' }],
    ['x/manifests/y/manifests/v1', { kind: 'manifest', name: 'x/manifests/y', reference: 'v1' }],
    ['tags/list/tags/list', { kind: 'tags', name: 'tags/list' }],
    ['a/nothing', { kind: 'unknown' }],
  ])('%j', (path, expected) => {
    expect(parseV2Path(path)).toEqual(expected);
  });

  it('does not decode the name, so %2f cannot smuggle a slash past the grammar', () => {
    expect(parseV2Path('a%2F..%2Fb/tags/list')).toEqual({ kind: 'tags', name: 'a%2F..%2Fb' });
  });
});
