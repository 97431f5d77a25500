import { describe, expect, it } from 'vitest';
import { hostKey, mirrorScopes } from './mirror.js';

describe('mirror name mapping', () => {
  it("takes Docker Hub's host names as docker.io, the ns containerd sends", () => {
    for (const host of ['registry-1.docker.io', 'index.docker.io', 'docker.io', 'Docker.IO'])
      expect(hostKey(host)).toBe('docker.io');
    expect(hostKey('ghcr.io')).toBe('ghcr.io');
    expect(hostKey('127.0.0.1:5000')).toBe('127.0.0.1:5000');
    expect(hostKey('127.0.0.1:5000')).not.toBe(hostKey('127.0.0.1:5001'));
  });

  it('moves repository scopes into the namespace and leaves the catalog scope alone', () => {
    expect(
      mirrorScopes(
        [
          { type: 'repository', name: 'library/alpine', actions: ['pull'] },
          { type: 'registry', name: 'catalog', actions: ['*'] },
        ],
        'hub',
      ),
    ).toEqual([
      { type: 'repository', name: 'hub/library/alpine', actions: ['pull'] },
      { type: 'registry', name: 'catalog', actions: ['*'] },
    ]);
  });
});
