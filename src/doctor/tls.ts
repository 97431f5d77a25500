/**
 * @module doctor/tls
 * Check 2 (https URLs): the TLS handshake as a client sees it. The chain is verified against the
 * system CAs, docker's certs.d folder for this host and `--ca-file`; the host name is matched
 * against the subjectAltNames only, as Go (docker, containerd, podman) does since Go 1.15 — Node
 * would still fall back to the Common Name, which would hide the most common failure.
 */
import tls, { type DetailedPeerCertificate, type PeerCertificate } from 'node:tls';
import { isIP } from 'node:net';
import { certCommand, serveTlsFix } from './commands.js';
import { asTransportError, transportAdvice } from './http-client.js';
import { finding, type Advice, type DoctorState, type Finding, type Target } from './types.js';

const DAY_MS = 24 * 60 * 60 * 1000;
const EXPIRY_WARNING_DAYS = 30;

/** Where docker and podman look for the CA of a registry dialled as `dialled`. */
export function caPaths(dialled: string): { docker: string; podman: string } {
  return {
    docker: `/etc/docker/certs.d/${dialled}/ca.crt`,
    podman: `/etc/containers/certs.d/${dialled}/ca.crt`,
  };
}

function installCa(target: Target): string {
  const { docker, podman } = caPaths(target.dialled);
  return (
    `copy the CA certificate (ca.crt, not the server certificate) to ${docker} on every docker client ` +
    `(mkdir -p /etc/docker/certs.d/${target.dialled}; the folder is exactly the host:port clients dial) ` +
    `and to ${podman} for podman/skopeo; Berth serves its own CA at ${target.origin}/ca.crt when it made one ` +
    '(compare its fingerprint before trusting it); rerun the doctor with --ca-file ca.crt'
  );
}

/** Plain words for an OpenSSL verification error code (`socket.authorizationError`). */
export function verifyAdvice(code: string, target: Target, issuer?: string): Advice {
  switch (code) {
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
      return {
        summary: 'the certificate is self-signed and this client does not trust it',
        explanation:
          'Clients refuse it with "x509: certificate signed by unknown authority". A self-signed server certificate must be trusted on every client one by one; a private CA signs renewals too.',
        fix: `make a CA and a server certificate: ${serveTlsFix(target)}; then ${installCa(target)}`,
      };
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'UNABLE_TO_GET_ISSUER_CERT':
      return {
        summary: 'the certificate is signed by a CA this client does not trust',
        explanation: 'Clients refuse it with "x509: certificate signed by unknown authority".',
        fix: installCa(target),
      };
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
      // What a server with a private CA gets most often: it sends only its own certificate.
      return {
        summary: `the certificate's issuer${issuer !== undefined ? ` (CN=${issuer})` : ''} is not trusted here, or the server leaves out an intermediate CA`,
        explanation:
          'Clients cannot build a chain to a trusted root: "x509: certificate signed by unknown authority".',
        fix: `${installCa(target)}; if a public CA issued it, serve the full chain instead (the server certificate followed by its intermediates in one file)`,
      };
    case 'CERT_HAS_EXPIRED':
      return {
        summary: 'the server certificate has expired',
        explanation: 'Every client refuses it.',
        fix: `renew it: ${certCommand(target)} again on the server (the CA stays, so clients need nothing new), then restart Berth or reload the proxy`,
      };
    case 'CERT_NOT_YET_VALID':
      return {
        summary: 'the server certificate is not valid yet',
        explanation:
          'Either it was just issued on a machine whose clock runs ahead, or this clock is behind.',
        fix: 'set the clocks right (NTP: timedatectl set-ntp true) on this client and on the machine that issued the certificate',
      };
    default:
      return {
        summary: `the certificate does not verify: ${code}`,
        fix: installCa(target),
      };
  }
}

/** `DNS:a, IP Address:1.2.3.4` → `['DNS:a', 'IP:1.2.3.4']`; empty when there are none. */
export function subjectAltNames(cert: Pick<PeerCertificate, 'subjectaltname'>): string[] {
  const raw = cert.subjectaltname;
  if (raw === undefined || raw.trim() === '') return [];
  return raw
    .split(',')
    .map((s) => s.trim().replace(/^IP Address:/, 'IP:'))
    .filter((s) => s !== '');
}

