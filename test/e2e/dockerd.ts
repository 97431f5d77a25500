/**
 * A private dockerd for e2e tests: Debian's `docker.io` daemon on a socket in a temp dir, with its
 * own data root, exec root, pid file and daemon.json, no networking of its own (no bridge, no
 * iptables), so it neither touches nor depends on a system docker. The docker CLI is pointed at it
 * through DOCKER_HOST and a private DOCKER_CONFIG.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

/**
 * Debian's CLI, by absolute path: /usr/local/bin/docker may be a newer client-only build that
 * shadows it on PATH, and the test is about the client that ships with the daemon.
 */
export const DOCKER_CLI = '/usr/bin/docker';
const DOCKERD_CANDIDATES = ['/usr/sbin/dockerd', '/usr/bin/dockerd'];

export interface CommandResult {
  command: string;
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout and stderr interleaved in arrival order: docker prints progress and errors apart. */
  output: string;
  timedOut: boolean;
}

export interface CommandOptions {
  timeoutMs?: number;
  /** Written to the command's stdin, which is then closed (`--password-stdin`). */
  input?: string;
}

export interface Dockerd {
  pid: number;
  /** The storage driver the daemon came up with (overlay2, or vfs where overlay2 fails). */
  storageDriver: string;
  /** Environment for the docker CLI: DOCKER_HOST and DOCKER_CONFIG point at this daemon. */
  env: NodeJS.ProcessEnv;
  /** The socket of the containerd this dockerd started (for `ctr --address`). */
  containerdAddress: string;
  /** Everything the daemon printed so far. */
  log(): string;
  /** Runs the docker CLI against this daemon; never throws on a non-zero exit or a timeout. */
  docker(args: readonly string[], options?: CommandOptions): Promise<CommandResult>;
  /** Like `docker`, but a failure is an error with the command's output and the daemon's log. */
  dockerOk(args: readonly string[], options?: CommandOptions): Promise<CommandResult>;
  /** SIGTERM by PID, wait, then remove every temp dir. */
  stop(): Promise<void>;
}

const DEFAULT_TIMEOUT_MS = 90_000;
const READY_TIMEOUT_MS = 45_000;
const STOP_TIMEOUT_MS = 30_000;

/**
 * Runs a command with a deadline; on timeout it is killed by its PID and the result says so.
 * With `input`, that text is its stdin; otherwise stdin is empty.
 */
export function runWithTimeout(
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
  input?: string,
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    // An empty stdin reads as EOF at once, as 'ignore' (/dev/null) would.
    child.stdin.on('error', () => undefined);
    child.stdin.end(input ?? '');
    let stdout = '';
    let stderr = '';
    let output = '';
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      output += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      output += d.toString();
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ command: [command, ...args].join(' '), code, stdout, stderr, output, timedOut });
    });
  });
}

/** A readable account of a command for assertion messages and errors. */
export function describeResult(result: CommandResult): string {
  const status = result.timedOut ? 'timed out' : `exited with ${String(result.code)}`;
  return `${result.command} ${status}\n--- output ---\n${result.output}`;
}

function tail(text: string, lines: number): string {
  return text.split('\n').slice(-lines).join('\n');
}

function exitOf(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Unmounts whatever dockerd left mounted under `dir`, deepest first, then removes it. dockerd
 * bind-mounts its data root onto itself (for mount propagation) and only undoes that on a clean
 * shutdown: after a failed start the mount stays and `rm` fails with EBUSY.
 */
async function removeDir(dir: string): Promise<void> {
  // mountinfo lists resolved paths; TMPDIR may be a symlink.
  const real = await realpath(dir).catch(() => dir);
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  const mounts = mountinfo
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .map((field) =>
      field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8))),
    )
    .filter((point) => point === real || point.startsWith(`${real}/`))
    .sort((a, b) => b.length - a.length);
  for (const point of mounts) {
    const result = await runWithTimeout('umount', [point], process.env, 10_000);
    if (result.code !== 0) await runWithTimeout('umount', ['-l', point], process.env, 10_000);
  }
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
}

