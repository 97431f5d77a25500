/**
 * Every process and temporary directory the benchmark creates is registered here, so that a normal
 * end, an exception or Ctrl-C all stop the same PIDs and remove the same directories. Processes are
 * only ever signalled by the PID we got from spawn.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';

const children = new Set<ChildProcess>();
const tempDirs = new Set<string>();

/** Spawns a child and tracks it until it exits. */
export function spawnTracked(command: string, args: string[], options: SpawnOptions): ChildProcess {
  const child = spawn(command, args, options);
  children.add(child);
  child.once('exit', () => children.delete(child));
  // An ENOENT or similar is reported by whoever waits on the child; do not crash on it here.
  child.on('error', () => undefined);
  return child;
}

/** The stdout of a child spawned with `stdio: [_, 'pipe', _]`. */
export function stdoutOf(child: ChildProcess): Readable {
  if (!child.stdout) throw new Error('the child has no stdout pipe');
  return child.stdout;
}

export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** SIGTERM, then SIGKILL if the child has not exited within `graceMs`. */
export async function stopChild(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const done = exited(child);
  process.kill(child.pid, 'SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const killed = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        process.kill(child.pid, 'SIGKILL');
      }
      resolve();
    }, graceMs);
  });
  await Promise.race([done, killed]);
  clearTimeout(timer);
  await done;
}

export async function makeTempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

export async function removeTempDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

/** Synchronous last resort: used from the `exit` handler, where nothing async runs any more. */
function killAllSync(): void {
  for (const child of children) {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }
  children.clear();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

const cleanups = new Set<() => Promise<void>>();

/**
 * Registers the stop of something started by a helper that tracks its own processes (the engines
 * of scale-out mode: Ceph, PostgreSQL, nginx); run by `cleanupAll` after the tracked children
 * stop. Returns the function that unregisters it (call it once the thing stopped normally).
 */
export function registerCleanup(stop: () => Promise<void>): () => void {
  cleanups.add(stop);
  return () => cleanups.delete(stop);
}

/** Stops everything still running, gracefully; then removes the temporary directories. */
export async function cleanupAll(): Promise<void> {
  await Promise.all([...children].map((c) => stopChild(c, 5_000)));
  for (const stop of [...cleanups].reverse()) {
    cleanups.delete(stop);
    await stop().catch((err: unknown) => {
      process.stderr.write(`bench: cleanup failed: ${String(err)}\n`);
    });
  }
  killAllSync();
}

let installed = false;

/** Ctrl-C, SIGTERM and uncaught errors stop every tracked child before the process ends. */
export function installCleanupHandlers(): void {
  if (installed) return;
  installed = true;
  process.on('exit', killAllSync);
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`\nbench: ${signal}, stopping the servers…\n`);
    void cleanupAll().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}
