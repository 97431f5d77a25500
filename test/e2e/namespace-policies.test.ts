/**
 * Per-namespace rules from the operator's side, with the built CLI (`dist/`):
 * - `berth namespace set NAME --immutable-tags … --index-children …` and `namespace list` (table
 *   and JSON); `--immutable-tags ''` and `--no-immutable-tags` clear, `--index-children default`
 *   inherits the configuration again; a bad pattern changes nothing;
 * - a real client: `skopeo copy` of a new image onto an immutable tag fails with the rule in its
 *   error output, set by the CLI while the server runs, and the tag keeps its digest.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, makeTempDir, startServerProcess, type ServerProcess } from '../helpers/server.js';
import { clientSandbox } from './client-sandbox.js';
import { buildImage, hostArchitecture, initLayout, run, runOk } from './images.js';

const exec = promisify(execFile);
const berth = (args: string[]) => exec(process.execPath, [CLI, ...args]);

interface ListedNamespace {
  name: string;
  immutableTags: string[];
  indexChildren: string | null;
}

async function listed(data: string): Promise<ListedNamespace | undefined> {
  const { stdout } = await berth(['namespace', 'list', '--json', '--data', data]);
  return (JSON.parse(stdout) as ListedNamespace[]).find((n) => n.name === 'team');
}

describe('berth namespace set: immutable tags and index children', () => {
  it('sets, lists and clears the rules on a data directory', async () => {
    const data = await makeTempDir();
    await berth(['namespace', 'create', 'team', '--data', data]);
    const set = await berth([
      'namespace',
      'set',
      'team',
      '--immutable-tags',
      'v*',
      '--immutable-tags',
      'release-*',
      '--index-children',
      'linux/amd64,linux/arm64',
      '--data',
      data,
    ]);
    expect(set.stdout).toBe(
      'namespace team: immutable tags: v* release-*, index children: linux/amd64,linux/arm64\n',
    );
    expect(await listed(data)).toMatchObject({
      immutableTags: ['v*', 'release-*'],
      indexChildren: 'linux/amd64,linux/arm64',
    });
    const table = (await berth(['namespace', 'list', '--data', data])).stdout.split('\n');
    expect(table[0]).toMatch(
      /^NAME\s+KIND\s+ACCESS\s+REPOSITORIES\s+USED \/ QUOTA\s+INDEX CHILDREN\s+IMMUTABLE TAGS\s+RETENTION\s+UPSTREAM\/MEMBERS$/,
    );
    expect(table.find((l) => l.startsWith('team '))).toMatch(
      /^team\s+\S+\s+private\s+0\s+0 B \/ -\s+linux\/amd64,linux\/arm64\s+v\* release-\*\s+off\s+-$/,
    );
    expect(table.find((l) => l.startsWith('library '))).toMatch(/\(default\)\s+-\s+off\s+-$/);

    await expect(
      berth(['namespace', 'set', 'team', '--immutable-tags', 'a/b', '--data', data]),
    ).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining(
        'immutable-tag pattern "a/b" is not a tag pattern',
      ) as unknown,
    });
    await expect(
      berth(['namespace', 'set', 'team', '--index-children', 'linux', '--data', data]),
    ).rejects.toMatchObject({ code: 1 });
    expect(await listed(data)).toMatchObject({ immutableTags: ['v*', 'release-*'] });

    await berth(['namespace', 'set', 'team', '--immutable-tags', '', '--data', data]);
    expect((await listed(data))?.immutableTags).toEqual([]);
    await berth(['namespace', 'set', 'team', '--immutable-tags', 'v*', '--data', data]);
    expect((await listed(data))?.immutableTags).toEqual(['v*']);
    const cleared = await berth([
      'namespace',
      'set',
      'team',
      '--no-immutable-tags',
      '--index-children',
      'default',
      '--data',
      data,
    ]);
    expect(cleared.stdout).toBe('namespace team: no immutable tags, index children: (default)\n');
    expect(await listed(data)).toMatchObject({ immutableTags: [], indexChildren: null });
    // Changes from the command line are audited as the admin API's are.
    const audit = JSON.parse(
      (await berth(['audit', '--json', '--action', 'namespace.update', '--data', data])).stdout,
    ) as { action: string; target: string; actor: string; client: string; detail: unknown }[];
    expect(audit.length).toBeGreaterThanOrEqual(3);
    expect(audit[0]).toMatchObject({
      action: 'namespace.update',
      target: 'team',
      client: 'local',
      actor: expect.stringMatching(/^cli:/) as unknown,
      detail: { immutableTags: [], indexChildren: null },
    });
    const created = JSON.parse(
      (await berth(['audit', '--json', '--action', 'namespace.create', '--data', data])).stdout,
    ) as { target: string }[];
    expect(created.map((e) => e.target)).toEqual(['team']);
  });
});

describe('skopeo onto an immutable tag', () => {
  let server: ServerProcess | undefined;
  let work = '';

  afterAll(async () => {
    await server?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('is refused with the rule in the error output; the tag keeps its digest', async () => {
    work = path.join(tmpdir(), `berth-e2e-immutable-${randomBytes(6).toString('hex')}`);
    await mkdir(work);
    const { env } = await clientSandbox(work);
    server = await startServerProcess({ dataDir: path.join(work, 'data') });
    // Set by the CLI on the data directory while the server runs: the next push sees it.
    await runOk(
      process.execPath,
      [CLI, 'namespace', 'set', 'library', '--immutable-tags', 'v*', '--data', server.dataDir],
      env,
    );
    const layout = path.join(work, 'layout');
    await initLayout(layout);
    const platform = { architecture: hostArchitecture(), os: 'linux' };
    const first = await buildImage(layout, {
      tag: 'one',
      platform,
      layers: [['/a.txt', `one ${randomBytes(8).toString('hex')}\n`]],
    });
    const second = await buildImage(layout, {
      tag: 'two',
      platform,
      layers: [['/a.txt', `two ${randomBytes(8).toString('hex')}\n`]],
    });
    const dest = `docker://${server.host}/library/e2e-immutable:v1.0`;
    const copy = (tag: string) =>
      run('skopeo', ['copy', '--dest-tls-verify=false', `oci:${layout}:${tag}`, dest], env);

    expect((await copy('one')).code).toBe(0);
    // The same image again is a no-op, not a refusal.
    expect((await copy('one')).code).toBe(0);
    const refused = await copy('two');
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain(
      'tag v1.0 matches the immutable-tag rule v* of namespace library: it cannot be moved',
    );

    const res = await fetch(`${server.url}/v2/library/e2e-immutable/manifests/v1.0`, {
      method: 'HEAD',
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    expect(res.headers.get('docker-content-digest')).toBe(first.digest);
    expect(first.digest).not.toBe(second.digest);
  });
});
