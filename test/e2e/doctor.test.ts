/**
 * `berth doctor` against real servers on loopback: a healthy Berth, and the classic failures staged
 * with small node proxies in front of it — a certificate without subjectAltNames, a TLS proxy that
 * does not send X-Forwarded-Proto (so the realm says http://), and a proxy that refuses bodies over
 * 1 MB with 413. Each must be named in the output with its fix, and the exit code must say so.
 * Doctor must leave nothing behind: no upload bytes, no scratch repository, and never delete
 * images. A registry of another kind is described by what it answers, not by guesses.
 */
import { execFile, spawn } from 'node:child_process';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ADMIN_PASSWORD,
  CLI,
  makeTempDir,
  startServerProcess,
  type ServerProcess,
} from '../helpers/server.js';
import { OCI_MANIFEST, pushImage } from '../helpers/oci.js';

const run = promisify(execFile);

interface Finding {
  check: string;
  status: 'pass' | 'warn' | 'fail' | 'skip';
  summary: string;
  explanation?: string;
  fix?: string;
  data?: Record<string, unknown>;
}
interface Report {
  url: string;
  ok: boolean;
  findings: Finding[];
}

/** Runs `berth doctor ARGS` with a password (the admin's) on stdin; never rejects. */
function doctor(
  args: string[],
  password = ADMIN_PASSWORD,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'doctor', ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(`${password}\n`);
  });
}

const ADMIN = ['--username', 'admin', '--password-stdin'];
const ADMIN_BASIC = `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`;
/** doctor's default scratch repository. */
const SCRATCH = 'library/berth-doctor-scratch';

/** Every file of the data directory's storage (blobs/, uploads/) with its size. */
async function storedFiles(dataDir: string): Promise<Map<string, number>> {
  const files = new Map<string, number>();
  for (const top of ['blobs', 'uploads']) {
    const entries = await readdir(path.join(dataDir, top), {
      recursive: true,
      withFileTypes: true,
    }).catch(() => []);
    for (const entry of entries.filter((e) => e.isFile())) {
      const file = path.join(entry.parentPath, entry.name);
      files.set(file, (await stat(file)).size);
    }
  }
  return files;
}

async function doctorJson(
  args: string[],
  password?: string,
): Promise<{ code: number | null; report: Report }> {
  const { code, stdout, stderr } = await doctor([...args, '--json'], password);
  expect(stderr).toBe('');
  return { code, report: JSON.parse(stdout) as Report };
}

function byCheck(report: Report, check: string): Finding[] {
  return report.findings.filter((f) => f.check === check);
}

interface Front {
  url: string;
  close(): Promise<void>;
}

/**
 * A tiny reverse proxy on 127.0.0.1 in front of Berth that keeps Host. Options stage the classic
 * proxy behaviours: terminate TLS; add X-Forwarded-Proto; refuse bodies over `maxBodyBytes` with
 * 413 as nginx's client_max_body_size does (answer at once, then read and drop the rest); store
 * whole bodies and pass them on `bufferBodiesMs` later with a Content-Length (nginx's request
 * buffering with a slow upstream); stop reading a body after `stallAfterBytes` (a full buffer).
 */
