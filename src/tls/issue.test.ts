import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../config/load.js';
import { tlsFiles } from './files.js';
import { CA_VALIDITY_DAYS, SERVER_VALIDITY_DAYS } from './generate.js';
import { issueCertificates } from './issue.js';
import { x509 } from './x509.js';

const DAY_MS = 24 * 3600 * 1000;
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const NAMES = { dns: ['registry.example.com', 'localhost'], ips: ['10.0.0.5', '::1'] };

let dir = '';

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'berth-tls-unit-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function readCert(file: string): Promise<X509Certificate> {
  return new X509Certificate(await readFile(file));
}

/** The same certificate through @peculiar/x509, for the extensions Node does not decode. */
async function parsed(file: string): Promise<x509.X509Certificate> {
  return new x509.X509Certificate(await readFile(file, 'utf8'));
}

function days(cert: X509Certificate): number {
  return (new Date(cert.validTo).getTime() - new Date(cert.validFrom).getTime()) / DAY_MS;
}

describe('berth cert: CA and server certificate', () => {
  it('names every host and IP in subjectAltName, with the first host as CN', async () => {
    await issueCertificates({ dir, names: NAMES, algorithm: 'ecdsa-p256' });
    const server = await readCert(tlsFiles(dir).cert);
    expect(server.subjectAltName).toBe(
      'DNS:registry.example.com, DNS:localhost, IP Address:10.0.0.5, IP Address:0:0:0:0:0:0:0:1',
    );
    expect(server.subject).toBe('CN=registry.example.com');
    expect(server.checkHost('registry.example.com')).toBe('registry.example.com');
    expect(server.checkIP('10.0.0.5')).toBe('10.0.0.5');
    expect(server.checkHost('other.example.com')).toBeUndefined();
  });

  it('makes a server certificate for TLS servers only: serverAuth, digitalSignature, CA:false', async () => {
    await issueCertificates({ dir, names: NAMES, algorithm: 'ecdsa-p256' });
    const server = await readCert(tlsFiles(dir).cert);
    expect(server.keyUsage).toEqual([SERVER_AUTH]);
    expect(server.ca).toBe(false);
    const ext = await parsed(tlsFiles(dir).cert);
    const usage = ext.getExtension(x509.KeyUsagesExtension);
    expect(usage?.usages).toBe(x509.KeyUsageFlags.digitalSignature);
    expect(usage?.critical).toBe(true);
    const constraints = ext.getExtension(x509.BasicConstraintsExtension);
    expect(constraints?.ca).toBe(false);
    expect(constraints?.critical).toBe(true);
    expect(days(server)).toBe(SERVER_VALIDITY_DAYS);
    expect(server.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
  });

  it('makes a CA that may sign certificates and CRLs, for ten years', async () => {
    await issueCertificates({ dir, names: NAMES, algorithm: 'ecdsa-p256' });
    const ca = await readCert(tlsFiles(dir).caCert);
    expect(ca.ca).toBe(true);
    expect(ca.checkIssued(ca)).toBe(true);
    expect(ca.verify(ca.publicKey)).toBe(true);
    expect(days(ca)).toBe(CA_VALIDITY_DAYS);
    const ext = await parsed(tlsFiles(dir).caCert);
    expect(ext.getExtension(x509.BasicConstraintsExtension)?.critical).toBe(true);
    expect(ext.getExtension(x509.KeyUsagesExtension)?.usages).toBe(
      x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
    );
  });

  it('signs the server certificate with the CA, linked by key identifiers', async () => {
    await issueCertificates({ dir, names: NAMES, algorithm: 'ecdsa-p256' });
    const files = tlsFiles(dir);
    const [server, ca] = await Promise.all([readCert(files.cert), readCert(files.caCert)]);
    expect(server.checkIssued(ca)).toBe(true);
    expect(server.verify(ca.publicKey)).toBe(true);
    expect(server.verify(server.publicKey)).toBe(false);
    const [serverExt, caExt] = await Promise.all([parsed(files.cert), parsed(files.caCert)]);
    const caKeyId = caExt.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
    expect(caKeyId).toMatch(/^[0-9a-f]{40}$/);
    expect(serverExt.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId).toBe(caKeyId);
    expect(serverExt.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId).not.toBe(caKeyId);
  });

  it('writes the private keys as PKCS#8 with mode 0600 and the certificates 0644, leaving no temp files', async () => {
    await issueCertificates({ dir, names: NAMES, algorithm: 'ecdsa-p256' });
    const files = tlsFiles(dir);
    for (const key of [files.caKey, files.key]) {
      expect((await stat(key)).mode & 0o777).toBe(0o600);
      const pem = await readFile(key, 'utf8');
      expect(pem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
      expect(createPrivateKey(pem).asymmetricKeyType).toBe('ec');
    }
    for (const cert of [files.caCert, files.cert]) {
      expect((await stat(cert)).mode & 0o777).toBe(0o644);
    }
    expect((await readdir(dir)).sort()).toEqual(['ca.crt', 'ca.key', 'server.crt', 'server.key']);
    const server = await readCert(files.cert);
    expect(server.checkPrivateKey(createPrivateKey(await readFile(files.key)))).toBe(true);
  });

  it('gives every certificate its own positive 128-bit serial number', async () => {
    await issueCertificates({ dir, names: NAMES, algorithm: 'ecdsa-p256' });
    const first = await readCert(tlsFiles(dir).cert);
    await issueCertificates({ dir, names: NAMES, algorithm: 'ecdsa-p256' });
    const second = await readCert(tlsFiles(dir).cert);
    const ca = await readCert(tlsFiles(dir).caCert);
    const serials = [first.serialNumber, second.serialNumber, ca.serialNumber];
    expect(new Set(serials).size).toBe(3);
    for (const serial of serials) expect(serial).toMatch(/^[4-7][0-9A-F]{31}$/);
  });

  it('renews the server certificate with the same CA when run again', async () => {
    const files = tlsFiles(dir);
    const first = await issueCertificates({ dir, names: NAMES, algorithm: 'ecdsa-p256' });
    expect(first.caCreated).toBe(true);
    const [caCert, caKey, oldKey, oldCert] = await Promise.all(
      [files.caCert, files.caKey, files.key, files.cert].map((f) => readFile(f, 'utf8')),
    );
    const second = await issueCertificates({
      dir,
      names: { dns: ['registry.example.com', 'new.example.com'], ips: [] },
      algorithm: 'ecdsa-p256',
    });
    expect(second.caCreated).toBe(false);
    expect(await readFile(files.caCert, 'utf8')).toBe(caCert);
    expect(await readFile(files.caKey, 'utf8')).toBe(caKey);
    expect(await readFile(files.key, 'utf8')).not.toBe(oldKey);
    expect(await readFile(files.cert, 'utf8')).not.toBe(oldCert);
    const renewed = await readCert(files.cert);
    expect(renewed.subjectAltName).toBe('DNS:registry.example.com, DNS:new.example.com');
    expect(renewed.verify((await readCert(files.caCert)).publicKey)).toBe(true);
  });

  it('makes RSA 3072 keys on request, with keyEncipherment for RSA key exchange', async () => {
    await issueCertificates({ dir, names: NAMES, algorithm: 'rsa-3072' });
    const files = tlsFiles(dir);
    const [server, ca] = await Promise.all([readCert(files.cert), readCert(files.caCert)]);
    for (const cert of [server, ca]) {
      expect(cert.publicKey.asymmetricKeyType).toBe('rsa');
      expect(cert.publicKey.asymmetricKeyDetails?.modulusLength).toBe(3072);
    }
    expect(server.verify(ca.publicKey)).toBe(true);
    expect((await parsed(files.cert)).getExtension(x509.KeyUsagesExtension)?.usages).toBe(
      x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
    );
    const key = createPrivateKey(await readFile(files.key));
    expect(key.asymmetricKeyType).toBe('rsa');
    expect(server.checkPrivateKey(key)).toBe(true);
  }, 30_000);

  it('signs an RSA server certificate with an existing ECDSA CA', async () => {
    await issueCertificates({ dir, names: NAMES, algorithm: 'ecdsa-p256' });
    const files = tlsFiles(dir);
    const ca = await readCert(files.caCert);
    await issueCertificates({ dir, names: NAMES, algorithm: 'rsa-3072' });
    const server = await readCert(files.cert);
    expect(server.publicKey.asymmetricKeyType).toBe('rsa');
    expect(server.verify(ca.publicKey)).toBe(true);
  }, 30_000);

  it('refuses a CA certificate without its key rather than making a second CA', async () => {
    await issueCertificates({ dir, names: NAMES, algorithm: 'ecdsa-p256' });
    const files = tlsFiles(dir);
    await rm(files.caKey);
    const attempt = issueCertificates({ dir, names: NAMES, algorithm: 'ecdsa-p256' });
    await expect(attempt).rejects.toThrow(ConfigError);
    await expect(issueCertificates({ dir, names: NAMES, algorithm: 'ecdsa-p256' })).rejects.toThrow(
      `${files.caCert} exists but ${files.caKey} does not`,
    );
  });

  it('refuses a ca.key that is not the key of ca.crt', async () => {
    await issueCertificates({ dir, names: NAMES, algorithm: 'ecdsa-p256' });
    const files = tlsFiles(dir);
    await writeFile(files.caKey, await readFile(files.key));
    await expect(issueCertificates({ dir, names: NAMES, algorithm: 'ecdsa-p256' })).rejects.toThrow(
      `${files.caKey} is not the key of ${files.caCert}`,
    );
  });
});
