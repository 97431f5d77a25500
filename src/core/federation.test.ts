import { describe, expect, it } from 'vitest';
import {
  DEFAULT_PROXY_TTL_SECONDS,
  parseProxyTtl,
  parseUpstreamUrl,
  readFederation,
  serializeFederation,
  upstreamRepository,
} from './federation.js';

describe('parseUpstreamUrl', () => {
  it('keeps the origin of a registry URL', () => {
    expect(parseUpstreamUrl('https://registry-1.docker.io')).toBe('https://registry-1.docker.io');
    expect(parseUpstreamUrl(' http://127.0.0.1:5000/v2/ ')).toBe('http://127.0.0.1:5000');
  });

  it('refuses what is no registry origin, naming the fix', () => {
    expect(() => parseUpstreamUrl('registry-1.docker.io')).toThrow(/not a URL/);
    expect(() => parseUpstreamUrl('ftp://host')).toThrow(/http:\/\/ or https:\/\//);
    expect(() => parseUpstreamUrl('https://u:p@host')).toThrow(/--proxy-username/);
    expect(() => parseUpstreamUrl('https://host/some/path')).toThrow(/origin/);
  });
});

describe('parseProxyTtl', () => {
  it('reads durations from 1s to a year', () => {
    expect(parseProxyTtl('6h')).toBe(21_600);
    expect(parseProxyTtl('1s')).toBe(1);
    expect(() => parseProxyTtl('0')).toThrow(/1s to 366d/);
    expect(() => parseProxyTtl('soon')).toThrow(/1s to 366d/);
    expect(() => parseProxyTtl('400d')).toThrow(/1s to 366d/);
  });
});

describe('stored settings', () => {
  it('round-trips a proxy and a group', () => {
    const proxy = {
      kind: 'proxy' as const,
      proxy: { url: 'http://h:1', username: 'u', password: 'p', ttlSeconds: 60 },
    };
    expect(readFederation('proxy', serializeFederation(proxy))).toEqual(proxy);
    const group = { kind: 'group' as const, group: { members: ['a', 'b'], pushTo: 'b' } };
    expect(readFederation('group', serializeFederation(group))).toEqual(group);
    expect(serializeFederation({ kind: 'hosted' })).toBeNull();
  });

  it('reads damaged JSON as a proxy that cannot work, never as hosted', () => {
    const f = readFederation('proxy', '{not json');
    expect(f).toEqual({
      kind: 'proxy',
      proxy: { url: '', username: null, password: null, ttlSeconds: DEFAULT_PROXY_TTL_SECONDS },
    });
    expect(readFederation('hosted', null)).toEqual({ kind: 'hosted' });
  });
});

describe('upstreamRepository', () => {
  it("adds Docker Hub's library/ to one-segment names, and only there", () => {
    expect(upstreamRepository('https://registry-1.docker.io', 'alpine')).toBe('library/alpine');
    expect(upstreamRepository('https://registry-1.docker.io', 'bitnami/redis')).toBe(
      'bitnami/redis',
    );
    expect(upstreamRepository('http://127.0.0.1:5000', 'alpine')).toBe('alpine');
  });
});