/** Waits for the child to exit; after `ms` kills it (and the containerd it started) by PID. */
async function terminate(child: ChildProcess, execRoot: string, ms: number): Promise<void> {
  const exited = exitOf(child);
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const inTime = await Promise.race([exited.then(() => true), delay(ms).then(() => false)]);
  if (inTime) return;
  // dockerd normally stops its own containerd; when dockerd has to be killed it cannot.
  const containerdPid = Number(
    await readFile(path.join(execRoot, 'containerd', 'containerd.pid'), 'utf8').catch(() => ''),
  );
  child.kill('SIGKILL');
  await exited;
  if (Number.isInteger(containerdPid) && containerdPid > 0) {
    try {
      process.kill(containerdPid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

interface Attempt {
  child: ChildProcess;
  log(): string;
  dataRoot: string;
}

function launch(
  dockerd: string,
  dir: string,
  socket: string,
  execRoot: string,
  driver: string,
): Attempt {
  const dataRoot = path.join(dir, `data-${driver}`);
  const child = spawn(
    dockerd,
    [
      '--host',
      `unix://${socket}`,
      // An empty daemon.json of our own, so a system /etc/docker/daemon.json cannot change the test.
      '--config-file',
      path.join(dir, 'daemon.json'),
      '--data-root',
      dataRoot,
      '--exec-root',
      execRoot,
      '--pidfile',
      path.join(dir, 'dockerd.pid'),
      '--storage-driver',
      driver,
      '--iptables=false',
      '--ip6tables=false',
      '--ip-masq=false',
      '--bridge=none',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  child.stdout.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr.on('data', (d: Buffer) => (log += d.toString()));
  return { child, log: () => log, dataRoot };
}

/**
 * Starts dockerd with overlay2 (vfs if overlay2 does not come up) and waits until `docker info`
 * answers. Throws with the daemon's log when it cannot start: a missing daemon is a failure, not a
 * reason to skip.
 */
export async function startDockerd(
  options: {
    /** daemon.json settings (e.g. `registry-mirrors`); empty by default. */
    daemonConfig?: Record<string, unknown>;
  } = {},
): Promise<Dockerd> {
  const dockerd = DOCKERD_CANDIDATES.find((p) => existsSync(p));
  if (!dockerd || !existsSync(DOCKER_CLI)) {
    throw new Error(
      `dockerd or ${DOCKER_CLI} is missing: install Debian's docker.io package ` +
        '(apt-get install -y --no-install-recommends docker.io)',
    );
  }
  // Short paths: the daemon's and containerd's unix sockets must stay under 108 bytes.
  const dir = await mkdtemp(path.join(tmpdir(), 'berth-dockerd-'));
  const socket = path.join(dir, 'docker.sock');
  const execRoot = path.join(dir, 'exec');
  const configDir = path.join(dir, 'config');
  await mkdir(configDir);
  await writeFile(path.join(dir, 'daemon.json'), `${JSON.stringify(options.daemonConfig ?? {})}\n`);
  await writeFile(path.join(configDir, 'config.json'), '{}\n');

  // Without the variables that would send the CLI to another daemon or context.
  const foreign = new Set(['DOCKER_CONTEXT', 'DOCKER_TLS_VERIFY', 'DOCKER_CERT_PATH']);
  const env: NodeJS.ProcessEnv = {
    ...Object.fromEntries(Object.entries(process.env).filter(([key]) => !foreign.has(key))),
    DOCKER_HOST: `unix://${socket}`,
    DOCKER_CONFIG: configDir,
    // The classic builder: FROM scratch + COPY needs nothing from the network.
    DOCKER_BUILDKIT: '0',
  };

  const failures: string[] = [];
  for (const driver of ['overlay2', 'vfs']) {
    const attempt = launch(dockerd, dir, socket, execRoot, driver);
    let spawnError: Error | undefined;
    attempt.child.once('error', (err) => (spawnError = err));
    const deadline = Date.now() + READY_TIMEOUT_MS;
    let reported = '';
    let lastInfo = '';
    while (Date.now() < deadline && !spawnError) {
      if (attempt.child.exitCode !== null || attempt.child.signalCode !== null) break;
      const info = await runWithTimeout(
        DOCKER_CLI,
        ['info', '--format', '{{.Driver}}'],
        env,
        10_000,
      );
      lastInfo = info.output;
      if (info.code === 0 && info.stdout.trim() !== '') {
        reported = info.stdout.trim();
        break;
      }
      await delay(250);
    }
    if (reported) return handle(attempt, reported, dir, execRoot, env);
    await terminate(attempt.child, execRoot, STOP_TIMEOUT_MS);
    failures.push(
      `dockerd --storage-driver ${driver} did not become ready ` +
        `(exit ${String(attempt.child.exitCode ?? attempt.child.signalCode)}` +
        `${spawnError ? `, ${spawnError.message}` : ''})\n` +
        `last docker info:\n${lastInfo}\n--- dockerd log ---\n${tail(attempt.log(), 60)}`,
    );
    await removeDir(attempt.dataRoot);
  }
  await removeDir(dir);
  throw new Error(`dockerd could not start:\n${failures.join('\n\n')}`);
}

function handle(
  attempt: Attempt,
  storageDriver: string,
  dir: string,
  execRoot: string,
  env: NodeJS.ProcessEnv,
): Dockerd {
  const docker = (args: readonly string[], options: CommandOptions = {}) =>
    runWithTimeout(DOCKER_CLI, args, env, options.timeoutMs ?? DEFAULT_TIMEOUT_MS, options.input);
  return {
    pid: attempt.child.pid ?? -1,
    storageDriver,
    env,
    containerdAddress: path.join(execRoot, 'containerd', 'containerd.sock'),
    log: () => attempt.log(),
    docker,
    async dockerOk(args, options) {
      const result = await docker(args, options);
      if (result.code !== 0 || result.timedOut) {
        throw new Error(
          `${describeResult(result)}\n--- dockerd log (tail) ---\n${tail(attempt.log(), 30)}`,
        );
      }
      return result;
    },
    async stop() {
      await terminate(attempt.child, execRoot, STOP_TIMEOUT_MS);
      await removeDir(dir);
    },
  };
}
