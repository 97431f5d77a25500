import { describe, expect, test } from 'vitest';
import {
  indexChildrenChoice,
  indexChildrenValue,
  parsePatterns,
  parseSize,
  retentionFields,
  retentionFromFields,
  sizeText,
} from './rules';

const GiB = 1024 ** 3;

describe('parseSize', () => {
  test.each([
    ['0', 0],
    ['1048576', 1048576],
    ['512 B', 512],
    ['10 GiB', 10 * GiB],
    ['10GiB', 10 * GiB],
    ['10 gib', 10 * GiB],
    ['10Gi', 10 * GiB],
    ['1.5G', 1.5 * GiB],
    ['500 MB', 500_000_000],
    ['2 kB', 2000],
    ['1 TiB', 1024 ** 4],
    ['  3 MiB  ', 3 * 1024 ** 2],
  ])('%s is %d bytes', (text, bytes) => {
    expect(parseSize(text)).toBe(bytes);
  });

  test.each(['', 'GiB', 'ten GiB', '-1 GiB', '1.5 B', '5 iB', '10 XB', '1e3', '10 GiB!'])(
    '%j is not a size',
    (text) => {
      expect(parseSize(text)).toBeNull();
    },
  );

  test('a size beyond what a number holds exactly is refused', () => {
    expect(parseSize('99999999 PiB')).toBeNull();
  });
});

describe('sizeText', () => {
  test.each([
    [10 * GiB, '10 GiB'],
    [1.5 * GiB, '1.5 GiB'],
    [500_000_000, '500 MB'],
    [3000 * 1024 ** 2, '3000 MiB'],
    [1234, '1234 B'],
    [0, '0 B'],
    [1024, '1 KiB'],
  ])('%d bytes reads %s', (bytes, text) => {
    expect(sizeText(bytes)).toBe(text);
  });

  test('reads back to exactly the same bytes', () => {
    for (const bytes of [1, 999, 1000, 1024, 1536, 10 * GiB + 1, 7 * 1000 ** 3, 123_456_789]) {
      expect(parseSize(sizeText(bytes))).toBe(bytes);
    }
  });
});

describe('tag patterns', () => {
  test('commas or spaces separate; blanks and repeats go', () => {
    expect(parsePatterns('v*, release-*  latest,,v*')).toEqual(['v*', 'release-*', 'latest']);
    expect(parsePatterns('   ')).toEqual([]);
  });
});

describe('index children', () => {
  test('what the API stores becomes a choice and back', () => {
    expect(indexChildrenChoice(null)).toEqual({ choice: 'default', platforms: '' });
    expect(indexChildrenChoice('none')).toEqual({ choice: 'none', platforms: '' });
    expect(indexChildrenChoice('linux/amd64,linux/arm64')).toEqual({
      choice: 'platforms',
      platforms: 'linux/amd64, linux/arm64',
    });
    expect(indexChildrenValue('default', 'ignored')).toEqual({ value: null });
    expect(indexChildrenValue('all', '')).toEqual({ value: 'all' });
    expect(indexChildrenValue('platforms', 'linux/amd64, linux/arm64 linux/amd64')).toEqual({
      value: 'linux/amd64,linux/arm64',
    });
  });

  test('platforms chosen but none named is an error, not "all"', () => {
    expect(indexChildrenValue('platforms', ' , ')).toEqual({
      error: 'Name at least one platform, such as linux/amd64.',
    });
  });
});

describe('retention fields', () => {
  test('a policy round-trips through the fields', () => {
    const policy = { keepLast: 10, keepDays: 30, keepTags: '^v\\d', untaggedDays: 0 };
    expect(retentionFromFields(retentionFields(policy))).toEqual({ policy });
    expect(retentionFields(null)).toEqual({
      keepLast: '',
      keepDays: '',
      keepTags: '',
      untaggedDays: '',
    });
  });

  test('every field empty is off', () => {
    expect(retentionFromFields(retentionFields(null))).toEqual({ policy: null });
    expect(
      retentionFromFields({ keepLast: ' ', keepDays: '', keepTags: '  ', untaggedDays: '' }),
    ).toEqual({ policy: null });
  });

  test('only the fields filled in become rules', () => {
    expect(
      retentionFromFields({ keepLast: ' 5 ', keepDays: '', keepTags: '', untaggedDays: '' }),
    ).toEqual({ policy: { keepLast: 5 } });
  });

  test.each([
    [{ keepLast: '0' }, '“Keep the newest” must be a whole number of at least 1.'],
    [
      { keepDays: '2.5' },
      '“Keep tags pushed or pulled within” must be a whole number of at least 1.',
    ],
    [
      { untaggedDays: '-1' },
      '“Remove untagged manifests after” must be a whole number of at least 0.',
    ],
    [{ keepLast: '1e3' }, '“Keep the newest” must be a whole number of at least 1.'],
  ])('%j is refused', (typed, error) => {
    const fields = { keepLast: '', keepDays: '', keepTags: '', untaggedDays: '', ...typed };
    expect(retentionFromFields(fields)).toEqual({ error });
  });
});
