/**
 * A throwaway CNCF Distribution 2.8 (Debian's `docker-registry`) as a real upstream registry for
 * the proxy tests: filesystem storage and its config in a temp directory of its own, on a free
 * port on 127.0.0.1, optionally behind htpasswd (basic) authentication, stopped by its PID.
 *
 * Its access log (one Apache-style line per request on stdout) is how tests count upstream
 * fetches. The gorilla logging handler writes a request's line when the handler returns, before
 * the server flushes the last bytes of the response: so once a client has read a response to its
 * end, a marker request sent after it is logged after it. `settled()` sends such a marker and
 * waits for its line; `requests()` and `count()` settle first, which makes them exact for every
 * request whose response the caller has already read (not for one the client or a fault proxy
 * cut short: that line comes when Distribution notices).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { bcrypt } from 'hash-wasm';
import { freePort } from './net.js';

export const DISTRIBUTION = '/usr/bin/docker-registry';

const READY_TIMEOUT_MS = 30_000;
/** A query parameter on the helper's own requests (readiness probes, markers), kept out of counts. */
const HELPER_PARAM = 'berth-test-helper';

export interface DistributionOptions {
  /** Starts the name of the temp directory. */
  label: string;
  /** Basic authentication with these users (htpasswd); without it, anyone may push and pull. */
  auth?: { users: { name: string; password: string }[] };
}

/** One line of Distribution's access log. */
export interface AccessEntry {
  method: string;
  /** Path and query, as the client sent them. */
  path: string;
  status: number;
  /** Response body bytes written (0 where the log says `-`). */
  bytes: number;
}

export interface Distribution {
  /** `http://127.0.0.1:PORT` */
  url: string;
  port: number;
  pid: number;
  /** Config, htpasswd file and `data/` (the storage root). */
  dir: string;
  /** Every request logged so far, after `settled()`; the helper's own requests left out. */
  requests(): Promise<AccessEntry[]>;
  /** How many logged requests have this method and a path (with query) matching `path`. */
  count(method: string, path: RegExp): Promise<number>;
  /** Resolves once every request whose response the caller has read is in the access log. */
  settled(): Promise<void>;
  /** Distribution's own log (stderr), its last 16 KiB, for failure messages. */
  output(): string;
  /** Stops the process by its PID and removes its directory; a second call does nothing more. */
  stop(): Promise<void>;
}

const running = new Set<Distribution>();

/** Stops every Distribution still running: for an afterAll, in case a test ended before its stop. */
export async function stopAllDistributions(): Promise<void> {
  for (const distribution of running) await distribution.stop();
}

export async function startDistribution(options: DistributionOptions): Promise<Distribution> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const dir = await mkdtemp(path.join(tmpdir(), `${options.label}-`));
    let started: { distribution: Distribution } | { failure: string };
    try {
      await writeConfig(dir, port, options);
      started = await launch(dir, port);
    } catch (e) {
      await rm(dir, { recursive: true, force: true });
      throw e;
    }
    if ('distribution' in started) return started.distribution;
    await rm(dir, { recursive: true, force: true });
    // Another process may have taken the port between the probe and Distribution's bind.
    if (attempt < 3 && /address already in use/.test(started.failure)) continue;
    throw new Error(`Distribution did not start:\n${started.failure}`);
  }
}

