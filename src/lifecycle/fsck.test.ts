import { describe, expect, it } from 'vitest';
import { digestOfBlobKey, formatFinding, isRecent } from './fsck.js';

const HEX = 'ab'.padEnd(64, '0');

describe('digestOfBlobKey', () => {
  it('reads the digest of a blob key', () => {
    expect(digestOfBlobKey(`blobs/sha256/ab/${HEX}`)).toBe(`sha256:${HEX}`);
  });

  it('refuses a file that cannot be a blob of ours', () => {
    expect(digestOfBlobKey(`blobs/sha256/cd/${HEX}`)).toBeNull(); // wrong shard
    expect(digestOfBlobKey(`blobs/md5/ab/${HEX}`)).toBeNull();
    expect(digestOfBlobKey('blobs/sha256/ab/abc')).toBeNull();
    expect(digestOfBlobKey(`blobs/sha256/ab/${HEX}/x`)).toBeNull();
    expect(digestOfBlobKey(`blobs/sha256/ab/${HEX.toUpperCase()}`)).toBeNull();
  });
});

describe('isRecent', () => {
  const hour = 3_600_000;
  it('is recent within the grace and not after it', () => {
    expect(isRecent(new Date(10 * hour - 1000), 10 * hour, hour)).toBe(true);
    expect(isRecent(new Date(8 * hour), 10 * hour, hour)).toBe(false);
  });

  it('treats a file without a known time as recent (no proof of age)', () => {
    expect(isRecent(undefined, 10 * hour, hour)).toBe(true);
  });
});

describe('formatFinding', () => {
  it('says what was repaired, or that a recent file was left', () => {
    const base = { kind: 'orphan-file', subject: 'blobs/x', detail: 'no row' } as const;
    expect(formatFinding({ ...base, repaired: 'removed' })).toBe(
      'orphan-file blobs/x: no row; removed',
    );
    expect(formatFinding({ ...base, recent: true })).toBe(
      'orphan-file blobs/x: no row (recent: may be in flight; left)',
    );
  });
});
