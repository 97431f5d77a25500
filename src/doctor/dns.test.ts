import { describe, expect, it } from 'vitest';
import { dockerLoopback, loopbackAdvice } from './dns.js';
import { parseTarget } from './runner.js';

describe('dockerLoopback', () => {
  it('finds the addresses docker treats as insecure: 127.0.0.0/8, also IPv4-mapped, not ::1', () => {
    expect(
      dockerLoopback(['127.0.0.1', '127.1.2.3', '::ffff:127.0.0.1', '::1', '10.0.0.5']),
    ).toEqual(['127.0.0.1', '127.1.2.3', '::ffff:127.0.0.1']);
  });
});

describe('loopbackAdvice', () => {
  it('says docker skips TLS verification and certs.d there for https', () => {
    const a = loopbackAdvice(parseTarget('https://localhost:5000'), ['127.0.0.1']);
    expect(a.summary).toBe('localhost resolves to 127.0.0.1: loopback');
    expect(a.explanation).toContain('skips certificate verification');
    expect(a.explanation).toContain('certs.d');
    expect(a.fix).toContain('::1');
  });

  it('says other machines need a real address for plain HTTP', () => {
    const a = loopbackAdvice(parseTarget('http://127.0.0.1:5000'), ['127.0.0.1']);
    expect(a.summary).toBe('the address is 127.0.0.1: loopback');
    expect(a.explanation).toContain('other machines');
  });
});
