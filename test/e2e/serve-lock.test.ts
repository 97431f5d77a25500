/**
 * One `berth serve` per data directory (issue 18 item 5): a second one refuses to start while the
 * first keeps serving, the CLI commands meant to work beside a server still do, and the lock of a
 * server killed with SIGKILL is stale: the next start replaces it, with a warning. A clean stop
 * (SIGTERM, SIGINT) and a failed start remove the lock.
 */
import { execFile } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { afterEach, expect, it } from 'vitest';
import { pushImage } from '../helpers/oci.js';
import { ADMIN_PASSWORD, CLI, startServerProcess, type ServerProcess } from '../helpers/server.js';

const run = promisify(execFile);

let dataDir: string | undefined;
const servers: ServerProcess[] = [];

afterEach(async () => {
  for (const server of servers.splice(0)) {
    if (server.child.exitCode === null && server.child.signalCode === null) await server.kill();
  }
  if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
  dataDir = undefined;
});

/**
 * A server, answering. serve installs its SIGTERM/SIGINT handlers just after it prints the ready
 * line, in the same synchronous run; a request is served only after that run, so once one is
 * answered a signal finds the handlers (a signal sent at the ready line could come first).
 */
async function start(dir?: string): Promise<ServerProcess> {
  const server = await startServerProcess(dir === undefined ? {} : { dataDir: dir });
  servers.push(server);
  dataDir = server.dataDir;
  expect((await fetch(`${server.url}/v2/`)).status).toBe(200);
  return server;
}

/** The PID in the data directory's lock file, or null when there is none. */
async function lockHolder(dir: string): Promise<number | null> {
  try {
    return (JSON.parse(await readFile(path.join(dir, 'serve.lock'), 'utf8')) as { pid: number })
      .pid;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/**
 * Runs a `berth serve` that should refuse to start. If it starts instead, it is stopped at the
 * deadline and the exit code says so (null).
 */
async function serveExpectingRefusal(
  dir: string,
  listen = '127.0.0.1:0',
): Promise<{ code: number | null; stderr: string }> {
  try {
    const { stderr } = await run(
      process.execPath,
      [CLI, 'serve', '--listen', listen, '--data', dir, '--no-auth', '--log-level', 'warn'],
      { timeout: 60_000, env: { ...process.env, BERTH_ADMIN_PASSWORD: ADMIN_PASSWORD } },
    );
    return { code: 0, stderr };
  } catch (err) {
    const e = err as { code?: unknown; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : null, stderr: e.stderr ?? '' };
  }
}

/** Polls `check` until it holds (a log line arrives on its own time), up to a deadline. */
async function eventually(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

it('a second serve on a data directory in use exits 1, and the first keeps serving', async () => {
  const first = await start();
  const dir = first.dataDir;
  expect(await lockHolder(dir)).toBe(first.pid);

  const second = await serveExpectingRefusal(dir);
  expect(second.code).toBe(1);
  expect(second.stderr.trim().split('\n')).toEqual([
    `berth: data directory ${dir} is in use by PID ${first.pid} (berth serve); stop it first or use another --data`,
  ]);

  // The refused start changed nothing: the lock and the server are the first's.
  expect(await lockHolder(dir)).toBe(first.pid);
  await pushImage(first.url, 'library/after-refusal', 'v1');
  expect((await fetch(`${first.url}/v2/library/after-refusal/manifests/v1`)).status).toBe(200);

  // The commands meant to work beside a server take no lock.
  const berth = (args: string[]) => run(process.execPath, [CLI, ...args, '--data', dir]);
  await expect(berth(['namespace', 'create', 'team'])).resolves.toMatchObject({
    stdout: 'namespace team created\n',
  });
  await berth(['token', 'create', '--user', 'admin', '--name', 'beside-the-server']);
  const tokens = await berth(['token', 'list', '--json']);
  expect(tokens.stdout).toContain('beside-the-server');
  expect(await lockHolder(dir)).toBe(first.pid);
});

it('the lock of a killed server is replaced by the next start; a clean stop removes it', async () => {
  const crashed = await start();
  const dir = crashed.dataDir;
  await pushImage(crashed.url, 'library/before-crash', 'v1');
  await crashed.kill();
  expect(await lockHolder(dir)).toBe(crashed.pid);

  const next = await start(dir);
  expect(await lockHolder(dir)).toBe(next.pid);
  await eventually(
    () => next.output().includes(`replaced the stale lock ${path.join(dir, 'serve.lock')}`),
    'the stale-lock warning',
  );
  expect(next.output()).toContain(`PID ${crashed.pid}`);
  expect((await fetch(`${next.url}/v2/library/before-crash/manifests/v1`)).status).toBe(200);
  expect(await next.stop()).toBe(0);
  expect(await lockHolder(dir)).toBeNull();

  // SIGINT (Ctrl-C) releases it too.
  const interrupted = await start(dir);
  expect(await lockHolder(dir)).toBe(interrupted.pid);
  const exited = new Promise((resolve) => interrupted.child.once('exit', resolve));
  interrupted.child.kill('SIGINT');
  expect(await exited).toBe(0);
  expect(await lockHolder(dir)).toBeNull();
});

it('a start that fails after taking the lock releases it', async () => {
  const first = await start();
  const dir = first.dataDir;
  expect(await first.stop()).toBe(0);

  // A port this test holds: the listener cannot bind, after the data directory was opened.
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = taken.address() as AddressInfo;
    const failed = await serveExpectingRefusal(dir, `127.0.0.1:${port}`);
    expect(failed.code).toBe(1);
    expect(await lockHolder(dir)).toBeNull();
  } finally {
    await new Promise((resolve) => taken.close(resolve));
  }
});
