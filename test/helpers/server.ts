/**
 * Test servers: the real application on 127.0.0.1 and an ephemeral port, with a fresh data
 * directory. `startServer` runs it in-process (HTTP tests); `startServerProcess` runs the built
 * CLI (`dist/`) as a child process (e2e, crash and memory tests).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { DestinationStream } from 'pino';
import { createApp, type BerthApp } from '../../src/app.js';
import { loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';

/** The admin password of every test server (auth suites sign in with it). */
export const ADMIN_PASSWORD = 'test-admin-password';

export interface TestServer {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** `127.0.0.1:PORT`, as registry clients want it. */
  host: string;
  dataDir: string;
  app: BerthApp;
  close(): Promise<void>;
}

export async function makeTempDir(prefix = 'berth-test-'): Promise<string> {
  return mkdtemp(path.join(tmpdir(), prefix));
}

export async function startServer(
  options: {
    configure?: (config: Config) => void;
    dataDir?: string;
    /**
     * Authentication is off unless asked for: most suites test distribution behaviour; the auth
     * suites turn it on and sign in as `admin` with {@link ADMIN_PASSWORD}.
     */
    auth?: boolean;
    /** A web UI build to serve instead of this checkout's web/dist. */
    webRoot?: string;
    /** Receives the server's log lines (JSON, level info and up unless BERTH_TEST_LOG says). */
    logStream?: DestinationStream;
  } = {},
): Promise<TestServer> {
  const dataDir = options.dataDir ?? (await makeTempDir());
  const config = loadConfig({
    env: {},
    flags: {
      listen: ['127.0.0.1:0'],
      data: dataDir,
      logLevel: process.env['BERTH_TEST_LOG'] ?? (options.logStream ? 'info' : 'silent'),
    },
  });
  config.auth.enabled = options.auth ?? false;
  options.configure?.(config);
  const app = await createApp(config, {
    adminPassword: ADMIN_PASSWORD,
    webRoot: options.webRoot,
    logStream: options.logStream,
  });
  const [bound] = await app.listen();
  if (!bound) throw new Error('server did not bind');
  return {
    url: `http://${bound}`,
    host: bound,
    dataDir,
    app,
    async close() {
      await app.close();
      if (!options.dataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const CLI = path.join(ROOT, 'dist/cli/main.js');

export interface ServerProcess {
  url: string;
  host: string;
  dataDir: string;
  child: ChildProcess;
  pid: number;
  /** Everything the process printed so far (stdout and stderr). */
  output(): string;
  /** SIGTERM and wait. */
  stop(): Promise<number | null>;
  /** SIGKILL and wait: a crash. */
  kill(): Promise<void>;
}

/** Runs `node dist/cli/main.js serve` on 127.0.0.1 with an ephemeral port and waits until it is ready. */
export async function startServerProcess(
  options: {
    dataDir?: string;
    args?: string[];
    env?: NodeJS.ProcessEnv;
    nodeArgs?: string[];
    /** Off unless asked for (see startServer). */
    auth?: boolean;
  } = {},
): Promise<ServerProcess> {
  const dataDir = options.dataDir ?? (await makeTempDir());
  const child = spawn(
    process.execPath,
    [
      ...(options.nodeArgs ?? []),
      CLI,
      'serve',
      '--listen',
      '127.0.0.1:0',
      '--data',
      dataDir,
      '--log-level',
      'warn',
      ...(options.auth === true ? [] : ['--no-auth']),
      ...(options.args ?? []),
    ],
    {
      env: { ...process.env, BERTH_ADMIN_PASSWORD: ADMIN_PASSWORD, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'] as const,
    },
  );
  let output = '';
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${output}`)), 20_000);
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      output += `${line}\n`;
      const m = /serving the registry on (http:\/\/[^\s,]+)/.exec(line);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    void exited.then((code) => reject(new Error(`server exited with ${code}:\n${output}`)));
  });
  return {
    url,
    host: url.slice('http://'.length),
    dataDir,
    child,
    pid: child.pid ?? -1,
    output: () => output,
    async stop() {
      child.kill('SIGTERM');
      return exited;
    },
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
  };
}
