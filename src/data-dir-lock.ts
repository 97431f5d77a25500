/**
 * @module data-dir-lock
 * One `berth serve` per data directory. Two servers on one directory would each remove the other's
 * upload files as orphans at start, renew its certificate and take turns at SQLite's write lock,
 * so the second refuses to start. The CLI commands meant to work beside a server (user, role,
 * token, namespace, audit…) do not take this lock.
 *
 * `<data>/serve.lock` holds `{"pid":N,"started":"…"}`: the server's PID and its start time
 * (/proc/PID/stat, Linux). Node has no fcntl locks without an addon, so the file is published
 * with link(2), which fails if it exists and never shows a half-written file. A lock whose process
 * is gone, or whose PID now belongs to another process (another start time: e.g. PID 1 of a
 * restarted container), is stale: a server killed with SIGKILL or a power cut left it, and the
 * next start replaces it with a warning.
 */
import { readFileSync, unlinkSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { ConfigError } from './config/errors.js';

export const LOCK_FILE = 'serve.lock';

/** Another live server holds the data directory: a start refused for its `--data`. */
export class DataDirInUseError extends ConfigError {
  constructor(
    readonly dir: string,
    readonly pid: number,
  ) {
    super(
      `data directory ${dir} is in use by PID ${pid} (berth serve); stop it first or use another --data`,
    );
  }
}

export interface DataDirLock {
  readonly file: string;
  /**
   * What the stale lock this one replaced said, e.g. `PID 4711`: its server did not shut down
   * cleanly. Null when there was none.
   */
  readonly replaced: string | null;
  /** Removes the lock file if it is still this lock. Idempotent. */
  release(): Promise<void>;
}

interface Holder {
  pid: number;
  started: string | null;
}

/**
 * Lock files this process holds, by path, each with its content in a box of its own: a lock
 * released and taken again has the same content, and the first one's late release must not
 * remove the second. Released at exit if not before.
 */
const held = new Map<string, { content: string }>();
let exitHook = false;
let tempFiles = 0;

/**
 * Creates `dir` if needed and takes its serve lock, or throws DataDirInUseError. A directory this
 * call created is removed again on release while it is still empty: a start refused early (a bad
 * certificate, a port in use) leaves nothing behind, not even the folder of a mistyped --data.
 */
export async function lockDataDir(dir: string): Promise<DataDirLock> {
  const root = path.resolve(dir);
  // The first directory mkdir made, if any (undefined when `root` existed).
  const created = await fs.mkdir(root, { recursive: true, mode: 0o700 });
  const file = path.join(root, LOCK_FILE);
  const mine: Holder = { pid: process.pid, started: await startTime(process.pid) };
  const content = `${JSON.stringify(mine)}\n`;
  const mark = { content };
  const replaced = await acquire(root, file, mark, mine.started !== null);
  if (!exitHook) {
    process.once('exit', releaseAllSync);
    exitHook = true;
  }
  return {
    file,
    replaced,
    async release() {
      if (held.get(file) !== mark) return;
      held.delete(file);
      if ((await readIfExists(file)) === content) await fs.rm(file, { force: true });
      if (created !== undefined) await removeEmptyDirs(root, created);
    },
  };
}

/** Removes `dir` and its parents up to `top` while they are empty; stops at the first that is not. */
async function removeEmptyDirs(dir: string, top: string): Promise<void> {
  for (let current = dir; ; current = path.dirname(current)) {
    try {
      await fs.rmdir(current);
    } catch {
      return; // not empty (a server ran here), or gone: either way, nothing more to remove
    }
    if (current === top || current === path.dirname(current)) return;
  }
}

/** Publishes the lock and marks it held; says which stale lock it replaced, if any. */
async function acquire(
  root: string,
  file: string,
  mark: { content: string },
  hasProc: boolean,
): Promise<string | null> {
  const temp = `${file}.${process.pid}-${++tempFiles}.tmp`;
  await fs.writeFile(temp, mark.content, { mode: 0o644 });
  try {
    let replaced: string | null = null;
    // A few rounds: each one either takes the lock, refuses, or removes one stale lock; only
    // servers starting at the same moment as others make it go round more than twice.
    for (let round = 0; round < 5; round++) {
      try {
        await fs.link(temp, file);
        // At once: another start in this process must see it held, not stale.
        held.set(file, mark);
        return replaced;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const existing = await readIfExists(file);
      if (existing === null) continue; // released meanwhile
      const holder = parseHolder(existing);
      if (holder !== null && (await isRunning(file, holder, hasProc))) {
        throw new DataDirInUseError(root, holder.pid);
      }
      if (await removeIfUnchanged(file, existing)) {
        replaced = holder ? `PID ${holder.pid}` : `unreadable: ${JSON.stringify(existing)}`;
      }
    }
    throw new Error(`could not take ${file}: other servers are starting on ${root} at once`);
  } finally {
    await fs.rm(temp, { force: true });
  }
}

/**
 * Removes the stale lock only if it is still the one judged stale: another server starting now
 * may have replaced it already. Renaming it aside first makes the check and the removal one step
 * for the file, whoever else is looking at it.
 */
async function removeIfUnchanged(file: string, stale: string): Promise<boolean> {
  const aside = `${file}.${process.pid}-${++tempFiles}.stale`;
  try {
    await fs.rename(file, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
  const moved = await readIfExists(aside);
  if (moved !== stale) {
    // Another server's fresh lock: put it back (unless yet another took the place) and look again.
    await fs.link(aside, file).catch(() => undefined);
  }
  await fs.rm(aside, { force: true });
  return moved === stale;
}

/** `hasProc`: /proc/PID/stat can be read here (Linux), so a missing one means no such process. */
async function isRunning(file: string, holder: Holder, hasProc: boolean): Promise<boolean> {
  // This process: a second server in it (tests start several) holds it only if it is in `held`;
  // otherwise it is a previous process's lock that had this PID (PID 1 in a container).
  if (holder.pid === process.pid) return held.has(file);
  const started = await startTime(holder.pid);
  if (started !== null) return started === holder.started;
  if (hasProc) return false;
  try {
    process.kill(holder.pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * When a process started (clock ticks since boot, field 22 of /proc/PID/stat): with the PID it
 * names one process for good. Null when there is no such process, or no /proc.
 */
async function startTime(pid: number): Promise<string | null> {
  try {
    const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count after its end.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

function parseHolder(text: string): Holder | null {
  try {
    const value = JSON.parse(text) as Partial<Holder>;
    if (typeof value.pid !== 'number' || !Number.isSafeInteger(value.pid) || value.pid <= 0) {
      return null;
    }
    return { pid: value.pid, started: typeof value.started === 'string' ? value.started : null };
  } catch {
    return null;
  }
}

async function readIfExists(file: string): Promise<string | null> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** At exit (also process.exit after a failed start): remove the locks still held. */
function releaseAllSync(): void {
  for (const [file, { content }] of held) {
    try {
      if (readFileSync(file, 'utf8') === content) unlinkSync(file);
    } catch {
      // Gone already, or unreadable: nothing of ours to remove.
    }
  }
  held.clear();
}
