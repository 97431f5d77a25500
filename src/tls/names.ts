/**
 * @module tls/names
 * The names a server certificate is for: DNS names and IP addresses, checked and normalised
 * before they become subjectAltNames (a typo here only shows up later, as a client refusing the
 * certificate).
 */
import { isIP } from 'node:net';
import { ConfigError } from '../config/load.js';

export interface CertificateNames {
  /** Lower-case DNS names; `*.example.com` allowed. */
  dns: string[];
  /** IPv4 dotted quads and compressed IPv6 addresses. */
  ips: string[];
}

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/** True for `registry.example.com`, `localhost`, `*.example.com`. */
export function isDnsName(name: string): boolean {
  if (name.length === 0 || name.length > 253) return false;
  const labels = name.split('.');
  if (labels[0] === '*' && labels.length > 2) labels.shift();
  return labels.every((label) => LABEL.test(label));
}

/** `::FFFF:0:1` → `::ffff:0:1`; `[::1]` → `::1`; IPv4 stays as written. */
export function normalizeIp(value: string): string | null {
  const bare = value.startsWith('[') && value.endsWith(']') ? value.slice(1, -1) : value;
  const version = isIP(bare);
  if (version === 4) return bare;
  // The WHATWG URL parser writes IPv6 in its canonical compressed form (also for `::ffff:1.2.3.4`).
  if (version === 6) return new URL(`http://[${bare}]/`).hostname.slice(1, -1);
  return null;
}

/**
 * Checks and de-duplicates the names: an IP given as a host goes to the IPs (what the user
 * meant), anything that is neither a DNS name nor an IP is refused with the offending value.
 * The first DNS name (else the first IP) is the certificate's CN.
 */
export function certificateNames(
  hosts: readonly string[],
  ips: readonly string[],
): CertificateNames {
  const dns: string[] = [];
  const addresses: string[] = [];
  const addIp = (value: string, flag: string): void => {
    const ip = normalizeIp(value.trim());
    if (ip === null) throw new ConfigError(`${flag} ${value}: not an IP address`);
    if (!addresses.includes(ip)) addresses.push(ip);
  };
  for (const raw of hosts.flatMap(splitList)) {
    if (normalizeIp(raw) !== null) {
      addIp(raw, '--host');
      continue;
    }
    const name = raw.toLowerCase().replace(/\.$/, '');
    if (!isDnsName(name)) {
      throw new ConfigError(
        `--host ${raw}: not a valid DNS name (letters, digits and hyphens in dot-separated labels)`,
      );
    }
    if (!dns.includes(name)) dns.push(name);
  }
  for (const raw of ips.flatMap(splitList)) addIp(raw, '--ip');
  if (dns.length === 0 && addresses.length === 0) {
    throw new ConfigError(
      'a server certificate needs at least one name: --host NAME (the name clients dial) and/or --ip IP',
    );
  }
  return { dns, ips: addresses };
}

/** `--host a,b` is the same as `--host a --host b`. */
function splitList(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** Every name in subjectAltName order: DNS names first, then IPs. */
export function allNames(names: CertificateNames): string[] {
  return [...names.dns, ...names.ips];
}
