/**
 * A throwaway PostgreSQL cluster for the tests that run Berth on PostgreSQL (ENGINES.md §2): one
 * per test run (vitest globalSetup: `postgres-setup.ts`), each test file in a database of its
 * own. initdb refuses root, so as root the cluster runs as the `postgres` user. Everything lives
 * in one temp directory, and the server is stopped by its PID.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { chown, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { inject } from 'vitest';
import { freePort } from './net.js';

const run = promisify(execFile);

export interface PostgresCluster {
  /** `postgres://registry@127.0.0.1:PORT/postgres`: the superuser's own database. */
  url: string;
  pid: number;
  stop(): Promise<void>;
}

function binDir(): string {
  const versions = readdirSync('/usr/lib/postgresql')
    .filter((v) => /^\d+$/.test(v))
    .sort((a, b) => Number(a) - Number(b));
  const latest = versions.at(-1);
  if (latest === undefined)
    throw new Error('PostgreSQL is not installed (apt-get install postgresql-15)');
  return `/usr/lib/postgresql/${latest}/bin`;
}

export async function startPostgresCluster(): Promise<PostgresCluster> {
  const bin = binDir();
  const dir = await mkdtemp(path.join(tmpdir(), 'berth-pg-'));
  const asRoot = userInfo().uid === 0;
  // initdb refuses to run as root: the cluster belongs to `postgres`.
  const as = (cmd: string, args: string[]): [string, string[]] =>
    asRoot ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
  let child: ChildProcess | undefined;
  try {
    if (asRoot) {
      const { stdout } = await run('id', ['-u', 'postgres']);
      const { stdout: gid } = await run('id', ['-g', 'postgres']);
      await chown(dir, Number(stdout.trim()), Number(gid.trim()));
    }
    const data = path.join(dir, 'data');
    await run(
      ...as(path.join(bin, 'initdb'), [
        ...['-D', data, '-U', 'registry', '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8'],
        '--no-sync',
      ]),
    );
    const port = await freePort();
    const [cmd, args] = as(path.join(bin, 'postgres'), [
      '-D',
      data,
      '-c',
      `port=${port}`,
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      `unix_socket_directories=${dir}`,
      '-c',
      'fsync=off',
      '-c',
      'full_page_writes=off',
      '-c',
      'max_connections=200',
    ]);
    child = spawn(cmd, args, { stdio: 'ignore' });
    const server = child;
    const url = `postgres://registry@127.0.0.1:${port}/postgres`;
    await waitReady(url, child);
    // runuser forks the server: its PID is the one in postmaster.pid, not the child's.
    const pid = Number((await readFile(path.join(data, 'postmaster.pid'), 'utf8')).split('\n')[0]);
    return {
      url,
      pid,
      async stop() {
        // SIGINT: fast shutdown (sessions end, a clean checkpoint). A server already gone (a
        // Ctrl-C reaches the whole process group) still leaves its directory to remove.
        try {
          process.kill(pid, 'SIGINT');
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
        }
        if (server.exitCode === null && server.signalCode === null)
          await new Promise((resolve) => server.once('exit', resolve));
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    // A server that started but never became ready is ended too (runuser passes the signal on).
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child?.once('exit', resolve));
      child.kill('SIGINT');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}

async function waitReady(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`postgres exited with ${child.exitCode}`);
    const client = new pg.Client({ connectionString: url });
    try {
      await client.connect();
      await client.end();
      return;
    } catch (e) {
      await client.end().catch(() => undefined);
      if (Date.now() > deadline) throw e;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/** A new database on the cluster for one test file; `drop` ends its sessions and removes it. */
export async function createTestDatabase(
  clusterUrl: string,
  prefix = 'berth',
): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `${prefix}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = async (statement: string): Promise<void> => {
    const client = new pg.Client({ connectionString: clusterUrl });
    await client.connect();
    try {
      await client.query(statement);
    } finally {
      await client.end();
    }
  };
  // An ICU locale, not the cluster's C.UTF-8: names sort there as no byte order would (`a-b`
  // before `a_b`, `B` after `a`), so the columns that must sort by bytes are tested for it.
  await admin(
    `CREATE DATABASE ${name} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'`,
  );
  const url = clusterUrl.replace(/\/postgres$/, `/${name}`);
  return {
    url,
    drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}

/**
 * The metadata URL for a test server: a new database when the project runs on PostgreSQL
 * (BERTH_TEST_META=postgres, set by vitest.config.ts), none (the SQLite default) otherwise.
 */
export async function metaForTestRun(): Promise<{ url?: string; drop(): Promise<void> }> {
  if (process.env['BERTH_TEST_META'] !== 'postgres') return { drop: () => Promise.resolve() };
  return createTestDatabase(inject('postgresUrl'));
}
