import { describe, expect, it } from 'vitest';
import { formatDuration, judgeLifetime } from './lifetime.js';

describe('judgeLifetime', () => {
  it('passes when a 2 GB layer uploads within the token lifetime', () => {
    const f = judgeLifetime(300, { bytes: 50_000_000, bytesPerSecond: 100_000_000 });
    expect(f).toMatchObject({
      status: 'pass',
      summary:
        'a 2 GB layer takes about 20 s at the measured 100 MB/s, within the token lifetime (5 min)',
      data: { estimateSeconds: 20, expiresIn: 300 },
    });
  });

  it('warns when it outlasts the token, saying Berth tolerates it and others may not', () => {
    const f = judgeLifetime(300, { bytes: 50_000_000, bytesPerSecond: 2_000_000 });
    expect(f.status).toBe('warn');
    expect(f.summary).toContain(
      'about 17 min at the measured 2.0 MB/s, longer than the token lifetime (5 min)',
    );
    expect(f.explanation).toContain('Berth binds an upload to the user who started it');
    expect(f.explanation).toContain('other registries');
  });

  it('skips without a rate, with a sample too small to mean anything, or without a token', () => {
    expect(judgeLifetime(300, undefined).status).toBe('skip');
    expect(judgeLifetime(300, { bytes: 1_000_000, bytesPerSecond: 1 }).summary).toContain(
      'too small',
    );
    expect(judgeLifetime(undefined, { bytes: 50_000_000, bytesPerSecond: 1e6 }).status).toBe(
      'skip',
    );
  });
});

describe('formatDuration', () => {
  it('uses seconds, minutes or hours', () => {
    expect([
      formatDuration(0.2),
      formatDuration(89),
      formatDuration(600),
      formatDuration(7200),
    ]).toEqual(['1 s', '89 s', '10 min', '2.0 h']);
  });
});
