import { describe, expect, it } from 'vitest';
import {
  childRequired,
  matchImmutableRule,
  parseIndexChildren,
  parseTagPatterns,
  platformKey,
} from './namespace-policy.js';

describe('immutable-tag patterns', () => {
  it.each([
    ['v*', 'v1.0', 'v*'],
    ['v*', 'v', 'v*'],
    ['release-?', 'release-1', 'release-?'],
    ['v1.*', 'v1.2', 'v1.*'],
  ])('%s matches %s', (pattern, tag, rule) => {
    expect(matchImmutableRule([pattern], tag)).toBe(rule);
  });

  it.each([
    ['v*', 'latest'],
    ['release-?', 'release-10'],
    ['release-?', 'release-'],
    // "." is a literal dot, not "any character".
    ['v1.*', 'v1x2'],
    // Anchored at both ends.
    ['v1', 'v10'],
    ['v1', 'xv1'],
  ])('%s does not match %s', (pattern, tag) => {
    expect(matchImmutableRule([pattern], tag)).toBeNull();
  });

  it('names the first rule that matches', () => {
    expect(matchImmutableRule(['latest', '*-rc', 'v*'], 'v2-rc')).toBe('*-rc');
  });

  it('refuses what is not a tag glob and drops duplicates', () => {
    expect(parseTagPatterns(['v*', 'v*', 'x?'])).toEqual(['v*', 'x?']);
    for (const bad of ['', 'a/b', 'a b', '[abc]', 'x'.repeat(129)]) {
      expect(() => parseTagPatterns([bad])).toThrow(/is not a tag pattern/);
    }
  });
});

describe('index children', () => {
  it('parses all, none and platform lists', () => {
    expect(parseIndexChildren('all')).toBe('all');
    expect(parseIndexChildren(' none ')).toBe('none');
    expect(parseIndexChildren('linux/amd64, linux/arm64/v8,linux/amd64')).toEqual([
      'linux/amd64',
      'linux/arm64/v8',
    ]);
    for (const bad of ['', 'linux', 'linux/', 'Linux/AMD64', 'linux/amd64,', 'a/b/c/d'])
      expect(() => parseIndexChildren(bad)).toThrow(/is not "all", "none"/);
  });

  it('requires a child by its platform: os/arch covers every variant, os/arch/variant one', () => {
    const policy = parseIndexChildren('linux/amd64,linux/arm64/v8');
    expect(childRequired(policy, 'linux/amd64')).toBe(true);
    expect(childRequired(policy, 'linux/amd64/v3')).toBe(true);
    expect(childRequired(policy, 'linux/arm64/v8')).toBe(true);
    expect(childRequired(policy, 'linux/arm64')).toBe(false);
    expect(childRequired(policy, 'linux/amd640')).toBe(false);
    // Attestations (unknown/unknown) and children without a platform are never required.
    expect(childRequired(policy, 'unknown/unknown')).toBe(false);
    expect(childRequired(policy, null)).toBe(false);
    expect(childRequired('all', null)).toBe(true);
    expect(childRequired('none', 'linux/amd64')).toBe(false);
  });

  it('reads a platform from an index descriptor', () => {
    expect(platformKey({ os: 'linux', architecture: 'arm64', variant: 'v8' })).toBe(
      'linux/arm64/v8',
    );
    expect(platformKey({ os: 'linux', architecture: 'amd64', variant: '' })).toBe('linux/amd64');
    expect(platformKey({ os: 'linux' })).toBeNull();
    expect(platformKey(undefined)).toBeNull();
  });
});
