/**
 * @module tls/check
 * Loading the certificate and key `serve` is given, and refusing at start what clients would
 * refuse later with an opaque x509 error: no subjectAltName (Go 1.15+ ignores the CN), a key
 * that is not the certificate's, an expired certificate, one not meant for TLS servers.
 * Parsing is Node's own X509Certificate.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import fs from 'node:fs/promises';
import { ConfigError } from '../config/load.js';
import { readIfExists } from './files.js';
import { normalizeIp, type CertificateNames } from './names.js';

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const ANY_EXTENDED_KEY_USAGE = '2.5.29.37.0';
const DAY_MS = 24 * 3600 * 1000;
/** A certificate this close to its end gets a warning at start. */
export const RENEW_WITHIN_DAYS = 30;

export interface ServerCredentials {
  certFile: string;
  keyFile: string;
  /** The whole certificate file: the server certificate, then any intermediates. */
  certPem: string;
  keyPem: string;
  /** The server certificate (the first in the file). */
  leaf: X509Certificate;
  /** Its subjectAltNames. */
  names: CertificateNames;
  notAfter: Date;
  /** Things to tell the operator that do not stop the server. */
  warnings: string[];
}

/** The PEM certificates in a file, in order. */
export function pemCertificates(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

/** `DNS:a, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1` → names. */
export function subjectAltNames(cert: X509Certificate): CertificateNames {
  const dns: string[] = [];
  const ips: string[] = [];
  // Node quotes an entry that contains a separator; such names are not usable host names anyway.
  for (const entry of (cert.subjectAltName ?? '').split(/,\s*/)) {
    if (entry.startsWith('DNS:')) dns.push(entry.slice(4).toLowerCase());
    else if (entry.startsWith('IP Address:')) {
      const ip = normalizeIp(entry.slice('IP Address:'.length));
      if (ip !== null) ips.push(ip);
    }
  }
  return { dns, ips };
}

/** The CN of a subject such as `CN=registry.example.com\nO=Example`. */
export function commonName(cert: X509Certificate): string | undefined {
  return /^CN=(.*)$/m.exec(cert.subject)?.[1];
}

/** True when the certificate names `host` (a DNS name, wildcard-aware, or an IP). */
export function certificateCovers(names: CertificateNames, host: string): boolean {
  const ip = normalizeIp(host);
  if (ip !== null) return names.ips.includes(ip);
  const wanted = host.toLowerCase();
  return names.dns.some(
    (name) =>
      name === wanted ||
      (name.startsWith('*.') &&
        wanted.endsWith(name.slice(1)) &&
        !wanted.slice(0, -name.length + 1).includes('.')),
  );
}

export async function loadServerCredentials(
  certFile: string,
  keyFile: string,
  now = new Date(),
): Promise<ServerCredentials> {
  const certPem = await readRequired(certFile, 'certificate (--tls-cert)');
  const keyPem = await readRequired(keyFile, 'private key (--tls-key)');
  const [first] = pemCertificates(certPem);
  if (first === undefined) {
    throw new ConfigError(`${certFile}: no PEM certificate (-----BEGIN CERTIFICATE-----) in it`);
  }
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(first);
  } catch (e) {
    throw new ConfigError(`${certFile}: not a readable certificate (${(e as Error).message})`);
  }
  const key = parseKey(keyFile, keyPem);
  const cn = commonName(leaf);
  const names = subjectAltNames(leaf);
  if (names.dns.length === 0 && names.ips.length === 0) {
    throw new ConfigError(
      `${certFile}: certificate relies on legacy Common Name (${cn ? `CN=${cn}` : 'no CN either'}) ` +
        'and has no subjectAltName: clients (Go 1.15+, docker, containerd, podman) refuse it; ' +
        `make one with SANs: berth cert --host ${cn && !cn.includes(' ') ? cn : 'NAME'} [--ip IP] --out DIR`,
    );
  }
  if (!leaf.checkPrivateKey(key)) {
    throw new ConfigError(
      `${keyFile} is not the private key of ${certFile}: the key does not match the certificate's ` +
        'public key (a renewed certificate with the old key file?)',
    );
  }
  // CA:TRUE alone is no reason to refuse: `openssl req -x509` makes self-signed certificates
  // that way, and clients accept them when they trust that very certificate.
  const extendedKeyUsage = leaf.keyUsage as string[] | undefined;
  if (
    extendedKeyUsage !== undefined &&
    !extendedKeyUsage.includes(SERVER_AUTH) &&
    !extendedKeyUsage.includes(ANY_EXTENDED_KEY_USAGE)
  ) {
    throw new ConfigError(
      `${certFile}: its extended key usage does not include serverAuth (TLS Web Server ` +
        'Authentication): clients refuse it for a server; make one with berth cert',
    );
  }
  const notBefore = new Date(leaf.validFrom);
  const notAfter = new Date(leaf.validTo);
  if (notAfter.getTime() <= now.getTime()) {
    throw new ConfigError(
      `${certFile} expired on ${notAfter.toISOString()}: renew it (berth cert with the same --out ` +
        'keeps the CA)',
    );
  }
  const warnings: string[] = [];
  if (notBefore.getTime() > now.getTime()) {
    warnings.push(
      `${certFile} is valid only from ${notBefore.toISOString()}: clients refuse it until then (clock skew?)`,
    );
  }
  const daysLeft = Math.floor((notAfter.getTime() - now.getTime()) / DAY_MS);
  if (daysLeft < RENEW_WITHIN_DAYS) {
    warnings.push(
      `${certFile} expires in ${daysLeft} days (${notAfter.toISOString()}): renew it soon`,
    );
  }
  const mode = (await fs.stat(keyFile)).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    warnings.push(
      `${keyFile} is readable by others (mode ${mode.toString(8)}): chmod 600 ${keyFile}`,
    );
  }
  return { certFile, keyFile, certPem, keyPem, leaf, names, notAfter, warnings };
}

/**
 * The first of `candidates` (CA certificate files) that issued `leaf`, checked by signature, not
 * by name: that is the CA Berth may hand out at /ca.crt.
 */
export async function findIssuingCa(
  leaf: X509Certificate,
  candidates: readonly string[],
): Promise<{ file: string; pem: string; cert: X509Certificate } | undefined> {
  for (const file of candidates) {
    const text = await readIfExists(file);
    const [pem] = text === undefined ? [] : pemCertificates(text);
    if (pem === undefined) continue;
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(pem);
    } catch {
      continue;
    }
    if (cert.ca && leaf.checkIssued(cert) && leaf.verify(cert.publicKey)) {
      return { file, pem: `${pem}\n`, cert };
    }
  }
  return undefined;
}

async function readRequired(file: string, what: string): Promise<string> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read the TLS ${what} ${file}: ${(e as Error).message}`);
  }
}

function parseKey(keyFile: string, keyPem: string): KeyObject {
  try {
    return createPrivateKey(keyPem);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ERR_MISSING_PASSPHRASE') {
      throw new ConfigError(
        `${keyFile} is encrypted with a passphrase: Berth needs the key unencrypted (mode 0600), ` +
          `e.g. openssl pkey -in ${keyFile} -out server.key`,
      );
    }
    throw new ConfigError(`${keyFile}: not a readable private key (${(e as Error).message})`);
  }
}