async function startFront(options: {
  upstreamPort: number;
  tls?: { cert: string; key: string };
  forwardedProto?: boolean;
  maxBodyBytes?: number;
  bufferBodiesMs?: number;
  stallAfterBytes?: number;
}): Promise<Front> {
  const scheme = options.tls ? 'https' : 'http';
  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    let refused = false;
    const refuse = (): void => {
      refused = true;
      res.writeHead(413, { 'content-type': 'text/html' });
      res.end('<html><head><title>413 Request Entity Too Large</title></head></html>\n');
      req.resume();
    };
    const max = options.maxBodyBytes;
    if (max !== undefined && Number(req.headers['content-length'] ?? 0) > max) return refuse();
    const headers = { ...req.headers };
    if (options.forwardedProto === true) headers['x-forwarded-proto'] = scheme;
    const open = (extra: http.OutgoingHttpHeaders = {}): http.ClientRequest => {
      const upstream = http.request(
        {
          host: '127.0.0.1',
          port: options.upstreamPort,
          method: req.method,
          path: req.url,
          headers: { ...headers, ...extra },
        },
        (answer) => {
          if (refused) return answer.resume();
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      upstream.on('error', () => {
        if (refused) return;
        if (!res.headersSent) res.writeHead(502);
        res.end();
      });
      req.once('close', () => {
        if (!req.complete) upstream.destroy();
      });
      return upstream;
    };
    const delay = options.bufferBodiesMs;
    if (delay !== undefined) {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        setTimeout(
          () => {
            delete headers['transfer-encoding'];
            open({ 'content-length': body.length }).end(body);
          },
          body.length > 0 ? delay : 0,
        );
      });
      return;
    }
    const upstream = open();
    let seen = 0;
    req.on('data', (chunk: Buffer) => {
      if (refused) return;
      seen += chunk.length;
      if (max !== undefined && seen > max) {
        upstream.destroy();
        refuse();
      } else if (options.stallAfterBytes !== undefined && seen > options.stallAfterBytes) {
        req.pause(); // and never again: the client's upload stops moving
      } else if (!upstream.write(chunk)) {
        req.pause();
        upstream.once('drain', () => req.resume());
      }
    });
    req.on('end', () => {
      if (!refused) upstream.end();
    });
  };
  const server = options.tls
    ? https.createServer(options.tls, handler)
    : http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `${scheme}://127.0.0.1:${port}`,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A self-signed ECDSA certificate made with the openssl CLI; `san` adds subjectAltNames. */
async function opensslCert(
  dir: string,
  name: string,
  san?: string,
): Promise<{ cert: string; key: string; certFile: string }> {
  const certFile = path.join(dir, `${name}.crt`);
  const keyFile = path.join(dir, `${name}.key`);
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-days',
    '365',
    '-subj',
    '/CN=localhost',
    ...(san !== undefined ? ['-addext', `subjectAltName=${san}`] : []),
    '-keyout',
    keyFile,
    '-out',
    certFile,
  ]);
  return { cert: await readFile(certFile, 'utf8'), key: await readFile(keyFile, 'utf8'), certFile };
}

