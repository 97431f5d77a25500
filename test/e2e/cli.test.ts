/**
 * The operator contract of DESIGN.md: `berth serve` flags and environment, and the namespace
 * commands on a data directory (with and without a server running on it).
 */
import { execFile, spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CLI,
  collectOutput,
  makeTempDir,
  startServerProcess,
  type ServerProcess,
} from '../helpers/server.js';
import { pushImage } from '../helpers/oci.js';

const run = promisify(execFile);
const berth = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  run(process.execPath, [CLI, ...args], { env: { ...process.env, ...env } });

let server: ServerProcess | undefined;
afterEach(async () => {
  if (server && server.child.exitCode === null) await server.stop();
  server = undefined;
});

describe('berth serve', () => {
  it('listens on every --listen address, IPv4 and IPv6', async () => {
    server = await startServerProcess({ args: ['--listen', '[::1]:0'] });
    const line =
      server
        .output()
        .split('\n')
        .find((l) => l.includes('serving the registry on')) ?? '';
    const urls = [...line.matchAll(/http:\/\/(\S+?)(?:,|\s|$)/g)].map(
      (m) => `http://${m[1] ?? ''}`,
    );
    expect(urls).toHaveLength(2);
    expect(urls[1]).toMatch(/^http:\/\/\[::1\]:\d+$/);
    for (const url of urls) {
      const res = await fetch(`${url}/v2/`);
      expect(res.status).toBe(200);
    }
  });

  it('takes BERTH_LISTEN and BERTH_DATA from the environment', async () => {
    const dataDir = await makeTempDir();
    const child = spawn(process.execPath, [CLI, 'serve', '--log-level', 'warn', '--no-auth'], {
      env: { ...process.env, BERTH_LISTEN: '127.0.0.1:0', BERTH_DATA: dataDir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // Whole lines from either stream, with a deadline; rejects if the server exits first.
    const output = collectOutput(child);
    try {
      const url = (await output.waitFor(/serving the registry on (http:\/\/[^\s,]+)/))[1] ?? '';
      await pushImage(url, 'library/env', 'v1');
      const { stdout } = await berth(['namespace', 'list', '--json', '--data', dataDir]);
      const rows = JSON.parse(stdout) as { name: string; repositories: number }[];
      expect(rows).toEqual([expect.objectContaining({ name: 'library', repositories: 1 })]);
    } finally {
      child.kill('SIGTERM');
      await output.closed;
    }
  });

  it('refuses a bad configuration with the path of the bad key', async () => {
    const dir = await makeTempDir();
    const file = path.join(dir, 'berth.yaml');
    await writeFile(file, 'registry:\n  maxManifestBytes: 12\n');
    await expect(berth(['serve', '--config', file, '--data', dir])).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining(`registry.maxManifestBytes in ${file}`) as unknown,
    });
    await expect(berth(['serve', '--listen', 'nonsense', '--data', dir])).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('invalid listen address "nonsense"') as unknown,
    });
  });
});

describe('berth namespace', () => {
  it('creates, lists, changes and deletes namespaces on a data directory', async () => {
    const data = await makeTempDir();
    expect((await berth(['namespace', 'create', 'team', '--public', '--data', data])).stdout).toBe(
      'namespace team created (public)\n',
    );
    await expect(berth(['namespace', 'create', 'team', '--data', data])).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('already exists') as unknown,
    });
    await expect(berth(['namespace', 'create', 'Bad/Name', '--data', data])).rejects.toMatchObject({
      code: 1,
    });
    await berth(['namespace', 'set', 'team', '--private', '--data', data]);
    const listed = JSON.parse(
      (await berth(['namespace', 'list', '--json', '--data', data])).stdout,
    ) as {
      name: string;
      public: boolean;
    }[];
    expect(listed.map((n) => [n.name, n.public])).toEqual([
      ['library', false],
      ['team', false],
    ]);
    expect((await berth(['namespace', 'delete', 'team', '--data', data])).stdout).toBe(
      'namespace team deleted\n',
    );
    await expect(berth(['namespace', 'delete', 'team', '--data', data])).rejects.toMatchObject({
      stderr: expect.stringContaining('does not exist') as unknown,
    });
  });

  it('works beside a running server, and refuses to delete a namespace in use unless --force', async () => {
    server = await startServerProcess();
    await berth(['namespace', 'create', 'live', '--data', server.dataDir]);
    const img = await pushImage(server.url, 'live/app', 'v1');
    await expect(
      berth(['namespace', 'delete', 'live', '--data', server.dataDir]),
    ).rejects.toMatchObject({
      stderr: expect.stringContaining('still has repositories') as unknown,
    });
    await berth(['namespace', 'delete', 'live', '--force', '--data', server.dataDir]);
    const res = await fetch(`${server.url}/v2/live/app/manifests/${img.digest}`);
    expect(res.status).toBe(404);
    const push = await fetch(`${server.url}/v2/live/app/blobs/uploads/`, { method: 'POST' });
    expect(push.status).toBe(404);
  });
});
