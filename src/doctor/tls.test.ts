import { describe, expect, it } from 'vitest';
import { parseTarget } from './runner.js';
import { analyzeLeaf, caPaths, subjectAltNames, verifyAdvice } from './tls.js';

const NOW = Date.parse('2026-06-01T00:00:00Z');
const YEAR_LATER = 'Jun  1 00:00:00 2027 GMT';

describe('subjectAltNames', () => {
  it('lists DNS and IP names in the short form', () => {
    expect(subjectAltNames({ subjectaltname: 'DNS:a.example, IP Address:10.0.0.5' })).toEqual([
      'DNS:a.example',
      'IP:10.0.0.5',
    ]);
    expect(subjectAltNames({})).toEqual([]);
  });
});

describe('analyzeLeaf', () => {
  const target = parseTarget('https://registry.example.com:5000');

  it('fails a certificate without SANs as the legacy Common Name problem and gives berth cert', () => {
    const [names] = analyzeLeaf(
      { commonName: 'registry.example.com', validTo: YEAR_LATER },
      target,
      NOW,
    );
    expect(names?.status).toBe('fail');
    expect(names?.summary).toContain('legacy Common Name field (CN=registry.example.com)');
    expect(names?.explanation).toContain('x509: certificate relies on legacy Common Name field');
    expect(names?.fix).toContain('berth cert --host registry.example.com');
  });

  it('uses --ip in the fix when the client dials an address', () => {
    const [names] = analyzeLeaf({ validTo: YEAR_LATER }, parseTarget('https://10.0.0.5'), NOW);
    expect(names?.fix).toContain('berth cert --ip 10.0.0.5');
  });

  it('passes a SAN that matches, including a wildcard', () => {
    const exact = analyzeLeaf(
      { subjectaltname: 'DNS:registry.example.com', validTo: YEAR_LATER },
      target,
      NOW,
    );
    const wildcard = analyzeLeaf(
      { subjectaltname: 'DNS:*.example.com', validTo: YEAR_LATER },
      target,
      NOW,
    );
    expect([exact[0]?.status, wildcard[0]?.status]).toEqual(['pass', 'pass']);
  });

  it('fails a SAN list without the dialled name, never falling back to the Common Name', () => {
    const [names] = analyzeLeaf(
      {
        subjectaltname: 'IP Address:10.0.0.5',
        commonName: 'registry.example.com',
        validTo: YEAR_LATER,
      },
      target,
      NOW,
    );
    expect(names?.status).toBe('fail');
    expect(names?.summary).toBe('the certificate is for IP:10.0.0.5, not for registry.example.com');
  });

  it('matches an IP address against IP SANs', () => {
    const ok = analyzeLeaf(
      { subjectaltname: 'IP Address:127.0.0.1', validTo: YEAR_LATER },
      parseTarget('https://127.0.0.1:5000'),
      NOW,
    );
    const wrong = analyzeLeaf(
      { subjectaltname: 'DNS:localhost', validTo: YEAR_LATER },
      parseTarget('https://127.0.0.1:5000'),
      NOW,
    );
    expect([ok[0]?.status, wrong[0]?.status]).toEqual(['pass', 'fail']);
  });

  it('warns under 30 days before expiry and fails after it', () => {
    const san = 'DNS:registry.example.com';
    const soon = analyzeLeaf(
      { subjectaltname: san, validTo: 'Jun 11 00:00:00 2026 GMT' },
      target,
      NOW,
    );
    const gone = analyzeLeaf(
      { subjectaltname: san, validTo: 'May 11 00:00:00 2026 GMT' },
      target,
      NOW,
    );
    const fine = analyzeLeaf({ subjectaltname: san, validTo: YEAR_LATER }, target, NOW);
    expect(soon[1]).toMatchObject({
      status: 'warn',
      summary: expect.stringContaining('expires in 10 days') as string,
    });
    expect(gone[1]).toMatchObject({
      status: 'fail',
      summary: 'the server certificate has expired',
    });
    expect(fine[1]).toMatchObject({ status: 'pass', data: { daysLeft: 365 } });
  });
});

describe('verifyAdvice', () => {
  const target = parseTarget('https://registry.example.com:5000');

  it('tells where docker and podman want the CA, with the exact host:port folder', () => {
    expect(caPaths('registry.example.com:5000')).toEqual({
      docker: '/etc/docker/certs.d/registry.example.com:5000/ca.crt',
      podman: '/etc/containers/certs.d/registry.example.com:5000/ca.crt',
    });
    for (const code of [
      'SELF_SIGNED_CERT_IN_CHAIN',
      'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
      'DEPTH_ZERO_SELF_SIGNED_CERT',
    ]) {
      const advice = verifyAdvice(code, target);
      expect(advice.fix).toContain('/etc/docker/certs.d/registry.example.com:5000/ca.crt');
      expect(advice.explanation).toContain('x509: certificate signed by unknown authority');
    }
  });

  it('recommends a CA made by berth cert for a self-signed server certificate', () => {
    expect(verifyAdvice('DEPTH_ZERO_SELF_SIGNED_CERT', target).fix).toContain(
      'berth cert --host registry.example.com',
    );
  });

  it('names the untrusted issuer first and the missing intermediate second for an unverifiable leaf', () => {
    const advice = verifyAdvice('UNABLE_TO_VERIFY_LEAF_SIGNATURE', target, 'Berth CA');
    expect(advice.summary).toContain('issuer (CN=Berth CA) is not trusted here');
    expect(
      advice.fix?.indexOf('/etc/docker/certs.d/registry.example.com:5000/ca.crt'),
    ).toBeLessThan(advice.fix?.indexOf('full chain') ?? -1);
  });

  it('blames the clocks for a certificate that is not valid yet', () => {
    expect(verifyAdvice('CERT_NOT_YET_VALID', target).fix).toContain('NTP');
  });

  it('names an unknown code as it is', () => {
    expect(verifyAdvice('CERT_REVOKED', target).summary).toContain('CERT_REVOKED');
  });
});
