/**
 * @module doctor/dns
 * Check 1: the host resolves, and to what. A name on 127.0.0.0/8 gets a warning because docker
 * treats those registries as insecure: it skips TLS verification and never reads certs.d, so a
 * passing check there proves little about other machines.
 */
import { lookup } from 'node:dns/promises';
import { isIP, isIPv4 } from 'node:net';
import { finding, type Advice, type DoctorState, type Finding, type Target } from './types.js';

/** The addresses docker's default `insecure-registries` covers (127.0.0.0/8, also IPv4-mapped). */
export function dockerLoopback(addresses: readonly string[]): string[] {
  return addresses.filter((a) => {
    const v4 = a.toLowerCase().startsWith('::ffff:') ? a.slice(7) : a;
    return isIPv4(v4) && v4.startsWith('127.');
  });
}

export function loopbackAdvice(target: Target, loopback: readonly string[]): Advice {
  const what = isIP(target.hostname) === 0 ? `${target.hostname} resolves to` : 'the address is';
  return {
    summary: `${what} ${loopback.join(', ')}: loopback`,
    explanation: target.https
      ? 'Docker treats every registry on 127.0.0.0/8 as insecure: it skips certificate verification, never reads /etc/docker/certs.d for it and silently falls back to plain HTTP, so docker here proves nothing about TLS on other machines.'
      : 'Docker allows plain HTTP to 127.0.0.0/8 without configuration, but clients on other machines need a real address (and TLS, or insecure-registries).',
    fix: 'to test what other clients see, use a name that resolves to the server’s real address, or one that resolves to ::1 (e.g. "::1 registry.test" in /etc/hosts, with that name in the certificate)',
  };
}

export async function checkDns(state: DoctorState): Promise<Finding[]> {
  const { target } = state;
  let addresses: string[];
  if (isIP(target.hostname) !== 0) {
    addresses = [target.hostname];
  } else {
    try {
      addresses = (await lookup(target.hostname, { all: true, verbatim: true })).map(
        (a) => a.address,
      );
    } catch (err) {
      state.reachable = false;
      const code = (err as NodeJS.ErrnoException).code ?? 'ERROR';
      return [
        finding(
          'dns',
          'fail',
          {
            summary: `${target.hostname} does not resolve (${code})`,
            explanation:
              'Clients cannot find the server. Docker resolves the name on the machine that runs dockerd.',
            fix: `add ${target.hostname} to DNS, or to /etc/hosts on every client ("ADDRESS ${target.hostname}")`,
          },
          { code },
        ),
      ];
    }
  }
  const loopback = dockerLoopback(addresses);
  if (loopback.length > 0)
    return [finding('dns', 'warn', loopbackAdvice(target, loopback), { addresses })];
  const summary =
    isIP(target.hostname) === 0
      ? `${target.hostname} resolves to ${addresses.join(', ')}`
      : `${target.hostname} is an address: nothing to resolve`;
  return [finding('dns', 'pass', { summary }, { addresses })];
}
