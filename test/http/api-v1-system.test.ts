/**
 * The system page's facts: storage used, TLS certificate details and the CA fingerprint, and the
 * client set-up commands for the host the caller dialled (or the external URL's host).
 */
import { X509Certificate } from 'node:crypto';
import https from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.js';

interface SystemBody {
  storage: { backend: string; bytes: number; blobs: number };
  registryHost: string;
  clientSetup: string | null;
  tls: {
    enabled: boolean;
    caAvailable: boolean;
    caFingerprint: string | null;
    certificate: { dnsNames: string[]; ipAddresses: string[]; notAfter: string } | null;
  };
}

/** GET over HTTPS without verification: the certificate itself is tested in test/e2e/tls. */
function getTls(host: string, path: string, headers: Record<string, string> = {}) {
  const [hostname, port] = [
    host.slice(0, host.lastIndexOf(':')),
    host.slice(host.lastIndexOf(':') + 1),
  ];
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    https
      .get({ hostname, port, path, headers, rejectUnauthorized: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

describe('over HTTPS with the certificate Berth made', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({
      configure: (c) => {
        c.tls.auto = true;
        c.tls.hosts = ['registry.test'];
        c.tls.ips = ['127.0.0.1'];
      },
    });
  });
  afterAll(async () => server.close());

  it('shows the certificate, the CA fingerprint and the set-up for the dialled host', async () => {
    const res = await getTls(server.host, '/api/v1/system', {
      host: `registry.test:${server.host.split(':')[1]}`,
    });
    expect(res.status).toBe(200);
    const body = JSON.parse(res.body) as SystemBody;
    expect(body.tls.enabled).toBe(true);
    expect(body.tls.caAvailable).toBe(true);
    expect(body.tls.certificate?.dnsNames).toContain('registry.test');
    expect(body.tls.certificate?.ipAddresses).toContain('127.0.0.1');
    expect(Date.parse(body.tls.certificate?.notAfter ?? '')).toBeGreaterThan(Date.now());

    const ca = await getTls(server.host, '/ca.crt');
    expect(body.tls.caFingerprint).toBe(new X509Certificate(ca.body).fingerprint256);

    const port = server.host.split(':')[1] ?? '';
    expect(body.registryHost).toBe(`registry.test:${port}`);
    expect(body.clientSetup).toContain(`/etc/docker/certs.d/registry.test:${port}/ca.crt`);
    expect(body.clientSetup).toContain(body.tls.caFingerprint);
  });

  it('never echoes a Host header that is not shaped like a host', async () => {
    const res = await getTls(server.host, '/api/v1/system', { host: 'evil.test/<script>' });
    const body = JSON.parse(res.body) as SystemBody;
    expect(body.registryHost).toBe('HOST:PORT');
    expect(res.body).not.toContain('<script>');
  });
});

describe('over plain HTTP with an external URL', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({
      configure: (c) => {
        c.externalUrl = 'https://registry.example.com';
      },
    });
  });
  afterAll(async () => server.close());

  it('names the external host and has no certificate to show', async () => {
    const res = await fetch(`${server.url}/api/v1/system`);
    const body = (await res.json()) as SystemBody;
    expect(body.registryHost).toBe('registry.example.com');
    expect(body.tls).toEqual({
      enabled: false,
      caAvailable: false,
      caFingerprint: null,
      certificate: null,
    });
    expect(body.clientSetup).toBeNull();
    expect(body.storage).toEqual({ backend: 'filesystem', blobs: 0, bytes: 0 });
  });
});
