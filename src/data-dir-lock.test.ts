import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DataDirInUseError, lockDataDir } from './data-dir-lock.js';

let dir: string;
let lockFile: string;
const children: ChildProcess[] = [];

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'berth-lock-'));
  lockFile = path.join(dir, 'serve.lock');
});
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

/** A live process that is not this one, until the test ends. */
async function otherProcess(): Promise<number> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1 << 30)'], {
    stdio: 'ignore',
  });
  children.push(child);
  await new Promise((resolve) => child.once('spawn', resolve));
  return child.pid ?? -1;
}

/** The PID of a process that has exited. */
async function goneProcess(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid ?? -1;
}

/** Field 22 of /proc/PID/stat, as the lock records it. */
async function startTime(pid: number): Promise<string> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '';
}

async function holder(): Promise<unknown> {
  return JSON.parse(await readFile(lockFile, 'utf8'));
}

describe('the serve lock of a data directory', () => {
  it('removes the directories it created when they are still empty at release, and only those', async () => {
    const fresh = path.join(dir, 'new', 'data');
    const refused = await lockDataDir(fresh);
    await refused.release();
    expect(await readdir(dir)).toEqual([]);

    const used = await lockDataDir(fresh);
    await writeFile(path.join(fresh, 'registry.db'), '');
    await used.release();
    expect(await readdir(fresh)).toEqual(['registry.db']);

    const existing = await lockDataDir(dir);
    await existing.release();
    expect(await readdir(dir)).toEqual(['new']);
  });

  it('holds the PID and start time, and is removed on release', async () => {
    const lock = await lockDataDir(dir);
    expect(lock.replaced).toBeNull();
    expect(await holder()).toEqual({ pid: process.pid, started: await startTime(process.pid) });
    await lock.release();
    expect(await readdir(dir)).toEqual([]);
  });

  it('is refused while a running process holds it, and left as it was', async () => {
    const pid = await otherProcess();
    const content = JSON.stringify({ pid, started: await startTime(pid) });
    await writeFile(lockFile, content);
    const refused = lockDataDir(dir);
    await expect(refused).rejects.toThrow(DataDirInUseError);
    await expect(refused).rejects.toThrow(
      `data directory ${dir} is in use by PID ${pid} (berth serve); stop it first or use another --data`,
    );
    expect(await readFile(lockFile, 'utf8')).toBe(content);
    expect(await readdir(dir)).toEqual(['serve.lock']);
  });

  it('replaces a stale lock whose process is gone', async () => {
    const pid = await goneProcess();
    await writeFile(lockFile, JSON.stringify({ pid, started: '1' }));
    const lock = await lockDataDir(dir);
    expect(lock.replaced).toBe(`PID ${pid}`);
    expect(await holder()).toEqual({ pid: process.pid, started: await startTime(process.pid) });
    await lock.release();
  });

  it('replaces a stale lock whose PID now belongs to another process', async () => {
    // Same PID, another start time: the PID was reused (e.g. PID 1 in a restarted container).
    const pid = await otherProcess();
    await writeFile(lockFile, JSON.stringify({ pid, started: `${await startTime(pid)}0` }));
    const lock = await lockDataDir(dir);
    expect(lock.replaced).toBe(`PID ${pid}`);
    await lock.release();
  });

  it('replaces a lock file that names no process', async () => {
    await writeFile(lockFile, '');
    const lock = await lockDataDir(dir);
    expect(lock.replaced).toBe('unreadable: ""');
    await lock.release();
  });

  it('lets one process hold a directory once, and again after release', async () => {
    const first = await lockDataDir(dir);
    await expect(lockDataDir(dir)).rejects.toThrow(`in use by PID ${process.pid}`);
    await first.release();
    await first.release();
    const second = await lockDataDir(dir);
    expect(second.replaced).toBeNull();
    // The first lock's late release must not remove the second.
    await first.release();
    expect(await holder()).toEqual({ pid: process.pid, started: await startTime(process.pid) });
    await second.release();
    expect(await readdir(dir)).toEqual([]);
  });

  it('treats a lock left by an earlier process with this PID as stale', async () => {
    await writeFile(lockFile, JSON.stringify({ pid: process.pid, started: '1' }));
    const lock = await lockDataDir(dir);
    expect(lock.replaced).toBe(`PID ${process.pid}`);
    await lock.release();
  });
});
