/**
 * @module tls/setup
 * What `serve` does about TLS, decided from the configuration at start (and again on reload):
 *
 * - `tls.cert` + `tls.key` (--tls-cert/--tls-key): serve those, after checking them;
 * - `tls.auto`: a CA and certificate in `<data>/tls`, made on first start (tls/auto);
 * - neither, but `berth cert` wrote `<data>/tls/server.crt`: serve that (`berth cert` then
 *   `berth serve` is all the operator types); `tls.enabled: false` (--no-tls) says plain HTTP.
 *
 * The CA is served at /ca.crt only when it is one Berth made: `ca.crt` in `<data>/tls` or beside
 * the certificate, and only if it really signed the certificate being served.
 */
import path from 'node:path';
import type { X509Certificate } from 'node:crypto';
import { ConfigError } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { findIssuingCa, loadServerCredentials, type ServerCredentials } from './check.js';
import { clientSetupText } from './client-setup.js';
import { readIfExists, tlsFiles } from './files.js';

export type TlsSource = 'files' | 'auto' | 'data-dir';

export interface ServingTls {
  source: TlsSource;
  credentials: ServerCredentials;
  /** The CA Berth made, which it serves at /ca.crt; null for a certificate from elsewhere. */
  ca: { file: string; pem: string; cert: X509Certificate } | null;
  /** What happened at start, in plain words (certificate made, reused, warnings). */
  notes: string[];
}

/** Null when the server speaks plain HTTP. */
export async function resolveTls(config: Config): Promise<ServingTls | null> {
  const tls = config.tls;
  const dataTls = path.resolve(config.data, 'tls');
  const hasFiles = tls.cert !== undefined || tls.key !== undefined;
  if (tls.hosts.length + tls.ips.length > 0 && !tls.auto) {
    throw new ConfigError(
      'tls.hosts / tls.ips (--tls-host/--tls-ip) name the certificate tls.auto makes: add --tls-auto, ' +
        'or make a certificate with berth cert',
    );
  }
  if (tls.enabled === false && (hasFiles || tls.auto)) {
    throw new ConfigError('TLS is switched off (--no-tls) but a certificate or tls.auto is given');
  }
  if (hasFiles && tls.auto) {
    throw new ConfigError(
      'tls.auto makes its own certificate: give either --tls-cert/--tls-key or --tls-auto',
    );
  }
  if (hasFiles && (tls.cert === undefined || tls.key === undefined)) {
    throw new ConfigError('--tls-cert and --tls-key go together (the certificate and its key)');
  }

  let result: ServingTls | null = null;
  if (tls.cert !== undefined && tls.key !== undefined) {
    const credentials = await loadServerCredentials(path.resolve(tls.cert), path.resolve(tls.key));
    result = await withCa('files', credentials, [
      tlsFiles(dataTls).caCert,
      path.join(path.dirname(credentials.certFile), 'ca.crt'),
    ]);
  } else if (tls.auto) {
    const { ensureAutoCertificate } = await import('./auto.js');
    const auto = await ensureAutoCertificate({ dir: dataTls, hosts: tls.hosts, ips: tls.ips });
    result = await withCa('auto', auto.credentials, [auto.files.caCert]);
    if (auto.issued !== undefined) {
      result.notes.unshift(
        `${auto.caCreated ? 'made a new CA and' : 'renewed'} the server certificate in ` +
          `${auto.files.dir} (${auto.issued})`,
      );
    }
  } else if (tls.enabled !== false) {
    const files = tlsFiles(dataTls);
    if ((await readIfExists(files.cert)) !== undefined) {
      const credentials = await loadServerCredentials(files.cert, files.key);
      result = await withCa('data-dir', credentials, [files.caCert]);
      result.notes.unshift(`using the certificate berth cert wrote in ${files.dir}`);
    } else if (tls.enabled === true) {
      throw new ConfigError(
        `TLS is on but there is no certificate: give --tls-cert/--tls-key, --tls-auto, or run ` +
          `berth cert --host NAME (it writes ${files.cert})`,
      );
    }
  }
  if (result === null && tls.redirectFrom !== undefined) {
    throw new ConfigError('tls.redirectFrom (--http-redirect) needs TLS on');
  }
  return result;
}

async function withCa(
  source: TlsSource,
  credentials: ServerCredentials,
  candidates: string[],
): Promise<ServingTls> {
  const ca = (await findIssuingCa(credentials.leaf, candidates)) ?? null;
  return { source, credentials, ca, notes: [...credentials.warnings] };
}

/** The client set-up text for a serving certificate, as `serve` prints it and the UI shows it. */
export function clientSetupForServing(tls: ServingTls, dial: readonly string[]): string {
  const { credentials, ca } = tls;
  const leaf = credentials.leaf;
  return clientSetupText({
    dial,
    caFile: ca?.file ?? null,
    caFingerprint: ca?.cert.fingerprint256 ?? null,
    servesCa: ca !== null,
    selfSignedFile:
      leaf.checkIssued(leaf) && leaf.verify(leaf.publicKey) ? credentials.certFile : undefined,
  });
}
