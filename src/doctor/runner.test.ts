import { describe, expect, it } from 'vitest';
import { DoctorUsageError, formatReport, parseTarget, type DoctorReport } from './runner.js';

describe('parseTarget', () => {
  it('assumes https without a scheme, as docker does', () => {
    expect(parseTarget('registry.example.com:5000')).toMatchObject({
      https: true,
      hostname: 'registry.example.com',
      port: 5000,
      dialled: 'registry.example.com:5000',
      origin: 'https://registry.example.com:5000',
    });
  });

  it('fills in default ports and drops them from the certs.d name', () => {
    expect(parseTarget('https://registry.example.com/')).toMatchObject({
      port: 443,
      dialled: 'registry.example.com',
    });
    expect(parseTarget('http://127.0.0.1')).toMatchObject({ port: 80, https: false });
  });

  it('takes IPv6 addresses without brackets for connecting and with them for certs.d', () => {
    expect(parseTarget('https://[::1]:5443')).toMatchObject({
      hostname: '::1',
      dialled: '[::1]:5443',
    });
  });

  it('refuses other schemes and non-URLs', () => {
    expect(() => parseTarget('ftp://x')).toThrow(DoctorUsageError);
    expect(() => parseTarget('http://')).toThrow(DoctorUsageError);
  });
});

describe('formatReport', () => {
  const report: DoctorReport = {
    url: 'https://r.example',
    ok: false,
    counts: { pass: 1, warn: 1, fail: 1, skip: 1 },
    findings: [
      {
        check: 'dns',
        status: 'pass',
        summary: 'r.example resolves to 10.0.0.5',
        explanation: 'hidden',
        fix: 'hidden',
      },
      {
        check: 'realm',
        status: 'fail',
        summary: 'the realm is http://',
        explanation: 'Why.',
        fix: 'Do this.',
      },
      { check: 'clock', status: 'warn', summary: 'skewed', fix: 'NTP' },
      { check: 'lifetime', status: 'skip', summary: 'no rate' },
    ],
  };

  it('prints one line per finding with its mark, and the why and fix only under problems', () => {
    expect(formatReport(report)).toBe(
      [
        'berth doctor https://r.example',
        '✓ dns       r.example resolves to 10.0.0.5',
        '✗ realm     the realm is http://',
        '    Why.',
        '    fix: Do this.',
        '! clock     skewed',
        '    fix: NTP',
        '- lifetime  no rate',
        '1 failure: 1 passed, 1 warning, 1 skipped',
        '',
      ].join('\n'),
    );
  });

  it('wraps long advice at 100 columns with a hanging indent under "fix:"', () => {
    const long = Array.from({ length: 40 }, (_, i) => `word${i}`).join(' ');
    const text = formatReport({
      ...report,
      findings: [{ check: 'tls', status: 'fail', summary: 's', fix: long }],
    });
    const lines = text.split('\n').filter((l) => l.startsWith('    '));
    expect(lines.length).toBeGreaterThan(1);
    expect(lines.every((l) => l.length <= 100)).toBe(true);
    expect(lines[1]?.startsWith('         word')).toBe(true);
  });
});
