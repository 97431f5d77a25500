import { describe, expect, it } from 'vitest';
import {
  grantedActions,
  jwtClaims,
  namespaceOf,
  parseTokenAnswer,
  tokenHttpAdvice,
} from './token.js';

function jwt(claims: Record<string, unknown>): string {
  const part = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${part({ alg: 'ES256' })}.${part(claims)}.sig`;
}

describe('parseTokenAnswer', () => {
  const claims = {
    iat: 1_700_000_000,
    access: [{ type: 'repository', name: 'library/berth-doctor', actions: ['pull', 'push'] }],
  };

  it('reads the token, expires_in, iat and the actions granted on the repository', () => {
    const token = jwt(claims);
    const info = parseTokenAnswer(
      Buffer.from(JSON.stringify({ token, expires_in: 300 })),
      5,
      'library/berth-doctor',
    );
    expect(info).toEqual({
      token,
      expiresIn: 300,
      expiresInGiven: true,
      receivedAtMs: 5,
      issuedAtSeconds: 1_700_000_000,
      actions: ['pull', 'push'],
    });
  });

  it('prefers access_token and assumes 60 s without expires_in, as clients do', () => {
    const info = parseTokenAnswer(
      Buffer.from(JSON.stringify({ token: 'a', access_token: 'b' })),
      0,
      'x',
    );
    expect(info).toMatchObject({ token: 'b', expiresIn: 60, expiresInGiven: false });
  });

  it('explains an HTML page where JSON was expected', () => {
    const advice = parseTokenAnswer(Buffer.from('<!doctype html><p>Welcome to nginx</p>'), 0, 'x');
    expect(advice).toMatchObject({ summary: expect.stringContaining('(HTML)') as string });
    expect('fix' in advice ? advice.fix : '').toContain('/v2/token');
  });

  it('explains JSON without a token', () => {
    expect(parseTokenAnswer(Buffer.from('{"ok":true}'), 0, 'x')).toMatchObject({
      summary: expect.stringContaining('without "token"') as string,
    });
  });
});

describe('token claims', () => {
  it('maps single-segment names into library, as the registry does', () => {
    const claims = { access: [{ type: 'repository', name: 'app', actions: ['pull'] }] };
    expect(grantedActions(claims, 'library/app')).toEqual(['pull']);
    expect(grantedActions(claims, 'team/app')).toEqual([]);
    expect(grantedActions({}, 'app')).toBeUndefined();
  });

  it('gives null for something that is not a JWT', () => {
    expect(jwtClaims('opaque-token')).toBeNull();
    expect(jwtClaims('a.bm90IGpzb24.c')).toBeNull();
  });

  it('takes the first path segment as the namespace', () => {
    expect([namespaceOf('team/app/sub'), namespaceOf('app')]).toEqual(['team', 'library']);
  });
});

describe('tokenHttpAdvice', () => {
  it('says bad credentials for a 401 with a user, and how to reset them', () => {
    const a = tokenHttpAdvice(401, Buffer.alloc(0), '', 'alice', 'x');
    expect(a.summary).toBe('the token endpoint refuses the credentials of alice (401)');
    expect(a.fix).toContain('berth user passwd alice');
  });

  it('says anonymous is refused for a 401 without a user', () => {
    expect(tokenHttpAdvice(401, Buffer.alloc(0), '', undefined, 'x').summary).toContain(
      'anonymous',
    );
  });

  it('says the proxy routes the realm nowhere for a 404', () => {
    expect(tokenHttpAdvice(404, Buffer.alloc(0), '', 'alice', 'x').fix).toContain('/v2/token');
  });

  it('quotes the registry error of other statuses', () => {
    const body = Buffer.from(
      JSON.stringify({ errors: [{ code: 'UNSUPPORTED', message: 'nope' }] }),
    );
    expect(tokenHttpAdvice(400, body, 'application/json', 'a', 'x').summary).toBe(
      'the token endpoint answers 400: nope',
    );
  });
});
