import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig, type ConfigSources } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { defaultHosts } from './auto.js';
import { tlsFiles } from './files.js';
import { issueCertificates } from './issue.js';
import { resolveTls } from './setup.js';

let data = '';

beforeEach(async () => {
  data = await mkdtemp(path.join(tmpdir(), 'berth-tls-setup-'));
});

afterEach(async () => {
  await rm(data, { recursive: true, force: true });
});

function config(tls: NonNullable<ConfigSources['flags']>['tls'] = {}): Config {
  return loadConfig({ env: {}, flags: { data, tls } });
}

describe('tls: auto', () => {
  it('makes a CA and certificate on first start and reuses them on the next', async () => {
    const first = await resolveTls(config({ auto: true, hosts: ['registry.test'] }));
    const files = tlsFiles(path.join(data, 'tls'));
    expect(first?.source).toBe('auto');
    expect(first?.notes[0]).toMatch(/^made a new CA and the server certificate in .*first start/);
    expect(first?.ca?.file).toBe(files.caCert);
    expect(first?.credentials.names).toEqual({ dns: ['registry.test'], ips: ['127.0.0.1', '::1'] });
    expect((await stat(files.key)).mode & 0o777).toBe(0o600);
    const cert = await readFile(files.cert, 'utf8');

    const second = await resolveTls(config({ auto: true, hosts: ['registry.test'] }));
    expect(second?.notes).toEqual([]);
    expect(await readFile(files.cert, 'utf8')).toBe(cert);
    expect(second?.credentials.certPem).toBe(cert);
  });

  it('renews with the same CA when a configured name is not in the certificate yet', async () => {
    await resolveTls(config({ auto: true, hosts: ['registry.test'] }));
    const files = tlsFiles(path.join(data, 'tls'));
    const ca = await readFile(files.caCert, 'utf8');
    const renewed = await resolveTls(
      config({ auto: true, hosts: ['registry.test', 'mirror.test'], ips: ['10.0.0.5'] }),
    );
    expect(renewed?.notes[0]).toMatch(
      /^renewed the server certificate .*mirror\.test, 10\.0\.0\.5/,
    );
    expect(await readFile(files.caCert, 'utf8')).toBe(ca);
    const leaf = new X509Certificate(await readFile(files.cert));
    expect(leaf.subjectAltName).toBe('DNS:registry.test, DNS:mirror.test, IP Address:10.0.0.5');
    expect(leaf.verify(new X509Certificate(ca).publicKey)).toBe(true);
  });

  it('names this machine, localhost, 127.0.0.1 and ::1 when no names are configured', async () => {
    const tls = await resolveTls(config({ auto: true }));
    expect(defaultHosts()).toContain('localhost');
    expect(tls?.credentials.names.dns).toEqual(defaultHosts());
    if (defaultHosts().length === 2) expect(defaultHosts()[0]).toBe(hostname().toLowerCase());
    expect(tls?.credentials.names.ips).toEqual(['127.0.0.1', '::1']);
  });
});

describe('which certificate serve uses', () => {
  it('is plain HTTP with no certificate anywhere', async () => {
    expect(await resolveTls(config())).toBeNull();
  });

  it('picks up what berth cert wrote into <data>/tls, unless TLS is switched off', async () => {
    await issueCertificates({
      dir: path.join(data, 'tls'),
      names: { dns: ['registry.test'], ips: [] },
      algorithm: 'ecdsa-p256',
    });
    const tls = await resolveTls(config());
    expect(tls?.source).toBe('data-dir');
    expect(tls?.ca?.file).toBe(path.join(data, 'tls', 'ca.crt'));
    expect(await resolveTls(config({ enabled: false }))).toBeNull();
  });

  it('serves the CA beside a given certificate only when that CA signed it', async () => {
    const elsewhere = path.join(data, 'elsewhere');
    await issueCertificates({
      dir: elsewhere,
      names: { dns: ['registry.test'], ips: [] },
      algorithm: 'ecdsa-p256',
    });
    const files = tlsFiles(elsewhere);
    const given = await resolveTls(config({ cert: files.cert, key: files.key }));
    expect(given?.source).toBe('files');
    expect(given?.ca?.file).toBe(files.caCert);

    // A different CA in <data>/tls did not sign it and is not offered.
    await issueCertificates({
      dir: path.join(data, 'tls'),
      names: { dns: ['other.test'], ips: [] },
      algorithm: 'ecdsa-p256',
    });
    await rm(files.caCert);
    const withoutCa = await resolveTls(config({ cert: files.cert, key: files.key }));
    expect(withoutCa?.ca).toBeNull();
  });

  it.each([
    [{ cert: 'a.crt' }, /--tls-cert and --tls-key go together/],
    [{ cert: 'a.crt', key: 'a.key', auto: true }, /either --tls-cert\/--tls-key or --tls-auto/],
    [{ hosts: ['registry.test'] }, /add --tls-auto/],
    [{ enabled: false, auto: true }, /switched off/],
    [{ enabled: true }, /TLS is on but there is no certificate/],
    [{ redirectFrom: '127.0.0.1:8080' }, /needs TLS on/],
  ])('refuses the contradictory setting %o', async (tls, message) => {
    await expect(resolveTls(config(tls))).rejects.toThrow(message);
  });
});
