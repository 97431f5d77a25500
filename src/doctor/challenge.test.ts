import { describe, expect, it } from 'vitest';
import { analyzeChallenge, parseChallenge } from './challenge.js';
import { parseTarget } from './runner.js';

describe('parseChallenge', () => {
  it('reads the scheme and quoted parameters, keeping commas inside quotes', () => {
    expect(
      parseChallenge(
        'Bearer realm="https://r.example/v2/token",service="berth",scope="repository:a/b:pull,push"',
      ),
    ).toEqual({
      scheme: 'Bearer',
      params: {
        realm: 'https://r.example/v2/token',
        service: 'berth',
        scope: 'repository:a/b:pull,push',
      },
    });
  });

  it('accepts unquoted values, spaces around separators and escaped quotes', () => {
    expect(parseChallenge('Bearer realm = "a\\"b" , service=reg , error=invalid_token')).toEqual({
      scheme: 'Bearer',
      params: { realm: 'a"b', service: 'reg', error: 'invalid_token' },
    });
  });

  it('lower-cases parameter names and stops at a second challenge', () => {
    expect(parseChallenge('Bearer Realm="x", Basic realm="y"')).toEqual({
      scheme: 'Bearer',
      params: { realm: 'x' },
    });
  });

  it('gives null for an empty header', () => {
    expect(parseChallenge('   ')).toBeNull();
  });
});

describe('analyzeChallenge', () => {
  const https = parseTarget('https://registry.example.com:5000');
  const plain = parseTarget('http://127.0.0.1:5000');

  it('passes an absolute realm with the dialled scheme and host:port', () => {
    const a = analyzeChallenge(
      https,
      'Bearer realm="https://registry.example.com:5000/v2/token",service="berth"',
    );
    expect(a.findings.map((f) => f.status)).toEqual(['pass']);
    expect(a.realm?.href).toBe('https://registry.example.com:5000/v2/token');
    expect(a.correctedRealm).toBeUndefined();
  });

  it('treats an explicit default port like an implicit one', () => {
    const a = analyzeChallenge(
      parseTarget('https://registry.example.com'),
      'Bearer realm="https://registry.example.com:443/v2/token",service="berth"',
    );
    expect(a.findings.map((f) => f.status)).toEqual(['pass']);
  });

  it('fails an http:// realm on an https registry and names --external-url and X-Forwarded-Proto', () => {
    const a = analyzeChallenge(
      https,
      'Bearer realm="http://registry.example.com:5000/v2/token",service="berth"',
    );
    expect(a.findings).toHaveLength(1);
    const [f] = a.findings;
    expect(f?.status).toBe('fail');
    expect(f?.summary).toContain('http:// on an https registry');
    expect(f?.fix).toContain('--external-url https://registry.example.com:5000');
    expect(f?.fix).toContain('--trusted-proxy');
    expect(f?.fix).toContain('X-Forwarded-Proto');
    expect(a.correctedRealm?.href).toBe('https://registry.example.com:5000/v2/token');
  });

  it('does not also call the default port of an http realm a host mismatch', () => {
    const a = analyzeChallenge(
      parseTarget('https://registry.example.com'),
      'Bearer realm="http://registry.example.com/v2/token",service="berth"',
    );
    expect(a.findings.map((f) => [f.status, f.summary.includes('http://')])).toEqual([
      ['fail', true],
    ]);
  });

  it('warns when the realm names another host:port than the one dialled', () => {
    const a = analyzeChallenge(
      https,
      'Bearer realm="https://10.0.0.5:5001/v2/token",service="berth"',
    );
    expect(a.findings).toHaveLength(1);
    expect(a.findings[0]).toMatchObject({
      status: 'warn',
      summary: expect.stringContaining(
        '10.0.0.5:5001, but the client dialled registry.example.com:5000',
      ) as string,
    });
    expect(a.correctedRealm?.origin).toBe('https://registry.example.com:5000');
  });

  it('fails a relative realm', () => {
    const a = analyzeChallenge(https, 'Bearer realm="/v2/token",service="berth"');
    expect(a.findings[0]).toMatchObject({
      status: 'fail',
      summary: expect.stringContaining('not an absolute') as string,
    });
    expect(a.realm).toBeUndefined();
  });

  it('fails a 401 without a challenge and a Bearer challenge without realm', () => {
    expect(analyzeChallenge(https, undefined).findings[0]?.status).toBe('fail');
    expect(analyzeChallenge(https, 'Bearer service="x"').findings[0]).toMatchObject({
      status: 'fail',
      summary: 'the Bearer challenge has no realm',
    });
  });

  it('says a Basic challenge asks for Basic credentials, and blames nobody', () => {
    const a = analyzeChallenge(plain, 'Basic realm="Registry"');
    expect(a.findings[0]).toMatchObject({
      status: 'warn',
      summary: 'the registry asks for Basic credentials (no token realm)',
    });
    const text = `${a.findings[0]?.summary} ${a.findings[0]?.explanation} ${a.findings[0]?.fix}`;
    expect(text).not.toMatch(/proxy/i);
    expect(a.challenge?.scheme).toBe('Basic');
  });

  it('warns about an error code on an anonymous challenge and a missing service', () => {
    const a = analyzeChallenge(
      plain,
      'Bearer realm="http://127.0.0.1:5000/v2/token",error="invalid_token"',
    );
    expect(a.findings.map((f) => f.summary)).toEqual([
      'the Bearer challenge names no service',
      'an anonymous /v2/ gets error="invalid_token"',
    ]);
  });

  it('warns about an https realm on a plain-HTTP registry', () => {
    const a = analyzeChallenge(plain, 'Bearer realm="https://127.0.0.1:5000/v2/token",service="b"');
    expect(a.findings[0]).toMatchObject({
      status: 'warn',
      summary: expect.stringContaining('https on a plain-HTTP') as string,
    });
  });
});
