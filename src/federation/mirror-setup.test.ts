import { describe, expect, it } from 'vitest';
import { mirrorSetupText } from './mirror-setup.js';

describe('mirror set-up text', () => {
  it("gives docker the mirror and containerd the namespace's path on the main listener", () => {
    const text = mirrorSetupText({
      namespace: 'hub',
      mirrorUrl: 'http://127.0.0.1:5001',
      registryUrl: 'http://127.0.0.1:5000',
      upstreamUrl: 'https://registry-1.docker.io',
      problem: null,
    });
    expect(text).toContain('{"registry-mirrors":["http://127.0.0.1:5001"]}');
    expect(text).not.toContain('insecure-registries');
    expect(text).toContain('/etc/containerd/certs.d/docker.io/hosts.toml');
    expect(text).toContain('server = "https://registry-1.docker.io"');
    expect(text).toMatch(
      /\[host\."http:\/\/127\.0\.0\.1:5000\/v2\/hub"\]\n\s+capabilities = \["pull", "resolve"\]\n\s+override_path = true/,
    );
    expect(text).not.toContain('WARNING');
    expect(text).not.toContain('certs.d/127.0.0.1:5001');
  });

  it('over HTTPS, names the certs.d folder of the mirror port', () => {
    const text = mirrorSetupText({
      namespace: 'hub',
      mirrorUrl: 'https://registry.example.com:5001',
      registryUrl: 'https://registry.example.com:5000',
      upstreamUrl: null,
      problem: null,
    });
    expect(text).toContain('{"registry-mirrors":["https://registry.example.com:5001"]}');
    expect(text).toContain('/etc/docker/certs.d/registry.example.com:5001/ca.crt');
    expect(text).toContain('[host."https://registry.example.com:5000/v2/hub"]');
  });

  it('allows plain HTTP beyond loopback in docker, and names a foreign upstream by its host', () => {
    const text = mirrorSetupText({
      namespace: 'ghcr',
      mirrorUrl: 'http://10.0.0.5:5002',
      registryUrl: 'http://10.0.0.5:5000',
      upstreamUrl: 'https://ghcr.io',
      problem: 'namespace "ghcr" is hosted',
    });
    expect(text).toContain(
      '{"registry-mirrors":["http://10.0.0.5:5002"],"insecure-registries":["10.0.0.5:5002"]}',
    );
    expect(text).toMatch(/Docker Hub only/);
    expect(text).toContain('/etc/containerd/certs.d/ghcr.io/hosts.toml');
    expect(text).toContain('server = "https://ghcr.io"');
    expect(text).toContain('WARNING: namespace "ghcr" is hosted');
  });
});