export interface LeafFacts {
  subjectaltname?: string;
  commonName?: string;
  validTo: string;
}

/** Names, SAN match and expiry of the server certificate: one finding each. */
export function analyzeLeaf(leaf: LeafFacts, target: Target, nowMs: number): Finding[] {
  const findings: Finding[] = [];
  const sans = subjectAltNames(leaf);
  const cn = leaf.commonName !== undefined ? ` (CN=${leaf.commonName})` : '';
  if (sans.length === 0) {
    findings.push(
      finding('tls', 'fail', {
        summary: `the certificate has no subjectAltNames: it relies on the legacy Common Name field${cn}`,
        explanation:
          'Docker, containerd, podman and every Go client (since Go 1.15) ignore the Common Name and refuse the certificate: "x509: certificate relies on legacy Common Name field, use SANs instead".',
        fix: `issue a certificate with subjectAltNames: ${serveTlsFix(target)}`,
      }),
    );
  } else {
    // Go never falls back to the Common Name, so neither does this check (no subject passed).
    const identity = {
      subject: {},
      subjectaltname: leaf.subjectaltname,
    } as unknown as PeerCertificate;
    const mismatch = tls.checkServerIdentity(target.hostname, identity);
    if (mismatch) {
      findings.push(
        finding(
          'tls',
          'fail',
          {
            summary: `the certificate is for ${sans.join(', ')}, not for ${target.hostname}`,
            explanation: `Clients refuse it: "x509: certificate is valid for ${sans.join(', ')}, not ${target.hostname}".`,
            fix: `issue one that names it: ${serveTlsFix(target)}; or connect with a name the certificate lists`,
          },
          { subjectAltNames: sans },
        ),
      );
    } else {
      findings.push(
        finding(
          'tls',
          'pass',
          { summary: `the certificate names ${sans.join(', ')}: matches ${target.hostname}` },
          { subjectAltNames: sans },
        ),
      );
    }
  }
  const expiresMs = Date.parse(leaf.validTo);
  const days = Math.floor((expiresMs - nowMs) / DAY_MS);
  const until = new Date(expiresMs).toISOString().slice(0, 10);
  if (Number.isNaN(expiresMs)) {
    findings.push(finding('tls', 'warn', { summary: `unreadable expiry date "${leaf.validTo}"` }));
  } else if (expiresMs <= nowMs) {
    findings.push(
      finding('tls', 'fail', verifyAdvice('CERT_HAS_EXPIRED', target), { validTo: until }),
    );
  } else if (days < EXPIRY_WARNING_DAYS) {
    findings.push(
      finding(
        'tls',
        'warn',
        {
          summary: `the certificate expires in ${days} day${days === 1 ? '' : 's'} (${until})`,
          explanation: 'When it expires every client stops working at once.',
          fix: `renew it now: ${certCommand(target)} on the server (same CA, so clients need nothing new), then restart Berth or reload the proxy`,
        },
        { validTo: until, daysLeft: days },
      ),
    );
  } else {
    findings.push(
      finding(
        'tls',
        'pass',
        { summary: `the certificate is valid until ${until} (${days} days)` },
        { validTo: until, daysLeft: days },
      ),
    );
  }
  return findings;
}

function commonName(
  cert: PeerCertificate,
  of: 'subject' | 'issuer' = 'subject',
): string | undefined {
  const cn = (cert[of] as Partial<Record<string, string | string[]>> | undefined)?.['CN'];
  return Array.isArray(cn) ? cn[0] : cn;
}

/** `CN=leaf ← CN=intermediate ← CN=root` as far as the server sent it (plus the trusted root). */
export function describeChain(leaf: DetailedPeerCertificate): string[] {
  const names: string[] = [];
  const seen = new Set<string>();
  // `issuerCertificate` is missing at run time when the server sent no issuer, despite the type.
  let cert = leaf as Partial<DetailedPeerCertificate> | undefined;
  while (cert?.fingerprint256 !== undefined && !seen.has(cert.fingerprint256)) {
    seen.add(cert.fingerprint256);
    const cn = commonName(cert as PeerCertificate);
    names.push(cn !== undefined ? `CN=${cn}` : cert.fingerprint256.slice(0, 23));
    cert = cert.issuerCertificate;
  }
  return names;
}

