/**
 * Berth behind real nginx (Debian's), with TLS terminated at nginx and nginx configured by exactly
 * what `berth nginx-config` prints, wrapped in the few lines a throwaway test nginx needs.
 * skopeo verifies nginx's certificate against the CA that `berth cert` made. The scenario: the
 * token realm names nginx's https address, login works, a 200 MiB layer is pushed as a stream
 * (nginx never spools it to disk) and pulled back intact, and a second repository mounts the
 * layers. A chunked upload like docker's streams through as well. Variants of the generated text
 * show that it is what makes this work: with nginx's default `client_max_body_size 1m` the push
 * fails with 413, and without `proxy_http_version 1.1` (for chunked uploads) or with request
 * buffering on, nginx spools the upload to a temp file, which the streaming checks catch.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, readdir, readlink, rm, stat } from 'node:fs/promises';
import type { IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startNginx, stopAllNginx, type Nginx as TestNginx } from '../helpers/nginx.js';
import { ADMIN_PASSWORD, CLI, startServerProcess, type ServerProcess } from '../helpers/server.js';
import {
  buildImage,
  dirBlobPath,
  fileSha256,
  hostArchitecture,
  initLayout,
  readDirImage,
  run,
  runOk,
  writeRandomFile,
  type ImageManifest,
  type RunResult,
  type StoredManifest,
} from './images.js';

const NAME = 'localhost';
const CREDS = `admin:${ADMIN_PASSWORD}`;

let work = '';
let berth: ServerProcess | undefined;
let clientEnv: NodeJS.ProcessEnv = {};
/** Holds only `ca.crt`: what skopeo trusts for nginx, as `/etc/containers/certs.d/HOST:PORT/`. */
let certDir = '';
let authFile = '';
let caPem = '';
let big: StoredManifest<ImageManifest> | undefined;
let bigLayout = '';

interface Nginx extends TestNginx {
  /** `localhost:PORT`, as clients dial it. */
  host: string;
}

function bigImage(): StoredManifest<ImageManifest> {
  if (!big) throw new Error('the big image was not built');
  return big;
}

function bigLayer(): { digest: string; size: number } {
  const [layer] = bigImage().parsed.layers;
  if (!layer) throw new Error('the big image has no layer');
  return layer;
}

function upstream(): string {
  if (!berth) throw new Error('berth not started');
  return berth.host;
}

/** `berth nginx-config` for this test's names, ports and certificate, exactly as printed. */
async function generatedConfig(port: number): Promise<string> {
  const { stdout } = await runOk(process.execPath, [
    CLI,
    'nginx-config',
    '--server-name',
    NAME,
    '--listen',
    `127.0.0.1:${port}`,
    '--upstream',
    upstream(),
    '--tls-cert',
    path.join(work, 'tls', 'server.crt'),
    '--tls-key',
    path.join(work, 'tls', 'server.key'),
  ]);
  return stdout;
}

/**
 * nginx with the generated server block (after `edit`, for the staged failures), inside the
 * minimal main config of helpers/nginx.ts.
 */
async function startGenerated(
  label: string,
  edit: (text: string) => string = (t) => t,
): Promise<Nginx> {
  const nginx = await startNginx({
    label: `nginx-${label}`,
    parent: work,
    http: async (port) => edit(await generatedConfig(port)),
  });
  return Object.assign(nginx, { host: `${NAME}:${nginx.port}` });
}

function skopeo(args: string[]): Promise<RunResult> {
  return runOk('skopeo', args, clientEnv);
}

/** The generated text with one directive's value changed; fails if the directive is not there. */
function replaceOnce(text: string, from: string, to: string): string {
  expect(text.split(from)).toHaveLength(2);
  return text.replace(from, to);
}

