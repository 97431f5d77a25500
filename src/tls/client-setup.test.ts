import { describe, expect, it } from 'vitest';
import { clientSetupText } from './client-setup.js';

const OPTIONS = {
  dial: ['registry.example.com:5000', '10.0.0.5:5000'],
  caFile: '/srv/berth/data/tls/ca.crt',
  caFingerprint: 'AB:CD',
  servesCa: true,
};

describe('client set-up text', () => {
  const text = clientSetupText(OPTIONS);

  it('gives docker the certs.d folder named exactly host:port, and says so', () => {
    expect(text).toContain(
      'sudo mkdir -p /etc/docker/certs.d/registry.example.com:5000 && ' +
        'sudo cp ca.crt /etc/docker/certs.d/registry.example.com:5000/ca.crt',
    );
    expect(text).toMatch(/folder name must be exactly the host:port the client dials/);
    expect(text).toContain('docker login registry.example.com:5000');
  });

  it('gives podman/skopeo, containerd, k3s and kind their own places', () => {
    expect(text).toContain('/etc/containers/certs.d/registry.example.com:5000/ca.crt');
    expect(text).toContain('/etc/containerd/certs.d/registry.example.com:5000/hosts.toml');
    expect(text).toContain('[host."https://registry.example.com:5000"]');
    expect(text).toContain('ca = "/etc/containerd/certs.d/registry.example.com:5000/ca.crt"');
    expect(text).toContain('/etc/rancher/k3s/registries.yaml');
    expect(text).toMatch(/configs:\n\s+"registry\.example\.com:5000":\n\s+tls:\n\s+ca_file: /);
    expect(text).toContain('containerdConfigPatches:');
    expect(text).toContain('config_path = "/etc/containerd/certs.d"');
  });

  it('tells how to fetch the CA from /ca.crt and check its fingerprint', () => {
    expect(text).toContain('/srv/berth/data/tls/ca.crt');
    expect(text).toContain('AB:CD');
    expect(text).toContain(
      'curl --cacert ca.crt -o ca.crt https://registry.example.com:5000/ca.crt',
    );
    expect(text).toContain('openssl x509 -noout -fingerprint -sha256 -in ca.crt');
  });

  it('lists the folder names for the other names in the certificate', () => {
    expect(text).toMatch(/need that folder name instead: 10\.0\.0\.5:5000\n$/);
    expect(clientSetupText({ ...OPTIONS, dial: ['r.example.com'] })).not.toContain('instead');
  });

  it('for a self-signed certificate, names the certificate itself as what clients trust', () => {
    const self = clientSetupText({
      ...OPTIONS,
      caFile: null,
      caFingerprint: null,
      servesCa: false,
      selfSignedFile: '/etc/ssl/registry.pem',
    });
    expect(self).toContain('"ca.crt" below is a copy of /etc/ssl/registry.pem');
    expect(self).toContain('/etc/docker/certs.d/registry.example.com:5000/ca.crt');
  });

  it('without a CA of its own, says that /ca.crt is not served', () => {
    const foreign = clientSetupText({
      ...OPTIONS,
      caFile: null,
      caFingerprint: null,
      servesCa: false,
    });
    expect(foreign).toContain('does not serve /ca.crt');
    expect(foreign).not.toContain('curl');
    expect(foreign).toContain('/etc/docker/certs.d/registry.example.com:5000/ca.crt');
  });
});
