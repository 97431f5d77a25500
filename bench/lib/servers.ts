/**
 * The two registries under test, each started as a child process on 127.0.0.1 with a fresh, empty
 * data directory: Berth from `dist/` and the reference, CNCF Distribution from the Debian package
 * `docker-registry`, with a generated config (filesystem storage, errors-only logging, deletes on).
 * Start-to-ready is measured the same way for both: from spawn to the first 200 on `GET /v2/`.
 *
 * The reference runs without authentication, so Berth runs with `--no-auth` for the protocol
 * scenarios; scenarios that need the token realm get their own Berth with authentication on and a
 * known admin password (`BERTH_ADMIN_PASSWORD`).
 *
 * In scale-out mode (`engines`) both keep their blobs in an S3 bucket instead, and Berth its
 * metadata in a PostgreSQL database.
 */
import type { ChildProcess } from 'node:child_process';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { makeTempDir, removeTempDir, spawnTracked, stopChild } from './procs.js';
import { sleep } from './stats.js';

export type Role = 'candidate' | 'reference';

export const ROLE_LABEL: Record<Role, string> = { candidate: 'Berth', reference: 'Distribution' };

export const ROOT = path.resolve(import.meta.dirname, '../..');
const BERTH_CLI = path.join(ROOT, 'dist/cli/main.js');

/**
 * The V8 flags `npm start` gives node (package.json's start script): the benchmark measures Berth
 * as the quick start runs it.
 */
function startScriptNodeFlags(): string[] {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    scripts?: { start?: string };
  };
  const words = (pkg.scripts?.start ?? '').split(/\s+/);
  const cli = words.indexOf('dist/cli/main.js');
  return words.slice(0, Math.max(cli, 0)).filter((w) => w.startsWith('--'));
}
const REFERENCE_BIN = '/usr/bin/docker-registry';
const READY_TIMEOUT_MS = 30_000;
/** The first admin's password of a Berth started with authentication (loopback only). */
const BENCH_ADMIN = { user: 'admin', password: 'bench-admin-password' };

export interface StartOptions {
  /** Authentication on (Berth only): `/v2/` answers 401 until a client signs in. */
  auth?: boolean;
  /** Scale-out mode (`--engines s3`): metadata and blobs on real engines instead of `--data`. */
  engines?: EngineTargets;
}

/** Where a registry keeps its state in scale-out mode: its own bucket, Berth its own database. */
export interface EngineTargets {
  /** `http://HOST:PORT` of the S3 gateway (or of the counting proxy in front of it). */
  s3Endpoint: string;
  bucket: string;
  accessKey: string;
  secretKey: string;
  /** Berth's `--meta` (a PostgreSQL URL); the reference keeps its metadata in the bucket. */
  metaUrl: string;
}

export interface RunningRegistry {
  role: Role;
  url: string;
  pid: number;
  dataDir: string;
  readyMs: number;
  /** Set when the registry runs with authentication: the admin's credentials. */
  credentials?: { user: string; password: string };
  /** The last output of the process, for error messages. */
  output(): string;
  /** Stops the process by its PID and removes its data directory. */
  stop(): Promise<void>;
}

/** Installs the reference with apt if missing; returns its version line. */
export function ensureReference(): string {
  if (!existsSync(REFERENCE_BIN)) {
    process.stderr.write(
      'bench: installing the reference registry (apt-get install docker-registry)\n',
    );
    // The package's systemd unit is never used (and there is no systemd to start it here).
    const result = spawnSync('apt-get', ['install', '-y', 'docker-registry'], {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    if (result.status !== 0 || !existsSync(REFERENCE_BIN)) {
      throw new Error('could not install docker-registry; run `apt-get update` first?');
    }
  }
  return execFileSync(REFERENCE_BIN, ['--version'], { encoding: 'utf8' }).trim();
}

export function berthBuilt(): boolean {
  return existsSync(BERTH_CLI);
}

/** A port that was free a moment ago (the registries need it on their command line). */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

function probe(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(`${url}/v2/`, { agent: false, timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
  });
}

/** Ready once `GET /v2/` answers `readyStatus` (200; 401, the challenge, with authentication). */
async function waitReady(
  child: ChildProcess,
  url: string,
  output: () => string,
  readyStatus: number,
): Promise<void> {
  const deadline = performance.now() + READY_TIMEOUT_MS;
  while (performance.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`the server exited before it was ready:\n${output()}`);
    }
    if ((await probe(url)) === readyStatus) return;
    await sleep(5);
  }
  throw new Error(`the server was not ready within ${READY_TIMEOUT_MS} ms:\n${output()}`);
}

async function launch(
  role: Role,
  dataDir: string,
  port: number,
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; credentials?: { user: string; password: string } } = {},
): Promise<RunningRegistry> {
  const url = `http://127.0.0.1:${port}`;
  let output = '';
  const keep = (data: Buffer): void => {
    output = (output + data.toString('utf8')).slice(-16_384);
  };
  const started = performance.now();
  const child = spawnTracked(command, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    cwd: dataDir,
    env: { ...process.env, ...options.env },
  });
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  try {
    await waitReady(child, url, () => output, options.credentials ? 401 : 200);
  } catch (err) {
    await stopChild(child, 2000);
    await removeTempDir(dataDir);
    throw err;
  }
  const readyMs = performance.now() - started;
  return {
    role,
    url,
    pid: child.pid ?? -1,
    dataDir,
    readyMs,
    ...(options.credentials ? { credentials: options.credentials } : {}),
    output: () => output,
    async stop() {
      await stopChild(child);
      await removeTempDir(dataDir);
    },
  };
}

