/**
 * Two processes writing one database (issue 18 item 4): a server taking pushes from 8 clients while
 * CLI commands (`namespace set`, `token create`) and a second writer process on the CLI's code path
 * (store-writer.ts) commit to the same data directory. SQLite lets one writer at a time; the other
 * must wait (busy_timeout), never answer a client 500 SQLITE_BUSY. Counts are bounded: each client
 * pushes at least MIN_IMAGES and stops at MAX_IMAGES or when the CLI runs are done (so they
 * overlap all along); the writer commits once per push request finished. Run it under the build lock (`flock /tmp/berth-build.lock`) on a
 * machine where others build: a rebuild of dist/ mid-run breaks the CLI runs, not Berth.
 */
import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';
import { OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, descriptor, sha256 } from '../helpers/oci.js';
import {
  ADMIN_PASSWORD,
  CLI,
  ROOT,
  startServerProcess,
  type ServerProcess,
} from '../helpers/server.js';

const run = promisify(execFile);

const CLIENTS = 8;
const MIN_IMAGES = 150;
const MAX_IMAGES = 400;
/** Two loops of CLI runs side by side: `namespace set` and `token create`. */
const CLI_RUNS_EACH = 100;
const WRITER = path.join(ROOT, 'test/e2e/store-writer.ts');

let server: ServerProcess | undefined;
let writer: ChildProcessWithoutNullStreams | undefined;

afterAll(async () => {
  if (writer && writer.exitCode === null) writer.kill('SIGKILL');
  if (server) {
    if (server.child.exitCode === null) await server.stop();
    await rm(server.dataDir, { recursive: true, force: true });
  }
});

it('pushes from 8 clients never fail while CLI commands and another process write', async () => {
  server = await startServerProcess();
  const { url, dataDir } = server;

  const w = spawn(process.execPath, ['--import', 'tsx', WRITER, dataDir], {
    cwd: ROOT,
    env: { ...process.env, BERTH_ADMIN_PASSWORD: ADMIN_PASSWORD },
  });
  writer = w;
  let writerErr = '';
  w.stderr.on('data', (d: Buffer) => (writerErr += d.toString()));
  const writerLines: string[] = [];
  // 'close': exited and its output read to the end.
  const writerClosed = new Promise<number | null>((resolve) => w.once('close', resolve));
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: w.stdout }).on('line', (line) => {
      writerLines.push(line);
      if (line === 'ready') resolve();
    });
    void writerClosed.then((code) => reject(new Error(`writer exited ${code}: ${writerErr}`)));
  });
  let writesAsked = 0;

  const cliFailures: string[] = [];
  let cliRuns = 0;
  const cliLoop = async (args: (i: number) => string[]): Promise<void> => {
    for (let i = 0; i < CLI_RUNS_EACH; i++) {
      try {
        await run(process.execPath, [CLI, ...args(i), '--data', dataDir]);
      } catch (err) {
        const { code, stderr } = err as { code?: number; stderr?: string };
        cliFailures.push(`${args(i).join(' ')}: exit ${code}: ${stderr ?? String(err)}`);
      }
      cliRuns++;
    }
  };
  let cliDone = false;
  const cli = Promise.all([
    cliLoop((i) => ['namespace', 'set', 'library', i % 2 === 0 ? '--public' : '--private']),
    cliLoop((i) => ['token', 'create', '--user', 'admin', '--name', `cli-${i}`]),
  ]).finally(() => (cliDone = true));

  const failures: string[] = [];
  let requests = 0;
  const check = async (what: string, res: Response, expected: number): Promise<void> => {
    requests++;
    // One commit by the other process per request: its writes fall between the server's.
    w.stdin.write('.');
    writesAsked++;
    const body = await res.text();
    if (res.status !== expected) failures.push(`${what}: ${res.status} ${body.slice(0, 300)}`);
  };
  const pushBlob = async (repo: string, data: Buffer | string): Promise<void> => {
    const post = await fetch(`${url}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
    await check(`POST ${repo} upload`, post, 202);
    const location = post.headers.get('location');
    if (location === null) return;
    const put = await fetch(new URL(`${location}?digest=${sha256(data)}`, url), {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream' },
      body: data,
    });
    await check(`PUT ${repo} blob`, put, 201);
  };
  const pushed = Array.from({ length: CLIENTS }, () => 0);
  const client = async (c: number): Promise<void> => {
    for (let i = 0; i < MAX_IMAGES && (i < MIN_IMAGES || !cliDone); i++) {
      // Ten repositories per client: their first pushes create repository rows under contention.
      const repo = `library/stress-${c}-${i % 10}`;
      const config = JSON.stringify({ architecture: 'amd64', os: 'linux', client: c, image: i });
      const layer = randomBytes(256);
      await pushBlob(repo, config);
      await pushBlob(repo, layer);
      const manifest = JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: descriptor(OCI_CONFIG, config),
        layers: [descriptor(OCI_LAYER, layer)],
      });
      const put = await fetch(`${url}/v2/${repo}/manifests/v${i}`, {
        method: 'PUT',
        headers: { 'content-type': OCI_MANIFEST },
        body: manifest,
      });
      await check(`PUT ${repo} manifest v${i}`, put, 201);
      pushed[c] = i + 1;
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(c)));
  await cli;
  w.stdin.end();
  expect(await writerClosed).toBe(0);
  const report = JSON.parse(writerLines.at(-1) ?? '{}') as { writes: number; errors: string[] };

  const total = pushed.reduce((a, b) => a + b, 0);
  // Shown on failure and in the log: how much ran side by side.
  console.info(
    `concurrent writers: ${requests} push requests (${total} manifests), ${cliRuns} CLI runs, ` +
      `${report.writes} writes by another process; ${failures.length} failed requests, ` +
      `${cliFailures.length} failed CLI runs, ${report.errors.length} writer errors`,
  );
  // The first few of each, and what the server logged about them, when something failed.
  const serverErrors = server
    .output()
    .split('\n')
    .filter((l) => l.includes('"level":50'));
  expect({
    failures: failures.slice(0, 5),
    cliFailures: cliFailures.slice(0, 5),
    writerErrors: report.errors.slice(0, 5),
    serverErrors: serverErrors.slice(0, 5),
  }).toEqual({ failures: [], cliFailures: [], writerErrors: [], serverErrors: [] });
  expect(cliRuns).toBe(2 * CLI_RUNS_EACH);
  expect(total).toBeGreaterThanOrEqual(CLIENTS * MIN_IMAGES);
  expect(report.writes).toBe(writesAsked);

  // Every acknowledged push is there: each repository lists one tag per manifest pushed into it.
  const c = 0;
  const tags = await fetch(`${url}/v2/library/stress-${c}-0/tags/list`);
  expect(tags.status).toBe(200);
  const { tags: names } = (await tags.json()) as { tags: string[] };
  expect(names).toHaveLength(Math.ceil((pushed[c] ?? 0) / 10));
});