describe('berth doctor', () => {
  let berth: ServerProcess;
  let upstreamPort: number;
  let certDir: string;
  const fronts: Front[] = [];

  beforeAll(async () => {
    // Trusting loopback proxies lets a front that sends X-Forwarded-Proto get an https realm.
    berth = await startServerProcess({ auth: true, args: ['--trusted-proxy', '127.0.0.1'] });
    upstreamPort = Number(new URL(berth.url).port);
    certDir = await makeTempDir('berth-doctor-certs-');
  });

  afterAll(async () => {
    await Promise.all(fronts.map((f) => f.close()));
    await berth.stop();
    await rm(certDir, { recursive: true, force: true });
    await rm(berth.dataDir, { recursive: true, force: true });
  });

  async function front(options: Omit<Parameters<typeof startFront>[0], 'upstreamPort'>) {
    const f = await startFront({ upstreamPort, ...options });
    fronts.push(f);
    return f;
  }

  it('passes every check of a healthy Berth except the loopback and plain-HTTP warnings, pushing 50 MB, and leaves nothing behind', async () => {
    const before = await storedFiles(berth.dataDir);
    const { code, report } = await doctorJson([berth.url, ...ADMIN]);
    expect(report.findings.filter((f) => f.status !== 'pass')).toEqual([
      expect.objectContaining({ check: 'dns', status: 'warn' }),
      expect.objectContaining({
        check: 'tls',
        status: 'warn',
        summary: expect.stringContaining('plain HTTP') as string,
      }),
    ]);
    expect(new Set(report.findings.map((f) => f.check))).toEqual(
      new Set(['dns', 'tls', 'registry', 'realm', 'token', 'clock', 'upload', 'lifetime']),
    );
    expect(report.ok).toBe(true);
    expect(code).toBe(0);
    // The 50 MB are gone with the cancelled session; only the tiny committed blob's file is new.
    const added = [...(await storedFiles(berth.dataDir))].filter(([file]) => !before.has(file));
    expect(added.length).toBeLessThanOrEqual(1);
    for (const [file, size] of added) expect(size, file).toBeLessThanOrEqual(4096);
    const [upload, cleanup] = byCheck(report, 'upload');
    expect(upload?.data?.['bytes']).toBe(50_000_000);
    expect(upload?.summary).toContain('the PUT that commits it');
    expect(cleanup?.summary).toMatch(/^cleaned up: the measured upload was cancelled/);
    expect(cleanup?.summary).toContain('stays until garbage collection');
    expect(cleanup?.summary).toContain(`${SCRATCH} deleted`);
    expect(byCheck(report, 'token')[0]?.data).toMatchObject({
      user: 'admin',
      actions: expect.arrayContaining(['pull', 'push']) as string[],
      expiresIn: 300,
    });
    // The blob is unlinked and the scratch repository is nowhere to be seen.
    const digest = String(upload?.data?.['digest']);
    const head = await fetch(`${berth.url}/v2/${SCRATCH}/blobs/${digest}`, {
      method: 'HEAD',
      headers: { authorization: ADMIN_BASIC },
    });
    expect(head.status).toBe(404);
    const catalog = await fetch(`${berth.url}/v2/_catalog`, {
      headers: { authorization: ADMIN_BASIC },
    });
    expect(catalog.status).toBe(200);
    expect(((await catalog.json()) as { repositories: string[] }).repositories).not.toContain(
      SCRATCH,
    );
    const listed = await fetch(`${berth.url}/api/v1/repositories?q=berth-doctor`, {
      headers: { authorization: ADMIN_BASIC },
    });
    expect(await listed.json()).toMatchObject({ items: [], total: 0 });
  });

  it('never deletes a repository that holds images, even when --repository names it', async () => {
    const open = await startServerProcess();
    try {
      const image = await pushImage(open.url, 'library/keep', 'v1');
      const { code, report } = await doctorJson([
        open.url,
        '--repository',
        'library/keep',
        '--blob-size-mb',
        '1',
      ]);
      expect(code).toBe(0);
      const cleanup = byCheck(report, 'upload')[1];
      expect(cleanup).toMatchObject({ status: 'pass' });
      expect(cleanup?.summary).toContain('library/keep kept (it holds images');
      const res = await fetch(`${open.url}/v2/library/keep/manifests/v1`, {
        headers: { accept: OCI_MANIFEST },
      });
      expect(res.status).toBe(200);
      expect(await res.text()).toBe(image.manifest);
    } finally {
      await open.stop();
      await rm(open.dataDir, { recursive: true, force: true });
    }
  });

  it('names what stays, and why, when the user may push but not delete', async () => {
    const password = 'pusher-password-1';
    const created = await fetch(`${berth.url}/api/v1/users`, {
      method: 'POST',
      headers: { authorization: ADMIN_BASIC, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'pusher', password, roles: [{ role: 'developer' }] }),
    });
    expect(created.status).toBe(201);
    const { code, report } = await doctorJson(
      [berth.url, '--username', 'pusher', '--password-stdin', '--blob-size-mb', '1'],
      password,
    );
    const [upload, cleanup] = byCheck(report, 'upload');
    expect(upload?.status).toBe('pass');
    expect(cleanup?.status).toBe('warn');
    expect(cleanup?.summary).toMatch(/^left behind: the \d+-byte test blob in /);
    expect(cleanup?.summary).toContain(
      `the scratch repository ${SCRATCH} (DELETE → 403: pusher may not delete in library)`,
    );
    expect(cleanup?.fix).toContain('may delete in namespace library');
    // A warning, not a failure: pushing works.
    expect(code).toBe(0);

    // An administrator's run removes the leftovers of the earlier one too.
    const again = await doctorJson([berth.url, ...ADMIN, '--blob-size-mb', '1']);
    expect(byCheck(again.report, 'upload')[1]?.summary).toContain(`${SCRATCH} deleted`);
  });

  it('says only what it saw of a registry that asks for Basic credentials', async () => {
    // Not Berth: a registry that answers /v2/ with a Basic challenge and refuses everything else.
    const other = http.createServer((req, res) => {
      const headers = { 'docker-distribution-api-version': 'registry/2.0' };
      if (req.headers.authorization === undefined) {
        res.writeHead(401, { ...headers, 'www-authenticate': 'Basic realm="Registry Realm"' });
      } else {
        res.writeHead(req.url === '/v2/' ? 200 : 404, headers);
      }
      res.end();
    });
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = other.address() as AddressInfo;
      const { stdout } = await doctor([
        `http://127.0.0.1:${port}`,
        ...ADMIN,
        '--blob-size-mb',
        '1',
      ]);
      const realm = stdout.split('\n').find((line) => line.startsWith('! realm'));
      expect(realm, stdout).toContain('the registry asks for Basic credentials (no token realm)');
      expect(stdout).not.toMatch(/proxy.{0,3}s Basic/i);
      expect(stdout).toMatch(/✓ token\s+the Basic credentials of admin are accepted/);
    } finally {
      other.closeAllConnections();
      await new Promise<void>((resolve) => other.close(() => resolve()));
    }
  });

  it('says what anonymous gets and that bad credentials are refused', async () => {
    const anonymous = await doctorJson([berth.url, '--blob-size-mb', '1']);
    expect(byCheck(anonymous.report, 'token')[0]).toMatchObject({
      status: 'pass',
      data: { user: 'anonymous', actions: [] },
    });
    expect(byCheck(anonymous.report, 'upload')[0]?.status).toBe('skip');
    expect(anonymous.code).toBe(0);

    const { stdout, code } = await new Promise<{ stdout: string; code: number | null }>(
      (resolve) => {
        const child = spawn(process.execPath, [CLI, 'doctor', berth.url, ...ADMIN, '--json']);
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.once('close', (c) => resolve({ stdout: out, code: c }));
        child.stdin.end('not-the-password\n');
      },
    );
    const report = JSON.parse(stdout) as Report;
    expect(byCheck(report, 'token')[0]).toMatchObject({
      status: 'fail',
      summary: expect.stringContaining('refuses the credentials of admin') as string,
    });
    expect(code).toBe(1);
  });

  it('names a certificate without subjectAltNames as the legacy Common Name problem, with berth cert', async () => {
    const cn = await opensslCert(certDir, 'cn-only');
    // The staging is right: openssl made no SAN extension.
    const { stdout: text } = await run('openssl', ['x509', '-in', cn.certFile, '-noout', '-text']);
    expect(text).not.toContain('Subject Alternative Name');
    const tlsFront = await front({ tls: cn, forwardedProto: true });
    const url = tlsFront.url.replace('127.0.0.1', 'localhost');
    const { code, stdout } = await doctor([
      url,
      ...ADMIN,
      '--ca-file',
      cn.certFile,
      '--blob-size-mb',
      '1',
    ]);
    const lines = stdout.split('\n');
    const at = lines.findIndex(
      (l) => l.startsWith('✗ tls') && l.includes('legacy Common Name field'),
    );
    expect(at, stdout).toBeGreaterThanOrEqual(0);
    const under = lines.slice(at + 1, at + 8).join(' ');
    expect(under).toContain('certificate relies on legacy Common Name field');
    expect(under).toContain('berth cert --host localhost');
    // The chain itself verifies against --ca-file: only the names are wrong.
    expect(stdout).toMatch(/✓ tls\s+TLSv1\.[23], chain verified/);
    expect(code).toBe(1);
  });

  it('names an http:// realm behind a TLS proxy that sends no X-Forwarded-Proto, with the fix', async () => {
    const san = await opensslCert(certDir, 'san', 'DNS:localhost,IP:127.0.0.1');
    const tlsFront = await front({ tls: san, forwardedProto: false });
    const { code, report } = await doctorJson([
      tlsFront.url,
      ...ADMIN,
      '--ca-file',
      san.certFile,
      '--blob-size-mb',
      '2',
    ]);
    // TLS itself is fine here.
    expect(byCheck(report, 'tls').map((f) => f.status)).toEqual(['pass', 'pass', 'pass']);
    const realm = byCheck(report, 'realm');
    expect(realm).toHaveLength(1);
    expect(realm[0]).toMatchObject({
      status: 'fail',
      summary: expect.stringContaining(
        `http://127.0.0.1:${new URL(tlsFront.url).port}/v2/token`,
      ) as string,
    });
    expect(realm[0]?.summary).toContain('http:// on an https registry');
    expect(realm[0]?.fix).toContain(`--external-url ${tlsFront.url}`);
    expect(realm[0]?.fix).toContain('--trusted-proxy');
    expect(realm[0]?.fix).toContain('X-Forwarded-Proto');
    // The same path on the dialled origin works, so the remaining checks still ran.
    expect(byCheck(report, 'upload')[0]?.status).toBe('pass');
    expect(report.ok).toBe(false);
    expect(code).toBe(1);
  });

  it('names an untrusted self-signed certificate with the exact certs.d path for ca.crt', async () => {
    const san = await opensslCert(certDir, 'untrusted', 'DNS:localhost,IP:127.0.0.1');
    const tlsFront = await front({ tls: san, forwardedProto: true });
    const dialled = new URL(tlsFront.url).host;
    const { code, report } = await doctorJson([tlsFront.url, ...ADMIN, '--blob-size-mb', '1']);
    const [chain] = byCheck(report, 'tls');
    expect(chain?.status).toBe('fail');
    expect(chain?.summary).toContain('self-signed and this client does not trust it');
    expect(chain?.fix).toContain(`/etc/docker/certs.d/${dialled}/ca.crt`);
    expect(chain?.fix).toContain(`/etc/containers/certs.d/${dialled}/ca.crt`);
    // The doctor goes on without verification and still finds the rest working.
    expect(byCheck(report, 'upload')[0]?.status).toBe('pass');
    expect(code).toBe(1);
  });

  it('names a proxy that refuses bodies over 1 MB with 413, with client_max_body_size 0', async () => {
    const limited = await front({ maxBodyBytes: 1024 * 1024 });
    const { code, stdout } = await doctor([limited.url, ...ADMIN, '--blob-size-mb', '5']);
    const lines = stdout.split('\n');
    const at = lines.findIndex((l) => l.startsWith('✗ upload'));
    expect(at, stdout).toBeGreaterThanOrEqual(0);
    expect(lines[at]).toContain('413');
    expect(lines[at]).toContain('a proxy in front limits the body size');
    expect(lines.slice(at + 1, at + 6).join(' ')).toContain('fix: nginx: client_max_body_size 0;');
    // Everything before the upload went through the proxy fine.
    expect(stdout).toMatch(/✓ token\s+token for admin/);
    expect(code).toBe(1);
  });

  it('notices a proxy that buffers whole uploads before passing them on', async () => {
    const buffering = await front({ bufferBodiesMs: 2500 });
    const { code, report } = await doctorJson([buffering.url, ...ADMIN, '--blob-size-mb', '5']);
    const upload = byCheck(report, 'upload');
    expect(upload.map((f) => f.status)).toEqual(['pass', 'warn', 'pass']);
    expect(upload[1]?.summary).toContain('a proxy seems to buffer the whole upload');
    expect(upload[1]?.fix).toContain('proxy_request_buffering off');
    // A warning, not a failure: the push works, only slower.
    expect(code).toBe(0);
  });

  it('names a stalled upload with the buffering fix', async () => {
    const stalling = await front({ stallAfterBytes: 1024 * 1024 });
    const { code, report } = await doctorJson([
      stalling.url,
      ...ADMIN,
      '--blob-size-mb',
      '20',
      '--stall-timeout',
      '2',
    ]);
    const [upload] = byCheck(report, 'upload');
    expect(upload?.status).toBe('fail');
    expect(upload?.summary).toMatch(
      /^the upload stalled after \d+(\.\d)? MB: nothing moved for 2 s$/,
    );
    expect(upload?.fix).toContain('proxy_request_buffering off');
    expect(code).toBe(1);
  });
});