export async function startCandidate(options: StartOptions = {}): Promise<RunningRegistry> {
  const dataDir = await makeTempDir('berth-bench-candidate-');
  const port = await freePort();
  const args = [
    ...startScriptNodeFlags(),
    BERTH_CLI,
    'serve',
    '--listen',
    `127.0.0.1:${port}`,
    '--data',
    dataDir,
    '--log-level',
    'error',
  ];
  const engines = options.engines;
  const engineEnv: NodeJS.ProcessEnv = {};
  if (engines) {
    const query = new URLSearchParams({
      endpoint: engines.s3Endpoint,
      region: 'us-east-1',
      forcePathStyle: 'true',
    });
    args.push('--meta', engines.metaUrl, '--storage', `s3://${engines.bucket}?${query.toString()}`);
    engineEnv['AWS_ACCESS_KEY_ID'] = engines.accessKey;
    engineEnv['AWS_SECRET_ACCESS_KEY'] = engines.secretKey;
  }
  if (options.auth !== true) {
    // Like the reference, which runs without authentication.
    return launch('candidate', dataDir, port, process.execPath, [...args, '--no-auth'], {
      env: engineEnv,
    });
  }
  return launch('candidate', dataDir, port, process.execPath, args, {
    env: { ...engineEnv, BERTH_AUTH: 'on', BERTH_ADMIN_PASSWORD: BENCH_ADMIN.password },
    credentials: BENCH_ADMIN,
  });
}

/**
 * The reference's `storage.s3` section (the Distribution 2.8 `s3` driver). With `regionendpoint`
 * set, 2.8 addresses buckets path-style (it has no `forcepathstyle` option; 3.0 added one).
 * Redirects are off: by default it answers blob GETs with a 307 to a presigned S3 URL, and the
 * comparison is of registries that serve the bytes themselves, as Berth does.
 */
function referenceS3Storage(engines: EngineTargets): string[] {
  return [
    '  s3:',
    `    regionendpoint: ${engines.s3Endpoint}`,
    '    region: us-east-1',
    `    bucket: ${engines.bucket}`,
    `    accesskey: ${engines.accessKey}`,
    `    secretkey: ${engines.secretKey}`,
    '    secure: false',
    '    v4auth: true',
    '  redirect:',
    '    disable: true',
  ];
}

export async function startReference(options: StartOptions = {}): Promise<RunningRegistry> {
  const dataDir = await makeTempDir('berth-bench-reference-');
  const port = await freePort();
  const config = path.join(dataDir, 'config.yml');
  const storage = options.engines
    ? referenceS3Storage(options.engines)
    : ['  filesystem:', `    rootdirectory: ${path.join(dataDir, 'storage')}`];
  // Its best case as documented: errors-only logging and no access log; the in-memory blob
  // descriptor cache of the Debian package's own config. No auth, like Berth here.
  await writeFile(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: error',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      ...storage,
      '  delete:',
      '    enabled: true',
      '  cache:',
      '    blobdescriptor: inmemory',
      'http:',
      `  addr: 127.0.0.1:${port}`,
      '',
    ].join('\n'),
  );
  // aws-sdk-go refuses to start (LoadCustomCABundleError) when AWS_CA_BUNDLE is set and the
  // driver brings its own HTTP transport, as 2.8's does; the gateway is plain HTTP on loopback.
  const env = options.engines ? { AWS_CA_BUNDLE: undefined } : {};
  return launch('reference', dataDir, port, REFERENCE_BIN, ['serve', config], { env });
}

/**
 * Runs `berth ARGS --data DIR`: a CLI command on the data directory of a Berth started here, as an
 * operator would beside the running server. Resolves to its stdout; rejects on a non-zero exit.
 */
export async function berthCommand(registry: RunningRegistry, args: string[]): Promise<string> {
  if (registry.role !== 'candidate') throw new Error('berth commands need a Berth data directory');
  const child = spawnTracked(process.execPath, [BERTH_CLI, ...args, '--data', registry.dataDir], {
    stdio: ['ignore', 'pipe', 'pipe'],
    cwd: registry.dataDir,
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (data: Buffer) => (stdout += data.toString('utf8')));
  child.stderr?.on('data', (data: Buffer) => (stderr += data.toString('utf8')));
  // 'close', not 'exit': the output has then been read to its end.
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const timer = setTimeout(() => void stopChild(child, 2000), READY_TIMEOUT_MS);
  await closed;
  clearTimeout(timer);
  if (child.exitCode !== 0) {
    throw new Error(
      `berth ${args.join(' ')} exited with ${String(child.exitCode ?? child.signalCode)}: ${stderr.trim()}`,
    );
  }
  return stdout;
}

export function startRegistry(role: Role, options: StartOptions = {}): Promise<RunningRegistry> {
  if (role === 'reference' && options.auth === true)
    throw new Error('the reference runs without authentication: it has no token realm');
  return role === 'candidate' ? startCandidate(options) : startReference(options);
}
