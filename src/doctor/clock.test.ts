import { describe, expect, it } from 'vitest';
import { checkClock, judgeSkew } from './clock.js';
import { parseTarget } from './runner.js';
import type { DoctorState } from './types.js';

describe('judgeSkew', () => {
  it('passes skews up to 30 s', () => {
    expect(
      judgeSkew([
        { source: 'Date header', seconds: -29.6 },
        { source: 'token iat', seconds: 2 },
      ]),
    ).toMatchObject({
      status: 'pass',
      summary: 'clocks agree (Date header -30 s, token iat +2 s)',
    });
  });

  it('warns above 30 s, naming the direction and NTP', () => {
    const f = judgeSkew([
      { source: 'Date header', seconds: 1 },
      { source: 'token iat', seconds: -95 },
    ]);
    expect(f.status).toBe('warn');
    expect(f.summary).toContain("the server's clock is 95 s behind this one");
    expect(f.explanation).toContain('expired');
    expect(f.fix).toContain('NTP');
  });

  it('skips without samples', () => {
    expect(judgeSkew([]).status).toBe('skip');
  });
});

describe('checkClock', () => {
  it('compares the Date header and the token iat with the local clock', () => {
    const state: DoctorState = {
      target: parseTarget('http://127.0.0.1:5000'),
      ca: [],
      caSources: [],
      tlsVerified: true,
      reachable: true,
      serverDate: { serverMs: 1_000_000, localMs: 1_000_000 - 45_000 },
      token: {
        token: 't',
        expiresIn: 300,
        expiresInGiven: true,
        receivedAtMs: 2_000_000,
        issuedAtSeconds: 2000,
      },
    };
    expect(checkClock(state)[0]?.data).toEqual({ 'Date header': 45, 'token iat': 0 });
    expect(checkClock(state)[0]?.status).toBe('warn');
  });
});
