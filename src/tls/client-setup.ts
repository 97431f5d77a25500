/**
 * @module tls/client-setup
 * What each client needs to trust Berth's CA, as commands to paste: docker, podman/skopeo,
 * containerd, k3s and kind all look for the CA in a different place, and docker and containerd
 * key it by exactly the `host:port` the client dials — the usual way to lose an afternoon.
 */

export interface ClientSetupOptions {
  /**
   * What clients dial, most likely first: `registry.example.com:5000` (or just the host on
   * port 443, which is how docker then names the folder).
   */
  dial: readonly string[];
  /** Where the CA certificate is on the server, or null when Berth did not make it. */
  caFile: string | null;
  /** SHA-256 fingerprint of the CA, to check a downloaded copy against. */
  caFingerprint: string | null;
  /** True when the running server answers GET /ca.crt. */
  servesCa: boolean;
  /** A self-signed certificate (no CA): the file clients must trust is the certificate itself. */
  selfSignedFile?: string | undefined;
}

/** `host:port` as clients write it: IPv6 in brackets, and no port for 443. */
export function dialName(host: string, port: number): string {
  const h = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return port === 443 ? h : `${h}:${port}`;
}

export function clientSetupText(options: ClientSetupOptions): string {
  const primary = options.dial[0] ?? 'HOST:PORT';
  const others = options.dial.slice(1);
  const dockerDir = `/etc/docker/certs.d/${primary}`;
  const containersDir = `/etc/containers/certs.d/${primary}`;
  const containerdDir = `/etc/containerd/certs.d/${primary}`;
  const lines: string[] = [];
  const add = (...more: string[]): void => {
    lines.push(...more);
  };

  add('Client set-up: every client must trust the CA that signed the server certificate.');
  if (options.caFile !== null) {
    add(`  CA certificate: ${options.caFile}`);
    if (options.caFingerprint) add(`  its SHA-256 fingerprint: ${options.caFingerprint}`);
    add(
      '  Get ca.crt onto a client: copy it (scp), or download it and compare the fingerprint:',
      `    curl -k -o ca.crt https://${primary}/ca.crt && openssl x509 -noout -fingerprint -sha256 -in ca.crt`,
      '  A client that already trusts it downloads a renewed copy with verification:',
      `    curl --cacert ca.crt -o ca.crt https://${primary}/ca.crt`,
    );
    if (!options.servesCa) add('  (this server does not answer /ca.crt: copy the file)');
  } else if (options.selfSignedFile !== undefined) {
    add(
      `  The certificate is self-signed: "ca.crt" below is a copy of ${options.selfSignedFile}`,
      '  itself (Berth did not make it, so it does not serve /ca.crt).',
    );
  } else {
    add(
      '  Berth did not make this certificate, so it does not serve /ca.crt: "ca.crt" below is',
      '  the certificate of the CA that issued it (skip this if a public CA issued it).',
    );
  }
  add(
    '',
    `  docker — the folder name must be exactly the host:port the client dials (${primary}):`,
    `    sudo mkdir -p ${dockerDir} && sudo cp ca.crt ${dockerDir}/ca.crt`,
    `    then: docker login ${primary}   (no daemon restart needed)`,
    '',
    '  podman, skopeo, buildah, CRI-O:',
    `    sudo mkdir -p ${containersDir} && sudo cp ca.crt ${containersDir}/ca.crt`,
    `    (rootless: ~/.config/containers/certs.d/${primary}/ca.crt; one command: --cert-dir DIR)`,
    '',
    '  containerd (nerdctl, Kubernetes nodes; needs config_path = "/etc/containerd/certs.d"):',
    `    sudo mkdir -p ${containerdDir} && sudo cp ca.crt ${containerdDir}/ca.crt`,
    `    and ${containerdDir}/hosts.toml:`,
    `      server = "https://${primary}"`,
    `      [host."https://${primary}"]`,
    '        capabilities = ["pull", "resolve", "push"]',
    `        ca = "${containerdDir}/ca.crt"`,
    '',
    '  k3s — on every node: sudo cp ca.crt /etc/rancher/k3s/berth-ca.crt, then in',
    '  /etc/rancher/k3s/registries.yaml (restart k3s / k3s-agent afterwards):',
    '      configs:',
    `        "${primary}":`,
    '          tls:',
    '            ca_file: /etc/rancher/k3s/berth-ca.crt',
    '',
    '  kind — the containerd files above on the host, mounted into the nodes (cluster config):',
    '      kind: Cluster',
    '      apiVersion: kind.x-k8s.io/v1alpha4',
    '      containerdConfigPatches:',
    '        - |-',
    '          [plugins."io.containerd.grpc.v1.cri".registry]',
    '            config_path = "/etc/containerd/certs.d"',
    '      nodes:',
    '        - role: control-plane',
    '          extraMounts:',
    '            - hostPath: /etc/containerd/certs.d',
    '              containerPath: /etc/containerd/certs.d',
  );
  if (others.length > 0) {
    add(
      '',
      `  Clients that dial another name in the certificate need that folder name instead: ${others.join(', ')}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/**
 * The names to show, most useful first: real DNS names, then non-loopback IPs, then loopback
 * (which docker never verifies anyway).
 */
export function dialNames(
  names: { dns: readonly string[]; ips: readonly string[] },
  port: number,
): string[] {
  const loopback = (n: string): boolean =>
    n === 'localhost' || n.endsWith('.localhost') || n.startsWith('127.') || n === '::1';
  const ordered = [
    ...names.dns.filter((n) => !loopback(n) && !n.startsWith('*.')),
    ...names.ips.filter((n) => !loopback(n)),
    ...names.dns.filter(loopback),
    ...names.ips.filter(loopback),
  ];
  return ordered.map((n) => dialName(n, port));
}