async function writeConfig(dir: string, port: number, options: DistributionOptions): Promise<void> {
  const lines = [
    'version: 0.1',
    'log:',
    '  level: info',
    '  accesslog:',
    '    disabled: false',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${dir}/data`,
    '  delete:',
    '    enabled: true',
    // No background sweep of upload sessions in the middle of a test.
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    // Without a secret it logs a warning and makes a random one anyway.
    `  secret: ${randomBytes(16).toString('hex')}`,
  ];
  if (options.auth) {
    // Distribution accepts only bcrypt entries. hash-wasm (a dependency of Berth already) makes
    // them; cost 4, the least bcrypt allows, keeps each checked request cheap.
    const entries = await Promise.all(
      options.auth.users.map(async (user) => {
        const hash = await bcrypt({
          password: user.password,
          salt: randomBytes(16),
          costFactor: 4,
          outputType: 'encoded',
        });
        return `${user.name}:${hash}\n`;
      }),
    );
    await writeFile(path.join(dir, 'htpasswd'), entries.join(''));
    lines.push('auth:', '  htpasswd:', '    realm: berth-test', `    path: ${dir}/htpasswd`);
  }
  await writeFile(path.join(dir, 'config.yml'), `${lines.join('\n')}\n`);
}

/** `127.0.0.1 - - [date] "GET /v2/ HTTP/1.1" 200 2 "referer" "user agent"` */
const ACCESS_LINE = /^\S+ \S+ \S+ \[[^\]]*\] "(\S+) (\S+) [^"]*" (\d{3}) (\d+|-) /;

function parseAccessLine(line: string): AccessEntry | undefined {
  const m = ACCESS_LINE.exec(line);
  if (!m) return undefined;
  const [, method = '', uri = '', status = '0', bytes = '-'] = m;
  return { method, path: uri, status: Number(status), bytes: bytes === '-' ? 0 : Number(bytes) };
}

/** GET /v2/ with the helper's parameter; the status, or 0 when nothing answered. */
function helperGet(port: number, tag: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(
      { host: '127.0.0.1', port, path: `/v2/?${HELPER_PARAM}=${tag}`, agent: false },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', () => resolve(0));
      },
    );
    req.on('error', () => resolve(0));
  });
}

async function until(done: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return true;
}

async function launch(
  dir: string,
  port: number,
): Promise<{ distribution: Distribution } | { failure: string }> {
  // Distribution's S3 driver panics on the AWS_CA_BUNDLE these machines set (TESTING.md); the
  // variable means nothing to the filesystem driver either.
  const env = { ...process.env };
  delete env['AWS_CA_BUNDLE'];
  const child: ChildProcess = spawn(DISTRIBUTION, ['serve', path.join(dir, 'config.yml')], {
    cwd: dir,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const entries: AccessEntry[] = [];
  let partial = '';
  child.stdout?.on('data', (data: Buffer) => {
    const lines = (partial + data.toString('utf8')).split('\n');
    // A line may arrive in pieces: the last piece waits for its newline.
    partial = lines.pop() ?? '';
    for (const line of lines) {
      const entry = parseAccessLine(line);
      if (entry) entries.push(entry);
    }
  });
  let stderr = '';
  child.stderr?.on('data', (data: Buffer) => {
    stderr = (stderr + data.toString('utf8')).slice(-16_384);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // An object: the exit handler sets it, which flow analysis does not see.
  const state = { alive: true };
  void exited.then(() => (state.alive = false));
  const kill = async (): Promise<void> => {
    if (state.alive && child.pid !== undefined) {
      process.kill(child.pid, 'SIGTERM');
      // Go's default on SIGTERM is to exit; SIGKILL only if it hangs.
      if (!(await until(() => !state.alive, 10_000))) process.kill(child.pid, 'SIGKILL');
    }
    await exited;
  };

  // Ready at the first answer on GET /v2/ (401 with authentication, 200 without).
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let ready = false;
  while (!ready && state.alive && Date.now() < deadline) {
    ready = (await helperGet(port, 'ready')) !== 0;
    if (!ready) await new Promise((resolve) => setTimeout(resolve, 20));
  }
  if (!ready || !state.alive || child.pid === undefined) {
    await kill();
    return { failure: stderr || `no answer on GET /v2/ within ${READY_TIMEOUT_MS} ms` };
  }

  let markers = 0;
  const settled = async (): Promise<void> => {
    const marker = `marker-${++markers}`;
    const status = await helperGet(port, marker);
    if (status === 0) throw new Error(`Distribution did not answer the marker:\n${stderr}`);
    const seen = (): boolean => entries.some((e) => e.path.endsWith(`${HELPER_PARAM}=${marker}`));
    if (!(await until(seen, 10_000))) throw new Error('the marker never reached the access log');
  };
  const requests = async (): Promise<AccessEntry[]> => {
    await settled();
    return entries.filter((e) => !e.path.includes(`${HELPER_PARAM}=`));
  };
  const distribution: Distribution = {
    url: `http://127.0.0.1:${port}`,
    port,
    pid: child.pid,
    dir,
    requests,
    async count(method, pattern) {
      const all = await requests();
      return all.filter((e) => e.method === method && pattern.test(e.path)).length;
    },
    settled,
    output: () => stderr,
    async stop() {
      running.delete(distribution);
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
  running.add(distribution);
  return { distribution };
}
