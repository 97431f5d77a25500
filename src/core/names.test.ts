import { describe, expect, it } from 'vitest';
import {
  canonicalName,
  isValidName,
  isValidTag,
  namespaceOf,
  parseName,
  type RepoName,
} from './names.js';

describe('repository names (distribution-spec grammar)', () => {
  it.each(['a', 'library/nginx', 'a0/b-c/d__e/f.g', 'x--y', 'team/sub/deep/name', 'a'.repeat(255)])(
    'accepts %s',
    (name) => {
      expect(isValidName(name)).toBe(true);
    },
  );

  it.each([
    '',
    'A',
    'a/',
    '/a',
    'a//b',
    'a/../b',
    '..',
    'a.',
    '-a',
    'a___b',
    'a/.b',
    'a b',
    'a%2fb',
    'a'.repeat(256),
  ])('refuses %j', (name) => {
    expect(isValidName(name)).toBe(false);
    expect(() => parseName(name)).toThrow(/invalid repository name/);
  });
});

describe('tags', () => {
  it.each(['latest', 'v1.0.0', '_x', 'A-b_c.d', 'a'.repeat(128)])('accepts %s', (tag) => {
    expect(isValidTag(tag)).toBe(true);
  });
  it.each(['', '.hidden', '-x', 'a/b', 'a:b', 'a'.repeat(129)])('refuses %j', (tag) => {
    expect(isValidTag(tag)).toBe(false);
  });
});

describe('namespaces', () => {
  it('maps single-segment names into the default namespace', () => {
    expect(canonicalName('nginx' as RepoName, 'library')).toBe('library/nginx');
    expect(canonicalName('team/app' as RepoName, 'library')).toBe('team/app');
    expect(namespaceOf('team/app/web' as RepoName)).toBe('team');
  });

  it('checks the length after the mapping', () => {
    const longest = 'a'.repeat(255 - 'library/'.length);
    expect(canonicalName(longest as RepoName, 'library')).toBe(`library/${longest}`);
    expect(() => canonicalName(`${longest}b` as RepoName, 'library')).toThrow(
      /longer than 255 characters/,
    );
  });
});