interface Handshake {
  authorized: boolean;
  authorizationError?: string;
  protocol: string | null;
  leaf: DetailedPeerCertificate;
}

function handshake(state: DoctorState): Promise<Handshake> {
  const { target } = state;
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: target.hostname,
      port: target.port,
      ca: state.ca,
      rejectUnauthorized: false,
      // The name is matched below against SANs only; here only the chain is verified.
      checkServerIdentity: () => undefined,
      ...(isIP(target.hostname) === 0 ? { servername: target.hostname } : {}),
    });
    socket.setTimeout(15_000, () =>
      socket.destroy(Object.assign(new Error('no answer in time'), { code: 'ETIMEDOUT' })),
    );
    socket.once('error', reject);
    socket.once('secureConnect', () => {
      const result: Handshake = {
        authorized: socket.authorized,
        protocol: socket.getProtocol(),
        leaf: socket.getPeerCertificate(true),
      };
      // Null when the chain verified (the type says Error); a string code otherwise.
      const error = socket.authorizationError as Error | string | null | undefined;
      if (error !== null && error !== undefined)
        result.authorizationError = typeof error === 'string' ? error : error.message;
      socket.end();
      resolve(result);
    });
  });
}

export async function checkTls(state: DoctorState, nowMs = Date.now()): Promise<Finding[]> {
  const { target } = state;
  if (!target.https) {
    return [
      finding('tls', 'warn', {
        summary: 'plain HTTP: no TLS',
        explanation:
          'Passwords and tokens cross the network in clear text. Docker refuses plain HTTP except to 127.0.0.0/8 and to registries listed under "insecure-registries" in /etc/docker/daemon.json; podman and skopeo need --tls-verify=false.',
        fix: `serve TLS: ${serveTlsFix(target)}, or terminate TLS at nginx (berth nginx-config); for a lab only: {"insecure-registries": ["${target.dialled}"]} in /etc/docker/daemon.json`,
      }),
    ];
  }
  let result: Handshake;
  try {
    result = await handshake(state);
  } catch (err) {
    state.reachable = false;
    const e = asTransportError(err);
    return [finding('tls', 'fail', transportAdvice(e, target.url, target), { code: e.code })];
  }
  const chain = describeChain(result.leaf);
  const trusted = `trusting the system CAs${state.caSources.length > 0 ? ` + ${state.caSources.join(' + ')}` : ''}`;
  const findings: Finding[] = [];
  if (result.authorized) {
    findings.push(
      finding(
        'tls',
        'pass',
        {
          summary: `${result.protocol ?? 'TLS'}, chain verified: ${chain.join(' ← ')} (${trusted})`,
        },
        { protocol: result.protocol, chain },
      ),
    );
  } else {
    state.tlsVerified = false;
    const code = result.authorizationError ?? 'UNKNOWN';
    const advice = verifyAdvice(code, target, commonName(result.leaf, 'issuer'));
    findings.push(
      finding(
        'tls',
        'fail',
        {
          ...advice,
          summary: `${advice.summary} (${code}; chain: ${chain.join(' ← ')}; ${trusted})`,
          explanation:
            `${advice.explanation ?? ''} The checks below go on without verification to find further problems.`.trim(),
        },
        { protocol: result.protocol, chain, code },
      ),
    );
  }
  const leafFacts: LeafFacts = { validTo: result.leaf.valid_to };
  if (result.leaf.subjectaltname !== undefined)
    leafFacts.subjectaltname = result.leaf.subjectaltname;
  const cn = commonName(result.leaf);
  if (cn !== undefined) leafFacts.commonName = cn;
  const leafFindings = analyzeLeaf(leafFacts, target, nowMs);
  // Node's own requests would still accept a Common Name match; a SAN failure is a failure here.
  if (leafFindings.some((f) => f.status === 'fail')) state.tlsVerified = false;
  return [...findings, ...leafFindings];
}
