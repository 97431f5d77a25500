/**
 * HTTPS end to end with the built CLI: `berth cert` output checked by openssl, `berth serve
 * --tls-cert/--tls-key` checked by Node's TLS client (realm scheme, host name verification,
 * /ca.crt, the HTTP→HTTPS redirect), certificates `serve` must refuse, and podman and skopeo —
 * which verify TLS on 127.0.0.1, unlike docker — signing in, pushing and pulling against the CA
 * given with --cert-dir. The docker scenario over verified TLS is in tls-docker.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ADMIN_PASSWORD, CLI } from '../helpers/server.js';
import { describeResult, runWithTimeout, type CommandResult } from './dockerd.js';
import {
  buildImage,
  hostArchitecture,
  initLayout,
  readLayoutManifest,
  type ImageManifest,
} from './images.js';
import { httpsGet, startTlsServer, type TlsServer } from './tls-server.js';
import { clientSandbox } from './client-sandbox.js';

const COMMAND_TIMEOUT = 120_000;
const STEP_TIMEOUT = 180_000;
const USER = { name: 'uclient', password: `client-${randomBytes(6).toString('hex')}` };
const ADMIN_AUTHORIZATION = `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`;

let work = '';
/** `berth cert --out` of the main server: names localhost, registry.test, 127.0.0.1, ::1. */
let certs = '';
let ca = '';
let server: TlsServer | undefined;
let redirectPort = 0;
/** A directory holding only ca.crt: what --cert-dir wants. */
let certDir = '';
let clientEnv: NodeJS.ProcessEnv = {};
let podmanGlobal: string[] = [];

function serverProcess(): TlsServer {
  if (!server) throw new Error('server not started');
  return server;
}

