import { describe, expect, it } from 'vitest';
import { formatSize, parseSize, quotaExceeded } from './quota.js';

const GiB = 1024 ** 3;

describe('parseSize', () => {
  it.each([
    ['1048576', 1048576],
    ['0', 0],
    ['512B', 512],
    ['10GiB', 10 * GiB],
    ['10gib', 10 * GiB],
    ['10 GiB', 10 * GiB],
    ['1.5G', 1.5 * GiB],
    ['2k', 2048],
    ['3MiB', 3 * 1024 ** 2],
    ['1T', 1024 ** 4],
    ['500MB', 500_000_000],
    ['2GB', 2_000_000_000],
    ['1.5KB', 1500],
    ['0.5K', 512],
    // A fraction of a byte is cut.
    ['1.0001K', 1024],
  ])('%s is %d bytes', (text, bytes) => {
    expect(parseSize(text)).toBe(bytes);
  });

  it.each(['', 'ten', '-1', '1.5.2G', '10 XB', 'G', '1e9', '99999999999T'])(
    '%j is refused',
    (text) => {
      expect(() => parseSize(text)).toThrow(/is not a size/);
    },
  );
});

describe('formatSize', () => {
  it.each([
    [0, '0 B'],
    [1023, '1023 B'],
    [1024, '1 KiB'],
    [1536, '1.5 KiB'],
    [10 * GiB, '10 GiB'],
    [9.8 * GiB, '9.8 GiB'],
    // Cut, not rounded: just under the quota never reads as the quota itself.
    [9.99 * GiB, '9.9 GiB'],
    [1024 ** 5 * 3, '3 PiB'],
  ])('%d bytes read %s', (bytes, text) => {
    expect(formatSize(bytes)).toBe(text);
  });
});

describe('quotaExceeded', () => {
  it('is DENIED with the message docker prints and the numbers in the detail', () => {
    const e = quotaExceeded({ namespace: 'team', usedBytes: 9.8 * GiB, quotaBytes: 10 * GiB });
    expect(e.code).toBe('DENIED');
    expect(e.message).toBe('quota exceeded: namespace team uses 9.8 GiB of 10 GiB');
    expect(e.detail).toMatchObject({
      namespace: 'team',
      usedBytes: 9.8 * GiB,
      quotaBytes: 10 * GiB,
    });
  });

  it('names what the push needs when the usage alone is under the quota', () => {
    const e = quotaExceeded({
      namespace: 'team',
      usedBytes: 2 * GiB,
      quotaBytes: 10 * GiB,
      addingBytes: 9 * GiB,
    });
    expect(e.message).toBe(
      'quota exceeded: namespace team uses 2 GiB of 10 GiB; this push needs 9 GiB more',
    );
  });
});
