/**
 * `berth serve --meta postgres://…` and CLI commands with BERTH_META_URL on the run's PostgreSQL
 * cluster (test/helpers/postgres-setup.ts): the registry works with its metadata there, a CLI
 * command beside the server sees the same database, and the password is never printed.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { createTestDatabase } from '../helpers/postgres.js';
import { pushImage } from '../helpers/oci.js';
import { CLI, makeTempDir, startServerProcess, type ServerProcess } from '../helpers/server.js';

const run = promisify(execFile);
const berth = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  run(process.execPath, [CLI, ...args], { env: { ...process.env, ...env } });

const PASSWORD = 'not-to-be-printed';

let database: Awaited<ReturnType<typeof createTestDatabase>>;
let metaUrl: string;
let server: ServerProcess | undefined;

beforeEach(async () => {
  database = await createTestDatabase(inject('postgresUrl'), 'e2e');
  // The cluster trusts local connections: the password is there to be redacted, not checked.
  metaUrl = database.url.replace('://registry@', `://registry:${PASSWORD}@`);
});
afterEach(async () => {
  if (server && server.child.exitCode === null) await server.stop();
  server = undefined;
  await database.drop();
});

describe('metadata on PostgreSQL', () => {
  it('serve --meta keeps it there; a CLI command beside it sees the same rows', async () => {
    server = await startServerProcess({ args: ['--meta', metaUrl] });
    const [, shown] = await server.waitFor(/berth: metadata in (\S+)/);
    expect(shown).toBe(metaUrl.replace(`:${PASSWORD}@`, ':***@'));
    expect(server.output()).not.toContain(PASSWORD);
    expect(existsSync(path.join(server.dataDir, 'meta.sqlite'))).toBe(false);

    const pushed = await pushImage(server.url, 'library/app', 'v1');
    const tags = await fetch(`${server.url}/v2/library/app/tags/list`);
    expect(await tags.json()).toEqual({ name: 'library/app', tags: ['v1'] });

    await berth(['namespace', 'create', 'extra', '--data', server.dataDir], {
      BERTH_META_URL: metaUrl,
    });
    const listed = await fetch(`${server.url}/api/v1/namespaces`);
    const names = ((await listed.json()) as { items: { name: string }[] }).items.map((n) => n.name);
    expect(names).toEqual(expect.arrayContaining(['library', 'extra']));

    // Restarted on the same database: the image is still there.
    await server.stop();
    server = await startServerProcess({ dataDir: server.dataDir, args: ['--meta', metaUrl] });
    const manifest = await fetch(`${server.url}/v2/library/app/manifests/v1`, {
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    expect(manifest.status).toBe(200);
    expect(manifest.headers.get('docker-content-digest')).toBe(pushed.digest);
  });

  it('a database it cannot reach is one line naming the URL without its password', async () => {
    const dir = await makeTempDir();
    const unreachable = `postgres://registry:${PASSWORD}@127.0.0.1:1/nothing`;
    const failed = await berth(['namespace', 'list', '--data', dir, '--meta', unreachable]).then(
      () => null,
      (e: unknown) => e as { code: number; stderr: string },
    );
    expect(failed?.code).toBe(1);
    expect(failed?.stderr).toMatch(
      /^berth: cannot open the metadata database postgres:\/\/registry:\*\*\*@127\.0\.0\.1:1\/nothing: .+\n$/,
    );
    expect(failed?.stderr).not.toContain(PASSWORD);
  });
});
