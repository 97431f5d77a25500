/**
 * @module tls/auto
 * `tls: auto`: on first start a CA and a server certificate for the configured names appear in
 * `<data>/tls`; later starts reuse them. A certificate that no longer fits — a name added to the
 * configuration, close to expiry, not signed by the CA beside it — is renewed with the same CA,
 * so clients that trust it need nothing new.
 */
import { hostname } from 'node:os';
import { ConfigError } from '../config/load.js';
import {
  certificateCovers,
  findIssuingCa,
  loadServerCredentials,
  RENEW_WITHIN_DAYS,
  type ServerCredentials,
} from './check.js';
import { readIfExists, tlsFiles, type TlsFiles } from './files.js';
import { allNames, certificateNames, isDnsName, type CertificateNames } from './names.js';

/** This machine's host name (when it is a usable DNS name) and localhost. */
export function defaultHosts(): string[] {
  const own = hostname().toLowerCase();
  return isDnsName(own) && own !== 'localhost' ? [own, 'localhost'] : ['localhost'];
}

export const DEFAULT_IPS = ['127.0.0.1', '::1'];

export interface AutoResult {
  files: TlsFiles;
  credentials: ServerCredentials;
  /** Why a certificate was written on this start; undefined when the existing one was reused. */
  issued?: string;
  caCreated: boolean;
}

export async function ensureAutoCertificate(options: {
  dir: string;
  hosts: readonly string[];
  ips: readonly string[];
}): Promise<AutoResult> {
  const names = certificateNames(
    options.hosts.length > 0 ? options.hosts : defaultHosts(),
    options.ips.length > 0 ? options.ips : DEFAULT_IPS,
  );
  const files = tlsFiles(options.dir);
  const reason = await renewalReason(files, names);
  if (reason === undefined) {
    return {
      files,
      credentials: await loadServerCredentials(files.cert, files.key),
      caCreated: false,
    };
  }
  // Generation needs @peculiar/x509: loaded only when a certificate is actually made.
  const { issueCertificates } = await import('./issue.js');
  const result = await issueCertificates({ dir: files.dir, names, algorithm: 'ecdsa-p256' });
  return {
    files,
    credentials: await loadServerCredentials(files.cert, files.key),
    issued: reason,
    caCreated: result.caCreated,
  };
}

/** Undefined when the certificate in `files` is fine for `names`; else why it is not. */
async function renewalReason(
  files: TlsFiles,
  names: CertificateNames,
): Promise<string | undefined> {
  if ((await readIfExists(files.cert)) === undefined) return 'first start: no certificate yet';
  let credentials: ServerCredentials;
  try {
    credentials = await loadServerCredentials(files.cert, files.key);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return `the certificate there is unusable (${e.message})`;
  }
  const missing = allNames(names).filter((n) => !certificateCovers(credentials.names, n));
  if (missing.length > 0) return `names not in the certificate yet: ${missing.join(', ')}`;
  const daysLeft = (credentials.notAfter.getTime() - Date.now()) / (24 * 3600 * 1000);
  if (daysLeft < RENEW_WITHIN_DAYS) return `it expires in ${Math.floor(daysLeft)} days`;
  if (!(await findIssuingCa(credentials.leaf, [files.caCert]))) {
    return `it is not signed by ${files.caCert}`;
  }
  return undefined;
}
