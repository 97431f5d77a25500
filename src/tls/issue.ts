/**
 * @module tls/issue
 * `berth cert` and `tls: auto` write the same four files into one directory (see tls/files). A
 * CA already in the directory is reused, so renewing the server certificate needs nothing new
 * on the clients.
 */
import { createPrivateKey, randomBytes, X509Certificate } from 'node:crypto';
import fs from 'node:fs/promises';
import { ConfigError } from '../config/load.js';
import {
  CERT_MODE,
  KEY_MODE,
  readIfExists,
  tlsFiles,
  writeFileAtomic,
  type TlsFiles,
} from './files.js';
import { createCa, createServerCertificate, type KeyAlgorithm, type PemPair } from './generate.js';
import { allNames, type CertificateNames } from './names.js';

export interface IssueResult {
  files: TlsFiles;
  /** False when the CA already in the directory signed the new certificate. */
  caCreated: boolean;
  ca: X509Certificate;
  server: X509Certificate;
}

/** The CA in `files`, if both halves are there and belong together. */
export async function loadCa(files: TlsFiles): Promise<PemPair | undefined> {
  const [certPem, keyPem] = await Promise.all([
    readIfExists(files.caCert),
    readIfExists(files.caKey),
  ]);
  if (certPem === undefined && keyPem === undefined) return undefined;
  if (certPem === undefined || keyPem === undefined) {
    const [has, lacks] =
      certPem === undefined ? [files.caKey, files.caCert] : [files.caCert, files.caKey];
    throw new ConfigError(
      `${has} exists but ${lacks} does not: put the missing half back, or move both away to ` +
        'make a new CA (every client then needs the new ca.crt)',
    );
  }
  let ca: X509Certificate;
  try {
    ca = new X509Certificate(certPem);
  } catch (e) {
    throw new ConfigError(`${files.caCert}: not a PEM certificate (${(e as Error).message})`);
  }
  if (!ca.ca) throw new ConfigError(`${files.caCert} is not a CA certificate (basicConstraints)`);
  if (!ca.checkPrivateKey(createPrivateKey(keyPem))) {
    throw new ConfigError(`${files.caKey} is not the key of ${files.caCert}`);
  }
  if (new Date(ca.validTo).getTime() <= Date.now()) {
    throw new ConfigError(
      `the CA in ${files.caCert} expired on ${ca.validTo}: move ca.crt and ca.key away and run ` +
        'berth cert again (every client then needs the new ca.crt)',
    );
  }
  return { certPem, keyPem };
}

/**
 * Writes a server certificate for `names` into `dir`, signed by the CA there (made first when
 * there is none). The new key is written before the certificate: a server reading the pair in
 * between sees a mismatch, which it refuses, rather than a certificate for a key it lacks.
 */
export async function issueCertificates(options: {
  dir: string;
  names: CertificateNames;
  algorithm: KeyAlgorithm;
  now?: Date;
}): Promise<IssueResult> {
  const files = tlsFiles(options.dir);
  await fs.mkdir(files.dir, { recursive: true, mode: 0o700 });
  let ca = await loadCa(files);
  const caCreated = ca === undefined;
  if (ca === undefined) {
    const first = allNames(options.names)[0] ?? 'registry';
    ca = await createCa({
      commonName: `Berth CA ${first} ${randomBytes(3).toString('hex')}`,
      algorithm: options.algorithm,
      ...(options.now ? { now: options.now } : {}),
    });
    await writeFileAtomic(files.caKey, ca.keyPem, KEY_MODE);
    await writeFileAtomic(files.caCert, ca.certPem, CERT_MODE);
  }
  const server = await createServerCertificate({
    ca,
    names: options.names,
    algorithm: options.algorithm,
    ...(options.now ? { now: options.now } : {}),
  });
  await writeFileAtomic(files.key, server.keyPem, KEY_MODE);
  await writeFileAtomic(files.cert, server.certPem, CERT_MODE);
  return {
    files,
    caCreated,
    ca: new X509Certificate(ca.certPem),
    server: new X509Certificate(server.certPem),
  };
}
