import { describe, expect, it } from 'vitest';
import { RegistryError } from './errors.js';
import { createDigester, digestOf, parseDigest, tryParseDigest } from './digest.js';

const EMPTY256 = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

describe('parseDigest', () => {
  it('accepts sha256 and sha512 with exact lowercase hex', () => {
    expect(parseDigest(EMPTY256)).toBe(EMPTY256);
    expect(parseDigest(digestOf(Buffer.from(''), 'sha512'))).toMatch(/^sha512:[0-9a-f]{128}$/);
  });

  it.each([
    ['too short', 'sha256:abc'],
    ['uppercase hex', EMPTY256.toUpperCase().replace('SHA256', 'sha256')],
    ['unknown algorithm', 'md5:d41d8cd98f00b204e9800998ecf8427e'],
    ['sha512 length on sha256', `sha256:${'a'.repeat(128)}`],
    ['no algorithm', ':abc'],
    ['path traversal', 'sha256:../../etc/passwd'],
    ['a slash', `sha256:${'a'.repeat(63)}/`],
    ['huge', `sha256:${'a'.repeat(5000)}`],
  ])('refuses %s with DIGEST_INVALID', (_what, value) => {
    expect(() => parseDigest(value)).toThrow(RegistryError);
    try {
      parseDigest(value);
    } catch (e) {
      expect((e as RegistryError).code).toBe('DIGEST_INVALID');
    }
    expect(tryParseDigest(value)).toBeNull();
  });
});

describe('createDigester', () => {
  it('hashes incrementally to the same digest as one pass', () => {
    const d = createDigester('sha512');
    d.update(Buffer.from('hello '));
    d.update(Buffer.from('world'));
    expect(d.digest()).toBe(digestOf(Buffer.from('hello world'), 'sha512'));
  });
});
