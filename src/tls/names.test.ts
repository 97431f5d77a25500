import { describe, expect, it } from 'vitest';
import { ConfigError } from '../config/load.js';
import { certificateNames, isDnsName, normalizeIp } from './names.js';
import { dialName, dialNames } from './client-setup.js';
import { certificateCovers } from './check.js';

describe('certificate names', () => {
  it('lower-cases DNS names, moves IPs given as hosts to the IPs and drops duplicates', () => {
    const names = certificateNames(
      ['Registry.Example.COM', '10.0.0.5', 'registry.example.com.', 'b.example.com,c.example.com'],
      ['10.0.0.5', '[::1]', '0:0:0:0:0:0:0:1'],
    );
    expect(names.dns).toEqual(['registry.example.com', 'b.example.com', 'c.example.com']);
    expect(names.ips).toEqual(['10.0.0.5', '::1']);
  });

  it.each(['under_score.example.com', '-lead.example.com', 'a..b', 'a'.repeat(64) + '.com', '*'])(
    'refuses the host %s and names it',
    (host) => {
      expect(() => certificateNames([host], [])).toThrow(ConfigError);
      expect(() => certificateNames([host], [])).toThrow(host);
    },
  );

  it('refuses an --ip that is not an IP address', () => {
    expect(() => certificateNames(['a.example.com'], ['10.0.0.256'])).toThrow(
      '--ip 10.0.0.256: not an IP address',
    );
  });

  it('needs at least one name', () => {
    expect(() => certificateNames([], [])).toThrow(/at least one name/);
  });

  it('accepts a wildcard only as the whole first label of a longer name', () => {
    expect(isDnsName('*.example.com')).toBe(true);
    expect(isDnsName('*.com')).toBe(false);
    expect(isDnsName('a*.example.com')).toBe(false);
  });

  it('writes IPv6 addresses in their compressed form', () => {
    expect(normalizeIp('FE80:0000:0000:0000:0000:0000:0000:0001')).toBe('fe80::1');
    expect(normalizeIp('::ffff:10.0.0.5')).toBe('::ffff:a00:5');
    expect(normalizeIp('registry.example.com')).toBeNull();
  });

  it('matches a host against DNS names, wildcards one label deep, and IPs', () => {
    const names = { dns: ['*.example.com', 'registry.test'], ips: ['::1'] };
    expect(certificateCovers(names, 'a.example.com')).toBe(true);
    expect(certificateCovers(names, 'a.b.example.com')).toBe(false);
    expect(certificateCovers(names, 'example.com')).toBe(false);
    expect(certificateCovers(names, 'REGISTRY.test')).toBe(true);
    expect(certificateCovers(names, '0:0::1')).toBe(true);
    expect(certificateCovers(names, '127.0.0.1')).toBe(false);
  });
});

describe('the host:port clients dial', () => {
  it('puts IPv6 in brackets and leaves out port 443, as docker names its certs.d folders', () => {
    expect(dialName('registry.example.com', 5000)).toBe('registry.example.com:5000');
    expect(dialName('registry.example.com', 443)).toBe('registry.example.com');
    expect(dialName('::1', 5000)).toBe('[::1]:5000');
  });

  it('lists real names first and loopback names last', () => {
    expect(
      dialNames(
        { dns: ['localhost', 'registry.example.com'], ips: ['127.0.0.1', '10.0.0.5'] },
        5000,
      ),
    ).toEqual(['registry.example.com:5000', '10.0.0.5:5000', 'localhost:5000', '127.0.0.1:5000']);
  });
});