interface Response {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * An HTTPS request to nginx that verifies its certificate for `localhost` against the test CA.
 * `body`, when given, is written in chunks with no Content-Length: chunked transfer encoding.
 */
function request(
  nginx: Nginx,
  urlPath: string,
  options: { method?: string; headers?: Record<string, string>; body?: Iterable<Buffer> } = {},
): Promise<Response> {
  return new Promise<Response>((resolve, reject) => {
    const req = https.request(
      {
        method: options.method ?? 'GET',
        // 127.0.0.1, where nginx listens (`localhost` may resolve to ::1 first); the name checked
        // in the certificate and sent in Host is still `localhost`.
        host: '127.0.0.1',
        servername: NAME,
        port: nginx.port,
        path: urlPath,
        ca: caPem,
        headers: { host: nginx.host, ...options.headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.once('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        );
        res.once('error', reject);
      },
    );
    req.once('error', reject);
    if (!options.body) {
      req.end();
      return;
    }
    // Written with back-pressure, one chunk at a time, as docker streams a layer.
    const chunks = options.body[Symbol.iterator]();
    const pump = (): void => {
      for (let next = chunks.next(); !next.done; next = chunks.next()) {
        if (!req.write(next.value)) {
          req.once('drain', pump);
          return;
        }
      }
      req.end();
    };
    pump();
  });
}

/** `Authorization` for `repository:NAME:pull,push`, from the realm nginx's challenge names. */
async function bearerFor(nginx: Nginx, repository: string): Promise<string> {
  const challenge = String((await request(nginx, '/v2/')).headers['www-authenticate']);
  const realm = new URL(/realm="([^"]+)"/.exec(challenge)?.[1] ?? '');
  realm.searchParams.set('service', /service="([^"]+)"/.exec(challenge)?.[1] ?? '');
  realm.searchParams.set('scope', `repository:${repository}:pull,push`);
  const res = await request(nginx, `${realm.pathname}${realm.search}`, {
    headers: { authorization: `Basic ${Buffer.from(CREDS).toString('base64')}` },
  });
  expect(res.status).toBe(200);
  return `Bearer ${(JSON.parse(res.body) as { token: string }).token}`;
}

/**
 * Uploads `size` random bytes the way docker does: POST, then one PATCH with a chunked body and
 * no Content-Length or Content-Range, then PUT with the digest. Returns the digest.
 */
async function chunkedUpload(nginx: Nginx, repository: string, size: number): Promise<string> {
  const authorization = await bearerFor(nginx, repository);
  const start = await request(nginx, `/v2/${repository}/blobs/uploads/`, {
    method: 'POST',
    headers: { authorization },
  });
  expect(start.status).toBe(202);
  const hash = createHash('sha256');
  function* random(): Generator<Buffer> {
    for (let left = size; left > 0; left -= 1024 * 1024) {
      const chunk = randomBytes(Math.min(1024 * 1024, left));
      hash.update(chunk);
      yield chunk;
    }
  }
  const patch = await request(nginx, String(start.headers.location), {
    method: 'PATCH',
    headers: { authorization, 'content-type': 'application/octet-stream' },
    body: random(),
  });
  expect(patch.status).toBe(202);
  expect(patch.headers.range).toBe(`0-${size - 1}`);
  const digest = `sha256:${hash.digest('hex')}`;
  const location = new URL(String(patch.headers.location), `https://${nginx.host}`);
  location.searchParams.set('digest', digest);
  const put = await request(nginx, `${location.pathname}${location.search}`, {
    method: 'PUT',
    headers: { authorization },
  });
  expect(put.status).toBe(201);
  return digest;
}

interface NginxLogEntry {
  method: string;
  url: string;
  status: number;
}

/** nginx's access log (the default `combined` format): request line and status. */
async function nginxAccessLog(nginx: Nginx): Promise<NginxLogEntry[]> {
  const text = await readFile(path.join(nginx.dir, 'access.log'), 'utf8');
  return text
    .split('\n')
    .map((line) => /"([A-Z]+) (\S+) HTTP\/[\d.]+" (\d{3}) /.exec(line))
    .filter((m) => m !== null)
    .map((m) => ({ method: m[1] ?? '', url: m[2] ?? '', status: Number(m[3]) }));
}

/** The files under `dir` that process `pid` has open (deleted ones included), by /proc. */
async function openFilesUnder(pid: number, dir: string): Promise<string[]> {
  const fds = await readdir(`/proc/${pid}/fd`).catch(() => []);
  const targets = await Promise.all(
    fds.map((fd) => readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')),
  );
  return targets.filter((t) => t.startsWith(`${dir}/`));
}

/**
 * Runs `work` while looking every 20 ms at the files nginx's processes hold open in its temp
 * directories: nginx buffering a request or response writes it to such a file for as long as the
 * transfer takes. The file is unlinked as soon as it is created, so listing the directory would
 * show nothing either way; the open descriptor (`… (deleted)`) is what gives it away.
 */
async function watchTempFiles<T>(
  nginx: Nginx,
  work: () => Promise<T>,
): Promise<{ result: T; seen: string[] }> {
  const master = nginx.pid;
  const temp = [path.join(nginx.dir, 'client_body'), path.join(nginx.dir, 'proxy')];
  const seen = new Set<string>();
  const state = { done: false };
  const watcher = (async () => {
    while (!state.done) {
      const children = await readFile(`/proc/${master}/task/${master}/children`, 'utf8');
      for (const pid of [master, ...children.split(/\s+/).filter(Boolean).map(Number)]) {
        for (const dir of temp) {
          for (const file of await openFilesUnder(pid, dir))
            seen.add(path.relative(nginx.dir, file));
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  try {
    return { result: await work(), seen: [...seen] };
  } finally {
    state.done = true;
    await watcher;
  }
}

interface BerthLogEntry {
  method?: string;
  url?: string;
  status?: number;
}

function berthLog(offset: number): BerthLogEntry[] {
  if (!berth) throw new Error('berth not started');
  return berth
    .output()
    .slice(offset)
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as BerthLogEntry)
    .filter((entry) => entry.method !== undefined);
}

/** Berth logs through a pipe: wait until a given request shows up. */
async function waitForBerthRequest(
  offset: number,
  match: (e: BerthLogEntry) => boolean,
): Promise<void> {
  for (const deadline = Date.now() + 30_000; Date.now() < deadline;) {
    if (berthLog(offset).some(match)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('the expected request never reached Berth');
}

/** A private CA and a server certificate for localhost and 127.0.0.1, made by `berth cert`. */
async function makeCertificates(): Promise<void> {
  const dir = path.join(work, 'tls');
  await runOk(process.execPath, [CLI, 'cert', '--host', NAME, '--ip', '127.0.0.1', '--out', dir]);
  certDir = path.join(work, 'certs.d');
  await mkdir(certDir);
  await copyFile(path.join(dir, 'ca.crt'), path.join(certDir, 'ca.crt'));
  caPem = await readFile(path.join(dir, 'ca.crt'), 'utf8');
}

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
  work = path.join(tmpdir(), `berth-e2e-nginx-${randomBytes(6).toString('hex')}`);
  await mkdir(work);
  await mkdir(path.join(work, 'tmp'));
  clientEnv = { ...process.env, TMPDIR: path.join(work, 'tmp') };
  authFile = path.join(work, 'auth.json');
  await makeCertificates();
  // Info level: the access log shows which requests reached Berth and how they were answered.
  berth = await startServerProcess({
    auth: true,
    dataDir: path.join(work, 'data'),
    args: ['--trusted-proxy', '127.0.0.1', '--log-level', 'info'],
  });

  const size = 200 * 1024 * 1024;
  const source = path.join(work, 'big.bin');
  await writeRandomFile(source, size);
  bigLayout = path.join(work, 'big');
  await initLayout(bigLayout);
  big = await buildImage(bigLayout, {
    tag: 'v1',
    platform: { architecture: hostArchitecture(), os: 'linux' },
    layers: [['/big.bin', { file: source }]],
  });
  await rm(source);
  // Random data does not compress: the gzip'd layer is still over 200 MiB.
  expect(bigLayer().size).toBeGreaterThan(size);
});

afterAll(async () => {
  await stopAllNginx();
  await berth?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('with nginx as generated, TLS at nginx', () => {
  let nginx: Nginx;

  beforeAll(async () => {
    nginx = await startGenerated('generated');
  });

  afterAll(async () => {
    await nginx.stop();
  });

  test('challenges with a realm on nginx’s https address, and the token from it works', async () => {
    const challenge = await request(nginx, '/v2/');
    expect(challenge.status).toBe(401);
    const header = String(challenge.headers['www-authenticate']);
    const realm = /realm="([^"]+)"/.exec(header)?.[1];
    const service = /service="([^"]+)"/.exec(header)?.[1];
    // Not http://, and not Berth's own port: what the client dialled.
    expect(realm).toBe(`https://${NAME}:${nginx.port}/v2/token`);
    expect(service).toBeDefined();

    const basic = `Basic ${Buffer.from(CREDS).toString('base64')}`;
    const tokenPath = `/v2/token?service=${encodeURIComponent(service ?? '')}`;
    const token = await request(nginx, tokenPath, { headers: { authorization: basic } });
    expect(token.status).toBe(200);
    const { token: jwt } = JSON.parse(token.body) as { token?: string };
    expect(typeof jwt).toBe('string');
    const base = await request(nginx, '/v2/', {
      headers: { authorization: `Bearer ${jwt ?? ''}` },
    });
    expect(base.status).toBe(200);

    const wrong = await request(nginx, tokenPath, {
      headers: {
        authorization: `Basic ${Buffer.from('admin:not-the-password').toString('base64')}`,
      },
    });
    expect(wrong.status).toBe(401);

    // `location /` reaches Berth too: the admin API's description.
    const api = await request(nginx, '/api/v1/openapi.json');
    expect(api.status).toBe(200);
    expect(JSON.parse(api.body)).toHaveProperty('openapi');
  });

  test('skopeo logs in over verified TLS, and is refused without the CA', async () => {
    const untrusted = await run(
      'skopeo',
      ['inspect', '--creds', CREDS, `docker://${nginx.host}/library/none:v1`],
      clientEnv,
    );
    expect(untrusted.code).not.toBe(0);
    expect(untrusted.stderr).toMatch(/certificate signed by unknown authority/);

    const refused = await run(
      'skopeo',
      [
        'login',
        '--cert-dir',
        certDir,
        '--authfile',
        authFile,
        '-u',
        'admin',
        '-p',
        'not-the-password',
        nginx.host,
      ],
      clientEnv,
    );
    expect(refused.code).not.toBe(0);

    const login = await skopeo([
      'login',
      '--cert-dir',
      certDir,
      '--authfile',
      authFile,
      '-u',
      'admin',
      '-p',
      ADMIN_PASSWORD,
      nginx.host,
    ]);
    expect(login.stdout).toMatch(/Login Succeeded/);
    const auths = JSON.parse(await readFile(authFile, 'utf8')) as { auths: object };
    expect(Object.keys(auths.auths)).toEqual([nginx.host]);
  });

  test('pushes a 200 MiB layer as a stream through nginx and pulls it back intact', async () => {
    const image = bigImage();
    const layer = bigLayer();
    const offset = berth?.output().length ?? 0;
    const push = await watchTempFiles(nginx, () =>
      skopeo([
        'copy',
        '--authfile',
        authFile,
        '--dest-cert-dir',
        certDir,
        `oci:${bigLayout}:v1`,
        `docker://${nginx.host}/library/e2e-nginx:v1`,
      ]),
    );
    // nginx passed the upload on as it arrived: it never wrote the body to a temp file.
    expect(push.seen).toEqual([]);
    expect(await nginx.errors()).not.toMatch(/buffered to a temporary file/);
    await waitForBerthRequest(
      offset,
      (e) => e.method === 'PUT' && e.url === '/v2/library/e2e-nginx/manifests/v1',
    );
    // The layer's bytes reached Berth through nginx and were committed under their digest.
    const committed = berthLog(offset).filter(
      (e) =>
        e.method === 'PUT' &&
        e.url?.includes(`digest=${encodeURIComponent(layer.digest)}`) &&
        e.status === 201,
    );
    expect(committed).toHaveLength(1);

    const out = path.join(work, 'pulled');
    const pull = await watchTempFiles(nginx, () =>
      skopeo([
        'copy',
        '--authfile',
        authFile,
        '--src-cert-dir',
        certDir,
        `docker://${nginx.host}/library/e2e-nginx:v1`,
        `dir:${out}`,
      ]),
    );
    expect(pull.seen).toEqual([]);
    expect(await nginx.errors()).not.toMatch(/buffered to a temporary file/);
    const pulled = await readDirImage(out);
    expect(pulled.digest).toBe(image.digest);
    const file = dirBlobPath(out, layer.digest);
    expect((await stat(file)).size).toBe(layer.size);
    expect(await fileSha256(file)).toBe(layer.digest);
    await rm(out, { recursive: true });
  });

  test('a chunked upload, as docker sends each layer, streams through nginx to Berth', async () => {
    const repository = 'library/e2e-nginx-chunked';
    const size = 64 * 1024 * 1024;
    const upload = await watchTempFiles(nginx, () => chunkedUpload(nginx, repository, size));
    expect(upload.seen).toEqual([]);
    expect(await nginx.errors()).not.toMatch(/buffered to a temporary file/);
    const head = await request(nginx, `/v2/${repository}/blobs/${upload.result}`, {
      method: 'HEAD',
      headers: { authorization: await bearerFor(nginx, repository) },
    });
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe(String(size));
    expect(head.headers['docker-content-digest']).toBe(upload.result);
  });

  test('a copy to a second repository mounts the layer through nginx instead of uploading it', async () => {
    const image = bigImage();
    const offset = berth?.output().length ?? 0;
    const copy = await skopeo([
      '--debug',
      'copy',
      '--authfile',
      authFile,
      '--src-cert-dir',
      certDir,
      '--dest-cert-dir',
      certDir,
      `docker://${nginx.host}/library/e2e-nginx:v1`,
      `docker://${nginx.host}/library/e2e-nginx-mount:v1`,
    ]);
    await waitForBerthRequest(
      offset,
      (e) => e.method === 'PUT' && e.url === '/v2/library/e2e-nginx-mount/manifests/v1',
    );
    const log = berthLog(offset).filter((e) =>
      e.url?.startsWith('/v2/library/e2e-nginx-mount/blobs/uploads/'),
    );
    for (const layer of image.parsed.layers) {
      const encoded = encodeURIComponent(layer.digest);
      const mounts = log.filter(
        (e) =>
          e.method === 'POST' &&
          e.url?.includes(`mount=${encoded}`) &&
          e.url.includes(`from=${encodeURIComponent('library/e2e-nginx')}`),
      );
      expect(mounts.map((e) => e.status)).toEqual([201]);
      expect(log.filter((e) => e.method === 'PUT' && e.url?.includes(`digest=${encoded}`))).toEqual(
        [],
      );
    }
    expect(copy.stderr.match(/mount OK/g)?.length).toBe(image.parsed.layers.length);
    const inspected = JSON.parse(
      (
        await skopeo([
          'inspect',
          '--authfile',
          authFile,
          '--cert-dir',
          certDir,
          `docker://${nginx.host}/library/e2e-nginx-mount:v1`,
        ])
      ).stdout,
    ) as { Digest: string; Layers: string[] };
    expect(inspected.Digest).toBe(image.digest);
    expect(inspected.Layers).toEqual(image.parsed.layers.map((l) => l.digest));
  });
});

describe('staged failures: the generated config with one directive changed', () => {
  test('with client_max_body_size 1m the 200 MiB push fails with 413 at nginx', async () => {
    const nginx = await startGenerated('limit', (text) =>
      replaceOnce(text, 'client_max_body_size 0;', 'client_max_body_size 1m;'),
    );
    try {
      const push = await run(
        'skopeo',
        [
          'copy',
          '--dest-creds',
          CREDS,
          '--dest-cert-dir',
          certDir,
          `oci:${bigLayout}:v1`,
          // A new repository, so the layer already in Berth is not simply mounted.
          `docker://${nginx.host}/library/e2e-nginx-limited:v1`,
        ],
        clientEnv,
      );
      expect(push.code).not.toBe(0);
      expect(push.stderr).toMatch(/413/);
      const refused = (await nginxAccessLog(nginx)).filter(
        (e) => e.status === 413 && e.url.startsWith('/v2/library/e2e-nginx-limited/blobs/uploads/'),
      );
      expect(refused.length).toBeGreaterThan(0);
      expect(await nginx.errors()).toMatch(/client intended to send too large/);
      const manifest = await request(nginx, '/v2/library/e2e-nginx-limited/manifests/v1', {
        headers: { authorization: `Basic ${Buffer.from(CREDS).toString('base64')}` },
      });
      expect(manifest.status).toBe(404);
    } finally {
      await nginx.stop();
    }
  });

  test('without proxy_http_version 1.1 nginx spools a chunked upload to disk first', async () => {
    const nginx = await startGenerated('http10', (text) =>
      replaceOnce(text, 'proxy_http_version 1.1;', '# proxy_http_version: the default, 1.0'),
    );
    try {
      const upload = await watchTempFiles(nginx, () =>
        chunkedUpload(nginx, 'library/e2e-nginx-http10', 64 * 1024 * 1024),
      );
      // The same two checks that found nothing with the generated config.
      expect(upload.seen.filter((f) => f.startsWith('client_body/')).length).toBeGreaterThan(0);
      expect(await nginx.errors()).toMatch(/a client request body is buffered to a temporary file/);
    } finally {
      await nginx.stop();
    }
  });

  test('with proxy_request_buffering on nginx spools the upload to disk, which the checks see', async () => {
    const nginx = await startGenerated('buffered', (text) =>
      replaceOnce(text, 'proxy_request_buffering off;', 'proxy_request_buffering on;'),
    );
    try {
      const push = await watchTempFiles(nginx, () =>
        skopeo([
          'copy',
          '--dest-creds',
          CREDS,
          '--dest-cert-dir',
          certDir,
          `oci:${bigLayout}:v1`,
          `docker://${nginx.host}/library/e2e-nginx-buffered:v1`,
        ]),
      );
      // The same two checks that found nothing with the generated config.
      expect(push.seen.filter((f) => f.startsWith('client_body/')).length).toBeGreaterThan(0);
      expect(await nginx.errors()).toMatch(/a client request body is buffered to a temporary file/);
    } finally {
      await nginx.stop();
    }
  });
});
