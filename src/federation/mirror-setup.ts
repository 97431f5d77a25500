/**
 * @module federation/mirror-setup
 * What `berth serve` prints for each mirror listener: the client configuration that sends pulls
 * of the upstream's names to Berth.
 *
 * - docker: `registry-mirrors` in daemon.json. Docker uses mirrors for Docker Hub only, and falls
 *   back to Hub when the mirror fails, so it suits a proxy of Hub.
 * - containerd (and k3s, kind, nerdctl): a hosts.toml in the directory of the upstream's host.
 *   It points at the main listener with the namespace in the path and `override_path = true`
 *   (containerd then asks for `/v2/hub/library/alpine/…?ns=docker.io`): the name is already the
 *   stored one, so pulls, the token scope of Berth's challenge and `OCI-Namespace` all agree, and
 *   no listener or name mapping is needed. The mirror listener itself would work as a host too.
 */
import { isDockerHub } from '../core/federation.js';

export interface MirrorSetupOptions {
  namespace: string;
  /** How clients reach the mirror listener: `http://HOST:5001`. */
  mirrorUrl: string;
  /** How clients reach the main listener: `http://HOST:5000`. */
  registryUrl: string;
  /** The namespace's upstream when it is a proxy; null for a group or a missing namespace. */
  upstreamUrl: string | null;
  /** Why the namespace cannot serve as a mirror (not a proxy or group), if it cannot. */
  problem: string | null;
}

/** Plain HTTP to anything but loopback needs docker's insecure-registries. */
function needsInsecure(url: URL): boolean {
  if (url.protocol !== 'http:') return false;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return !(host === 'localhost' || host === '::1' || host.startsWith('127.'));
}

export function mirrorSetupText(options: MirrorSetupOptions): string {
  const { namespace, mirrorUrl, registryUrl, upstreamUrl } = options;
  const mirror = new URL(mirrorUrl);
  const lines: string[] = [
    `Docker mirror of namespace "${namespace}" on ${mirrorUrl} (pulls by the upstream's names: library/alpine is ${namespace}/library/alpine)`,
  ];
  if (options.problem !== null) lines.push(`  WARNING: ${options.problem}`);
  // An upstream other than Docker Hub; a group (no upstream of its own) is taken as one of Hub.
  const other = upstreamUrl !== null && !isDockerHub(upstreamUrl) ? upstreamUrl : null;
  const daemon: Record<string, string[]> = { 'registry-mirrors': [mirrorUrl] };
  if (needsInsecure(mirror)) daemon['insecure-registries'] = [mirror.host];
  lines.push(
    `  docker${other === null ? '' : ` (it uses mirrors for Docker Hub only, and ${namespace} caches ${other})`}: in /etc/docker/daemon.json, then restart dockerd:`,
    `    ${JSON.stringify(daemon)}`,
  );
  // docker keys its CA folders by the exact host:port it dials: the mirror's port needs its own.
  if (mirror.protocol === 'https:')
    lines.push(
      `    and the CA as for the main address, in /etc/docker/certs.d/${mirror.host}/ca.crt`,
    );
  // The directory is the registry host as images name it: Docker Hub's is docker.io.
  const upstreamHost = other === null ? 'docker.io' : new URL(other).host;
  const server = other ?? 'https://registry-1.docker.io';
  lines.push(
    `  containerd: /etc/containerd/certs.d/${upstreamHost}/hosts.toml (config_path = "/etc/containerd/certs.d"):`,
    `    server = "${server}"`,
    `    [host."${registryUrl}/v2/${namespace}"]`,
    '      capabilities = ["pull", "resolve"]',
    '      override_path = true',
  );
  return lines.join('\n');
}
