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
import { afterAll } from 'vitest';
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

/** What a test file started or made through these helpers and has not cleaned up yet. */
const leftovers = { dirs: new Set<string>(), children: new Set<ChildProcess>() };

// After each test file, even one whose tests failed half-way: no server process and no temp
// directory outlives it. Registered on import, so this runs after the file's own afterAll hooks.
afterAll(async () => {
  for (const child of leftovers.children) {
    if (child.exitCode === null && child.signalCode === null) {
      const closed = new Promise((resolve) => child.once('close', resolve));
      child.kill('SIGKILL');
      await closed;
    }
  }
  leftovers.children.clear();
  for (const dir of leftovers.dirs) await rm(dir, { recursive: true, force: true });
  leftovers.dirs.clear();
});

/** A fresh temp directory, removed after the test file if the test has not removed it. */
export async function makeTempDir(prefix = 'berth-test-'): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  leftovers.dirs.add(dir);
  return dir;
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
    /** The login throttle's clock (ms), for tests that move time instead of waiting. */
    throttleClock?: () => number;
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
    throttleClock: options.throttleClock,
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

/**
 * A child process's output, collected from stdout and stderr a whole line at a time, so a test
 * never matches a line that has only partly arrived (the server may print a line in several
 * writes, and a busy machine delivers them apart). Lines from the two streams interleave in
 * arrival order; the server's human text may be on either stream.
 */
export interface ProcessOutput {
  /** Every complete line so far, each ending in `\n`. */
  text: () => string;
  /**
   * Resolves with the first match of `pattern` in the output (whole lines only), as soon as it
   * arrives; rejects after `timeoutMs`, or when the process has closed its output without it.
   * A string is matched literally.
   */
  waitFor: (pattern: RegExp | string, timeoutMs?: number) => Promise<RegExpExecArray>;
  /** Resolves once the process has exited and its output is all read: exit code or signal. */
  closed: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function collectOutput(child: ChildProcess): ProcessOutput {
  // A process whose output a test reads is one it started: killed after the file if still alive.
  leftovers.children.add(child);
  let text = '';
  const waiters = new Set<() => void>();
  const notify = (): void => {
    for (const check of [...waiters]) check();
  };
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => {
      text += `${line}\n`;
      notify();
    });
  }
  let ended = false;
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => {
      leftovers.children.delete(child);
      ended = true;
      resolve({ code, signal });
      notify();
    }),
  );
  return {
    text: () => text,
    closed,
    waitFor: (pattern, timeoutMs = 60_000) => {
      // Without the g and y flags exec always searches from the start.
      const regex =
        typeof pattern === 'string'
          ? new RegExp(pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
          : new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ''));
      return new Promise((resolve, reject) => {
        const done = (): void => {
          waiters.delete(check);
          clearTimeout(timer);
        };
        const check = (): void => {
          const m = regex.exec(text);
          if (m) {
            done();
            resolve(m);
          } else if (ended) {
            done();
            reject(new Error(`the process ended without printing ${String(pattern)}:\n${text}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`no ${String(pattern)} within ${timeoutMs} ms in:\n${text}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
  };
}

export interface ServerProcess {
  url: string;
  host: string;
  dataDir: string;
  child: ChildProcess;
  pid: number;
  /** Everything the process printed so far (stdout and stderr), in whole lines. */
  output(): string;
  /** Waits for a line matching `pattern` (see {@link ProcessOutput.waitFor}). */
  waitFor(pattern: RegExp | string, timeoutMs?: number): Promise<RegExpExecArray>;
  /** SIGTERM and wait until it has exited and its output is read; the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL and wait: a crash. */
  kill(): Promise<void>;
}

/**
 * How long a start may take: generous, because a loaded machine (several suites at once) is
 * slow, and nothing is waited for beyond the moment the server says it is ready.
 */
const START_TIMEOUT_MS = 60_000;

/** Runs `node dist/cli/main.js serve` on 127.0.0.1 (an ephemeral port unless `listen` says) and waits until it is ready. */
export async function startServerProcess(
  options: {
    dataDir?: string;
    args?: string[];
    env?: NodeJS.ProcessEnv;
    nodeArgs?: string[];
    /** Off unless asked for (see startServer). */
    auth?: boolean;
    /**
     * `HOST:PORT` to listen on instead of an ephemeral port: a replica restarted behind a load
     * balancer must come back where the balancer sends it.
     */
    listen?: string;
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
      options.listen ?? '127.0.0.1:0',
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
  const output = collectOutput(child);
  const exited = output.closed.then(({ code }) => code);
  let url: string;
  try {
    url =
      (await output.waitFor(/serving the registry on (http:\/\/[^\s,]+)/, START_TIMEOUT_MS))[1] ??
      '';
  } catch (e) {
    // A failed start leaves nothing behind: the process is ended and a temp directory removed.
    child.kill('SIGKILL');
    await exited;
    if (!options.dataDir) await rm(dataDir, { recursive: true, force: true });
    throw e;
  }
  return {
    url,
    host: url.slice('http://'.length),
    dataDir,
    child,
    pid: child.pid ?? -1,
    output: output.text,
    waitFor: output.waitFor,
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
