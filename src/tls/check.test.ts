import { KeyObject, type webcrypto } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../config/load.js';
import { findIssuingCa, loadServerCredentials } from './check.js';
import { tlsFiles } from './files.js';
import { issueCertificates } from './issue.js';
import { x509 } from './x509.js';

const NAMES = { dns: ['registry.example.com'], ips: ['10.0.0.5'] };
let dir = '';

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'berth-tls-check-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A self-signed certificate made the way old guides do: whatever extensions are given, no more. */
async function selfSigned(
  name: string,
  extensions: (keys: webcrypto.CryptoKeyPair) => Promise<x509.Extension[]> | x509.Extension[],
): Promise<{ cert: string; key: string }> {
  const keys = await globalThis.crypto.subtle.generateKey(
    { name: 'ECDSA', namedCurve: 'P-256' },
    true,
    ['sign', 'verify'],
  );
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: `CN=${name}`,
    keys,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions: await extensions(keys),
  });
  const certFile = path.join(dir, `${name}.crt`);
  const keyFile = path.join(dir, `${name}.key`);
  await writeFile(certFile, cert.toString('pem'));
  await writeFile(
    keyFile,
    KeyObject.from(keys.privateKey).export({ type: 'pkcs8', format: 'pem' }),
    { mode: 0o600 },
  );
  return { cert: certFile, key: keyFile };
}

describe('checking the certificate serve is given', () => {
  it('loads a berth cert pair with its names and no warnings', async () => {
    await issueCertificates({ dir, names: NAMES, algorithm: 'ecdsa-p256' });
    const files = tlsFiles(dir);
    const loaded = await loadServerCredentials(files.cert, files.key);
    expect(loaded.names).toEqual(NAMES);
    expect(loaded.warnings).toEqual([]);
    expect(loaded.certPem).toBe(await readFile(files.cert, 'utf8'));
  });

  it('refuses a certificate with only a Common Name and says why and what to do', async () => {
    const legacy = await selfSigned('legacy.example.com', () => []);
    const attempt = loadServerCredentials(legacy.cert, legacy.key);
    await expect(attempt).rejects.toThrow(ConfigError);
    await expect(loadServerCredentials(legacy.cert, legacy.key)).rejects.toThrow(
      `${legacy.cert}: certificate relies on legacy Common Name (CN=legacy.example.com) and has ` +
        'no subjectAltName: clients (Go 1.15+, docker, containerd, podman) refuse it; make one ' +
        'with SANs: berth cert --host legacy.example.com',
    );
  });

  it('refuses a key that is not the certificate’s', async () => {
    await issueCertificates({ dir, names: NAMES, algorithm: 'ecdsa-p256' });
    const files = tlsFiles(dir);
    await expect(loadServerCredentials(files.cert, files.caKey)).rejects.toThrow(
      `${files.caKey} is not the private key of ${files.cert}`,
    );
  });

  it('accepts a self-signed certificate with SANs, CA:TRUE as openssl req -x509 makes it', async () => {
    const self = await selfSigned('self.example.com', () => [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: 'self.example.com' }]),
    ]);
    const loaded = await loadServerCredentials(self.cert, self.key);
    expect(loaded.names.dns).toEqual(['self.example.com']);
    expect(loaded.leaf.ca).toBe(true);
  });

  it('refuses Berth’s own CA certificate in place of the server certificate (it has no SAN)', async () => {
    await issueCertificates({ dir, names: NAMES, algorithm: 'ecdsa-p256' });
    const files = tlsFiles(dir);
    await expect(loadServerCredentials(files.caCert, files.caKey)).rejects.toThrow(
      /no subjectAltName/,
    );
  });

  it('refuses a certificate whose extended key usage leaves out serverAuth', async () => {
    const client = await selfSigned('client.example.com', () => [
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: 'client.example.com' }]),
    ]);
    await expect(loadServerCredentials(client.cert, client.key)).rejects.toThrow(
      /does not include serverAuth/,
    );
  });

  it('refuses an expired certificate and warns about one close to its end', async () => {
    const longAgo = new Date(Date.now() - 400 * 24 * 3600 * 1000);
    await issueCertificates({ dir, names: NAMES, algorithm: 'ecdsa-p256', now: longAgo });
    const files = tlsFiles(dir);
    await expect(loadServerCredentials(files.cert, files.key)).rejects.toThrow(/ expired on /);
    const soon = await loadServerCredentials(
      files.cert,
      files.key,
      new Date(Date.now() - 20 * 24 * 3600 * 1000),
    );
    expect(soon.warnings.join('\n')).toMatch(/expires in \d+ days/);
  });

  it('warns when the key file is readable by others', async () => {
    await issueCertificates({ dir, names: NAMES, algorithm: 'ecdsa-p256' });
    const files = tlsFiles(dir);
    await chmod(files.key, 0o644);
    const loaded = await loadServerCredentials(files.cert, files.key);
    expect(loaded.warnings).toEqual([
      `${files.key} is readable by others (mode 644): chmod 600 ${files.key}`,
    ]);
  });

  it('names a missing file and an unreadable one', async () => {
    await expect(
      loadServerCredentials(path.join(dir, 'nope.crt'), path.join(dir, 'nope.key')),
    ).rejects.toThrow(`cannot read the TLS certificate (--tls-cert) ${path.join(dir, 'nope.crt')}`);
    const junk = path.join(dir, 'junk.crt');
    await writeFile(junk, 'not a certificate\n');
    await expect(loadServerCredentials(junk, junk)).rejects.toThrow(/no PEM certificate/);
  });

  it('finds the CA that signed the certificate, by signature, not by file name', async () => {
    await issueCertificates({ dir, names: NAMES, algorithm: 'ecdsa-p256' });
    const files = tlsFiles(dir);
    const otherDir = path.join(dir, 'other');
    await issueCertificates({ dir: otherDir, names: NAMES, algorithm: 'ecdsa-p256' });
    const other = tlsFiles(otherDir);
    const { leaf } = await loadServerCredentials(files.cert, files.key);
    const found = await findIssuingCa(leaf, [
      other.caCert,
      path.join(dir, 'absent.crt'),
      files.caCert,
    ]);
    expect(found?.file).toBe(files.caCert);
    expect(found?.pem.trim()).toBe((await readFile(files.caCert, 'utf8')).trim());
    expect(await findIssuingCa(leaf, [other.caCert, files.cert])).toBeUndefined();
  });
});