function run(
  command: string,
  args: readonly string[],
  options: { input?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<CommandResult> {
  return runWithTimeout(command, args, options.env ?? clientEnv, COMMAND_TIMEOUT, options.input);
}

async function runOk(
  command: string,
  args: readonly string[],
  options: { input?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<CommandResult> {
  const result = await run(command, args, options);
  if (result.code !== 0 || result.timedOut) {
    const tail = server?.output().split('\n').slice(-20).join('\n') ?? '';
    throw new Error(`${describeResult(result)}\n--- server output (tail) ---\n${tail}`);
  }
  return result;
}

function berth(args: readonly string[], input?: string): Promise<CommandResult> {
  return runOk(process.execPath, [CLI, ...args], {
    env: process.env,
    ...(input === undefined ? {} : { input }),
  });
}

function openssl(args: readonly string[]): Promise<CommandResult> {
  return runOk('openssl', args, { env: process.env });
}

function expectRefused(result: CommandResult, pattern: RegExp): void {
  expect(result.timedOut, describeResult(result)).toBe(false);
  expect(result.code, describeResult(result)).not.toBe(0);
  expect(result.output, describeResult(result)).toMatch(pattern);
}

/** A manifest's digest as the server has it, read with the admin's credentials over TLS. */
async function storedDigest(name: string, reference: string): Promise<string | undefined> {
  const res = await httpsGet(`${serverProcess().url}/v2/${name}/manifests/${reference}`, {
    ca,
    headers: {
      authorization: ADMIN_AUTHORIZATION,
      accept: 'application/vnd.oci.image.manifest.v1+json',
    },
  });
  if (res.status === 404) return undefined;
  expect(res.status).toBe(200);
  const digest = res.headers['docker-content-digest'];
  return typeof digest === 'string' ? digest : undefined;
}

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
  // Lower case only: podman names images after directories.
  work = path.join(tmpdir(), `berth-e2e-tls-${randomBytes(6).toString('hex')}`);
  await mkdir(work);
  certs = path.join(work, 'certs');
  await berth([
    'cert',
    '--host',
    'registry.test',
    '--host',
    'localhost',
    '--ip',
    '127.0.0.1',
    '--ip',
    '::1',
    '--out',
    certs,
  ]);
  ca = await readFile(path.join(certs, 'ca.crt'), 'utf8');
  certDir = path.join(work, 'cert-dir');
  await mkdir(certDir);
  await copyFile(path.join(certs, 'ca.crt'), path.join(certDir, 'ca.crt'));

  const dataDir = path.join(work, 'data');
  server = await startTlsServer({
    dataDir,
    listen: ['127.0.0.1:0'],
    args: [
      '--tls-cert',
      path.join(certs, 'server.crt'),
      '--tls-key',
      path.join(certs, 'server.key'),
      '--http-redirect',
      '127.0.0.1:0',
    ],
  });
  redirectPort = Number(
    (await server.waitFor(/plain HTTP on 127\.0\.0\.1:(\d+) redirects/))[1] ?? NaN,
  );
  await berth(
    ['user', 'add', USER.name, '--role', 'developer', '--password-stdin', '--data', dataDir],
    `${USER.password}\n`,
  );

  ({ env: clientEnv, podmanArgs: podmanGlobal } = await clientSandbox(work, {
    isolateCredentials: true,
  }));
}, STEP_TIMEOUT);

afterAll(async () => {
  await server?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

// ── berth cert ──────────────────────────────────────────────────────────────────────────────

describe('berth cert, checked with openssl', () => {
  test('openssl verifies the server certificate against the CA', async () => {
    const verify = await openssl([
      'verify',
      '-CAfile',
      path.join(certs, 'ca.crt'),
      path.join(certs, 'server.crt'),
    ]);
    expect(verify.stdout.trim()).toBe(`${path.join(certs, 'server.crt')}: OK`);
  });

  test('openssl shows every name as a SAN and the TLS Web Server Authentication usage', async () => {
    const text = (await openssl(['x509', '-in', path.join(certs, 'server.crt'), '-noout', '-text']))
      .stdout;
    expect(text).toMatch(
      /X509v3 Subject Alternative Name: *\n\s*DNS:registry\.test, DNS:localhost, IP Address:127\.0\.0\.1, IP Address:0:0:0:0:0:0:0:1\n/,
    );
    expect(text).toMatch(/X509v3 Extended Key Usage: *\n\s*TLS Web Server Authentication\n/);
    expect(text).toMatch(/X509v3 Basic Constraints: critical\n\s*CA:FALSE/);
    expect(text).toMatch(/Subject: CN ?= ?registry\.test\n/);
    expect(text).toContain('ASN1 OID: prime256v1');
    const caText = (await openssl(['x509', '-in', path.join(certs, 'ca.crt'), '-noout', '-text']))
      .stdout;
    expect(caText).toMatch(/X509v3 Basic Constraints: critical\n\s*CA:TRUE/);
    expect(caText).toMatch(/X509v3 Key Usage: critical\n\s*Certificate Sign, CRL Sign/);
  });

  test('the private keys are readable by their owner only', async () => {
    for (const key of ['ca.key', 'server.key']) {
      expect((await stat(path.join(certs, key))).mode & 0o777, key).toBe(0o600);
    }
    const check = await openssl([
      'pkey',
      '-in',
      path.join(certs, 'server.key'),
      '-check',
      '-noout',
    ]);
    expect(check.output).toMatch(/valid/i);
  });

  test('running berth cert again renews the server certificate and keeps the CA', async () => {
    const out = path.join(work, 'renew');
    await berth(['cert', '--host', 'renew.test', '--out', out]);
    const caBefore = await readFile(path.join(out, 'ca.crt'), 'utf8');
    const serialOf = async (): Promise<string> =>
      (await openssl(['x509', '-in', path.join(out, 'server.crt'), '-noout', '-serial'])).stdout;
    const serialBefore = await serialOf();
    const again = await berth(['cert', '--host', 'renew.test', '--out', out]);
    expect(again.stdout).toContain(`kept the CA in ${path.join(out, 'ca.crt')}`);
    expect(await readFile(path.join(out, 'ca.crt'), 'utf8')).toBe(caBefore);
    expect(await serialOf()).not.toBe(serialBefore);
    const verify = await openssl([
      'verify',
      '-CAfile',
      path.join(out, 'ca.crt'),
      path.join(out, 'server.crt'),
    ]);
    expect(verify.stdout).toContain(': OK');
  });

  test('--rsa makes RSA 3072 keys with Key Encipherment', async () => {
    const out = path.join(work, 'rsa');
    await berth(['cert', '--host', 'rsa.test', '--rsa', '--out', out]);
    const text = (await openssl(['x509', '-in', path.join(out, 'server.crt'), '-noout', '-text']))
      .stdout;
    expect(text).toContain('Public-Key: (3072 bit)');
    expect(text).toMatch(/X509v3 Key Usage: critical\n\s*Digital Signature, Key Encipherment/);
    const verify = await openssl([
      'verify',
      '-CAfile',
      path.join(out, 'ca.crt'),
      path.join(out, 'server.crt'),
    ]);
    expect(verify.stdout).toContain(': OK');
  });

  test('berth cert prints how to serve the files and where each client wants the CA', async () => {
    const out = path.join(work, 'printed');
    const printed = await berth([
      'cert',
      '--host',
      'registry.example.com',
      '--ip',
      '10.0.0.5',
      '--port',
      '5443',
      '--out',
      out,
    ]);
    expect(printed.stdout).toContain(
      `berth serve --tls-cert ${path.join(out, 'server.crt')} --tls-key ${path.join(out, 'server.key')}`,
    );
    expect(printed.stdout).toContain(
      'sudo mkdir -p /etc/docker/certs.d/registry.example.com:5443 && ' +
        'sudo cp ca.crt /etc/docker/certs.d/registry.example.com:5443/ca.crt',
    );
    expect(printed.stdout).toContain('/etc/containers/certs.d/registry.example.com:5443/ca.crt');
    expect(printed.stdout).toContain(
      '/etc/containerd/certs.d/registry.example.com:5443/hosts.toml',
    );
    expect(printed.stdout).toContain('/etc/rancher/k3s/registries.yaml');
    expect(printed.stdout).toContain('containerdConfigPatches');
    expect(printed.stdout).toContain('10.0.0.5:5443');
  });

  test('berth cert refuses a name that cannot be a DNS name', async () => {
    const result = await run(
      process.execPath,
      [CLI, 'cert', '--host', 'not_valid', '--out', work],
      {
        env: process.env,
      },
    );
    expectRefused(result, /--host not_valid: not a valid DNS name/);
    expect(result.code).toBe(1);
  });
});

// ── berth serve over HTTPS ──────────────────────────────────────────────────────────────────

describe('berth serve --tls-cert/--tls-key, seen by Node’s TLS client', () => {
  test('GET /v2/ verified against the CA gets 401 with an https:// token realm', async () => {
    const { url } = serverProcess();
    const res = await httpsGet(`${url}/v2/`, { ca });
    expect(res.status).toBe(401);
    const challenge = String(res.headers['www-authenticate']);
    expect(challenge).toMatch(/^Bearer realm="https:\/\//);
    expect(challenge).toContain(`realm="${url}/v2/token"`);

    // The realm works over the same TLS: a token for the admin opens /v2/.
    const token = await httpsGet(`${url}/v2/token?service=berth`, {
      ca,
      headers: { authorization: ADMIN_AUTHORIZATION },
    });
    expect(token.status).toBe(200);
    const { token: jwt } = JSON.parse(token.body.toString()) as { token: string };
    const ping = await httpsGet(`${url}/v2/`, { ca, headers: { authorization: `Bearer ${jwt}` } });
    expect(ping.status).toBe(200);
  });

  test('every name in the certificate verifies, a name not in it is refused by the client', async () => {
    const { port } = serverProcess();
    const base = `https://127.0.0.1:${port}/v2/`;
    for (const servername of ['registry.test', 'localhost']) {
      expect((await httpsGet(base, { ca, servername })).status).toBe(401);
    }
    await expect(httpsGet(base, { ca, servername: 'wrong.test' })).rejects.toMatchObject({
      code: 'ERR_TLS_CERT_ALTNAME_INVALID',
    });
  });

  test('a client that does not trust the CA is refused', async () => {
    const other = await readFile(path.join(work, 'rsa', 'ca.crt'), 'utf8');
    await expect(httpsGet(`${serverProcess().url}/v2/`, { ca: other })).rejects.toMatchObject({
      code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    });
  });

  test('GET /ca.crt serves the CA file byte for byte', async () => {
    const res = await httpsGet(`${serverProcess().url}/ca.crt`, { ca });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/x-x509-ca-cert');
    expect(res.body.toString()).toBe(ca);
  });

  test('the plain-HTTP listener redirects every request to the same path over HTTPS (308)', async () => {
    expect(redirectPort).toBeGreaterThan(0);
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      http
        .get(
          {
            host: '127.0.0.1',
            port: redirectPort,
            path: '/v2/library/x/tags/list?n=1',
            headers: { host: `registry.test:${redirectPort}` },
            agent: false,
          },
          resolve,
        )
        .once('error', reject);
    });
    res.resume();
    expect(res.statusCode).toBe(308);
    expect(res.headers.location).toBe(
      `https://registry.test:${serverProcess().port}/v2/library/x/tags/list?n=1`,
    );
  });
});

describe('renewal and tls: auto', () => {
  test('after berth cert renews the certificate, SIGHUP makes the running server serve it', async () => {
    const { url } = serverProcess();
    const before = await httpsGet(`${url}/v2/`, { ca, servername: 'renewed.test' }).catch(
      (e: unknown) => e,
    );
    expect(before).toMatchObject({ code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
    const renewed = await berth([
      'cert',
      '--host',
      'registry.test',
      '--host',
      'localhost',
      '--host',
      'renewed.test',
      '--ip',
      '127.0.0.1',
      '--ip',
      '::1',
      '--out',
      certs,
    ]);
    expect(renewed.stdout).toContain('kept the CA');
    serverProcess().child.kill('SIGHUP');
    await serverProcess().waitFor(/SIGHUP: serving .*server\.crt/);
    const after = await httpsGet(`${url}/v2/`, { ca, servername: 'renewed.test' });
    expect(after.status).toBe(401);
    // Same CA: clients set up before the renewal need nothing new.
    expect(await readFile(path.join(certs, 'ca.crt'), 'utf8')).toBe(ca);
  });

  test('serve --tls-auto makes a CA and certificate in <data>/tls and serves that CA', async () => {
    const dataDir = path.join(work, 'data-auto');
    const auto = await startTlsServer({
      dataDir,
      listen: ['127.0.0.1:0'],
      auth: false,
      args: ['--tls-auto', '--tls-host', 'auto.test', '--tls-ip', '127.0.0.1'],
    });
    try {
      const autoCa = await readFile(path.join(dataDir, 'tls', 'ca.crt'), 'utf8');
      expect((await stat(path.join(dataDir, 'tls', 'server.key'))).mode & 0o777).toBe(0o600);
      // The notes follow the ready line: wait for the whole line, not for what has arrived.
      await auto.waitFor(/made a new CA and the server certificate in .*first start/);
      const res = await httpsGet(`${auto.url}/ca.crt`, { ca: autoCa, servername: 'auto.test' });
      expect(res.status).toBe(200);
      expect(res.body.toString()).toBe(autoCa);
      await expect(httpsGet(`${auto.url}/v2/`, { ca })).rejects.toMatchObject({
        code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      });
    } finally {
      await auto.stop();
    }
    const cert = await readFile(path.join(dataDir, 'tls', 'server.crt'), 'utf8');
    const again = await startTlsServer({
      dataDir,
      listen: ['127.0.0.1:0'],
      auth: false,
      args: ['--tls-auto', '--tls-host', 'auto.test', '--tls-ip', '127.0.0.1'],
    });
    // The CA line comes after the notes: once it is here, a note would be too.
    await again.waitFor(/clients can download the CA at \/ca\.crt/);
    expect(await again.stop()).toBe(0);
    expect(again.output()).not.toMatch(/made a new CA|renewed the server certificate/);
    expect(await readFile(path.join(dataDir, 'tls', 'server.crt'), 'utf8')).toBe(cert);
  });
});

describe('certificates serve refuses, and one from elsewhere', () => {
  async function serveOnce(
    cert: string,
    key: string,
  ): Promise<{ result: CommandResult; dataDir: string }> {
    const dataDir = path.join(work, `refused-${randomBytes(4).toString('hex')}`);
    const result = await run(
      process.execPath,
      [
        CLI,
        'serve',
        '--listen',
        '127.0.0.1:0',
        '--data',
        dataDir,
        '--tls-cert',
        cert,
        '--tls-key',
        key,
      ],
      { env: process.env },
    );
    return { result, dataDir };
  }

  test('a CN-only certificate from openssl req -x509 is refused with the reason and the fix', async () => {
    const cert = path.join(work, 'cn-only.crt');
    const key = path.join(work, 'cn-only.key');
    await openssl([
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '30',
      '-subj',
      '/CN=registry.test',
    ]);
    const text = (await openssl(['x509', '-in', cert, '-noout', '-text'])).stdout;
    expect(text).not.toContain('Subject Alternative Name');
    const { result, dataDir } = await serveOnce(cert, key);
    expect(result.code, describeResult(result)).toBe(1);
    expect(result.stderr).toContain(
      'certificate relies on legacy Common Name (CN=registry.test) and has no subjectAltName: ' +
        'clients (Go 1.15+, docker, containerd, podman) refuse it; make one with SANs: ' +
        'berth cert --host registry.test',
    );
    expect(result.stderr).not.toContain('serving the registry');
    // Refused before anything was created.
    expect(existsSync(dataDir)).toBe(false);
  });

  test('a key that does not belong to the certificate is refused', async () => {
    const { result } = await serveOnce(
      path.join(certs, 'server.crt'),
      path.join(work, 'rsa', 'server.key'),
    );
    expect(result.code, describeResult(result)).toBe(1);
    expect(result.stderr).toContain(
      `${path.join(work, 'rsa', 'server.key')} is not the private key of ${path.join(certs, 'server.crt')}`,
    );
  });

  test('a certificate with SANs made elsewhere is served, but /ca.crt is 404 JSON', async () => {
    const cert = path.join(work, 'foreign.crt');
    const key = path.join(work, 'foreign.key');
    await openssl([
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '30',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ]);
    const foreign = await startTlsServer({
      dataDir: path.join(work, 'data-foreign'),
      listen: ['127.0.0.1:0'],
      auth: false,
      args: ['--tls-cert', cert, '--tls-key', key],
    });
    try {
      const pem = await readFile(cert, 'utf8');
      const res = await httpsGet(`${foreign.url}/ca.crt`, { ca: pem });
      expect(res.status).toBe(404);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      const body = JSON.parse(res.body.toString()) as {
        errors: { code: string; message: string }[];
      };
      expect(body.errors[0]?.message).toMatch(/did not make/);
      expect((await foreign.waitFor(/The certificate is self-signed: .*/))[0]).toContain(cert);
    } finally {
      await foreign.stop();
    }
  });
});

// ── podman and skopeo: they verify TLS on 127.0.0.1 ─────────────────────────────────────────

describe('skopeo and podman verify Berth’s certificate against the CA in --cert-dir', () => {
  let layout = '';
  let image: { digest: string; parsed: ImageManifest } | undefined;
  const host = (): string => `127.0.0.1:${serverProcess().port}`;
  const creds = `${USER.name}:${USER.password}`;

  beforeAll(async () => {
    layout = path.join(work, 'image');
    await initLayout(layout);
    image = await buildImage(layout, {
      tag: 'v1',
      platform: { architecture: hostArchitecture(), os: 'linux' },
      layers: [
        ['/tls.txt', `tls ${randomBytes(8).toString('hex')}\n`],
        ['/data/random.bin', randomBytes(256 * 1024)],
      ],
    });
  }, STEP_TIMEOUT);

  test(
    'skopeo without the CA refuses the certificate (unknown authority)',
    async () => {
      const copy = await run('skopeo', [
        'copy',
        '--dest-creds',
        creds,
        `oci:${layout}:v1`,
        `docker://${host()}/library/tls-skopeo:refused`,
      ]);
      expectRefused(copy, /x509: certificate signed by unknown authority/);
      expect(await storedDigest('library/tls-skopeo', 'refused')).toBeUndefined();
    },
    STEP_TIMEOUT,
  );

  test(
    'skopeo copies in with --dest-cert-dir and credentials, and back out with --src-cert-dir',
    async () => {
      await runOk('skopeo', [
        'copy',
        '--dest-cert-dir',
        certDir,
        '--dest-creds',
        creds,
        `oci:${layout}:v1`,
        `docker://${host()}/library/tls-skopeo:v1`,
      ]);
      expect(await storedDigest('library/tls-skopeo', 'v1')).toBe(image?.digest);
      const out = path.join(work, 'skopeo-out');
      await runOk('skopeo', [
        'copy',
        '--src-cert-dir',
        certDir,
        '--src-creds',
        creds,
        `docker://${host()}/library/tls-skopeo:v1`,
        `oci:${out}:pulled`,
      ]);
      const pulled = await readLayoutManifest<ImageManifest>(out, 'pulled');
      expect(pulled.digest).toBe(image?.digest);
    },
    STEP_TIMEOUT,
  );

  test(
    'podman login, push, rmi, pull (same digest) and logout with --cert-dir',
    async () => {
      const podman = (args: readonly string[], input?: string): Promise<CommandResult> =>
        run('podman', [...podmanGlobal, ...args], input === undefined ? {} : { input });
      const podmanOk = (args: readonly string[], input?: string): Promise<CommandResult> =>
        runOk('podman', [...podmanGlobal, ...args], input === undefined ? {} : { input });
      const authFile = path.join(work, 'podman-auth.json');
      const reference = `${host()}/library/tls-podman:v1`;
      const imageId = image?.parsed.config.digest ?? '';
      await podmanOk(['pull', `oci:${layout}:v1`]);
      await podmanOk(['tag', imageId, reference]);

      const refused = await podman(
        ['login', '--authfile', authFile, '--username', USER.name, '--password-stdin', host()],
        `${USER.password}\n`,
      );
      expectRefused(refused, /x509: certificate signed by unknown authority/);

      const login = await podmanOk(
        [
          'login',
          '--cert-dir',
          certDir,
          '--authfile',
          authFile,
          '--username',
          USER.name,
          '--password-stdin',
          host(),
        ],
        `${USER.password}\n`,
      );
      expect(login.output).toContain('Login Succeeded');
      const digestFile = path.join(work, 'podman.digest');
      await podmanOk([
        'push',
        '--cert-dir',
        certDir,
        '--authfile',
        authFile,
        '--digestfile',
        digestFile,
        reference,
      ]);
      const pushed = (await readFile(digestFile, 'utf8')).trim();
      expect(await storedDigest('library/tls-podman', 'v1')).toBe(pushed);

      await podmanOk(['rmi', '--force', imageId]);
      expect((await podman(['image', 'exists', imageId])).code).toBe(1);
      await podmanOk(['pull', '--cert-dir', certDir, '--authfile', authFile, reference]);
      const [inspected] = JSON.parse((await podmanOk(['image', 'inspect', reference])).stdout) as {
        Id: string;
        Digest: string;
      }[];
      expect(inspected?.Digest).toBe(pushed);
      expect(`sha256:${inspected?.Id ?? ''}`).toBe(imageId);

      const logout = await podmanOk(['logout', '--authfile', authFile, host()]);
      expect(logout.output).toContain(`Removed login credentials for ${host()}`);
      await podmanOk(['tag', imageId, `${host()}/library/tls-podman:anon`]);
      const anon = await podman([
        'push',
        '--cert-dir',
        certDir,
        '--authfile',
        authFile,
        `${host()}/library/tls-podman:anon`,
      ]);
      expectRefused(anon, /unauthorized|authentication required/i);
      expect(await storedDigest('library/tls-podman', 'anon')).toBeUndefined();
    },
    STEP_TIMEOUT,
  );
});
