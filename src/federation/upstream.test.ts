import { describe, expect, it } from 'vitest';
import { parseChallenge } from './upstream.js';

describe('parseChallenge', () => {
  it('reads a Bearer challenge as Docker Hub sends it', () => {
    expect(
      parseChallenge(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"',
      ),
    ).toEqual({
      scheme: 'bearer',
      realm: 'https://auth.docker.io/token',
      service: 'registry.docker.io',
    });
  });

  it('reads Basic, and refuses what it cannot use', () => {
    expect(parseChallenge('Basic realm="Registry Realm"')).toEqual({ scheme: 'basic' });
    expect(parseChallenge('Bearer service="x"')).toBeNull();
    expect(parseChallenge('Bearer realm="file:///etc/passwd"')).toBeNull();
    expect(parseChallenge('Negotiate abc')).toBeNull();
    expect(parseChallenge(null)).toBeNull();
  });
});
