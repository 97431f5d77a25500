/**
 * Namespace quotas and retention from the operator's and the client's side, with the built CLI
 * (`dist/`):
 * - `berth namespace set NAME --quota SIZE|none --retention RULES|off` and `namespace list` (table
 *   and JSON: usedBytes, quotaBytes, retention); a bad value changes nothing;
 * - the real docker CLI prints the refusal as is, both when a layer does not fit (the upload's
 *   PUT) and when each layer fits but the image does not (the manifest PUT), with the quota set
 *   by the CLI while the server runs; an image that fits is pushed, and the namespace's usage is
 *   then exactly its blobs.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, makeTempDir, startServerProcess, type ServerProcess } from '../helpers/server.js';
import { describeResult, startDockerd, type Dockerd } from './dockerd.js';
import { writeRandomFile } from './images.js';

const exec = promisify(execFile);
const berth = (args: string[]) => exec(process.execPath, [CLI, ...args]);
const KiB = 1024;
const MiB = 1024 * KiB;

interface ListedNamespace {
  name: string;
  usedBytes: number;
  quotaBytes: number | null;
  retention: Record<string, unknown> | null;
}

async function listed(
  data: string,
  name: string,
  extra: string[] = [],
): Promise<ListedNamespace | undefined> {
  const { stdout } = await berth(['namespace', 'list', '--json', '--data', data, ...extra]);
  return (JSON.parse(stdout) as ListedNamespace[]).find((n) => n.name === name);
}

describe('berth namespace set: quota and retention', () => {
  it('sets, lists and clears them on a data directory', async () => {
    const data = await makeTempDir();
    await berth(['namespace', 'create', 'team', '--data', data]);
    const set = await berth([
      'namespace',
      'set',
      'team',
      '--quota',
      '10GiB',
      '--retention',
      'keep-last=10,keep-days=30,keep-tags=^v\\d,untagged-days=7',
      '--data',
      data,
    ]);
    expect(set.stdout).toBe(
      'namespace team: quota: 10 GiB (10737418240 bytes), retention: keep-last=10,keep-days=30,keep-tags=^v\\d,untagged-days=7\n',
    );
    expect(await listed(data, 'team')).toMatchObject({
      usedBytes: 0,
      quotaBytes: 10 * 1024 * MiB,
      retention: { keepLast: 10, keepDays: 30, keepTags: '^v\\d', untaggedDays: 7 },
    });
    const table = (await berth(['namespace', 'list', '--data', data])).stdout.split('\n');
    expect(table[0]).toMatch(/\sUSED \/ QUOTA\s.*\sRETENTION\s+UPSTREAM\/MEMBERS$/);
    expect(table.find((l) => l.startsWith('team '))).toMatch(
      /\s0 B \/ 10 GiB\s.*\skeep-last=10,keep-days=30,keep-tags=\^v\\d,untagged-days=7\s+-$/,
    );

    // Decimal units are decimal; a bad size or rule changes nothing.
    await berth(['namespace', 'set', 'team', '--quota', '500MB', '--data', data]);
    expect((await listed(data, 'team'))?.quotaBytes).toBe(500_000_000);
    await expect(
      berth(['namespace', 'set', 'team', '--quota', '10XB', '--data', data]),
    ).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('"10XB" is not a size') as unknown,
    });
    await expect(
      berth(['namespace', 'set', 'team', '--retention', 'keep-last=0', '--data', data]),
    ).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('retention keep-last must be a whole number') as unknown,
    });
    expect(await listed(data, 'team')).toMatchObject({
      quotaBytes: 500_000_000,
      retention: { keepLast: 10 },
    });

    const cleared = await berth([
      'namespace',
      'set',
      'team',
      '--quota',
      'none',
      '--retention',
      'off',
      '--data',
      data,
    ]);
    expect(cleared.stdout).toBe('namespace team: no quota, retention: off\n');
    expect(await listed(data, 'team')).toMatchObject({ quotaBytes: null, retention: null });
  });
});

describe('docker push over a quota', () => {
  let dockerd: Dockerd | undefined;
  let server: ServerProcess | undefined;
  let work = '';
  let config = '';

  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
    work = await mkdtemp(path.join(tmpdir(), 'berth-e2e-quota-'));
    // gc.grace 0: a layer counts once a manifest references it, so an image whose layers each
    // fit is weighed as a whole at its manifest PUT (as layers uploaded longer ago are).
    config = path.join(work, 'berth.yaml');
    await writeFile(config, "gc:\n  grace: '0'\n");
    dockerd = await startDockerd();
    server = await startServerProcess({
      dataDir: path.join(work, 'data'),
      args: ['--config', config],
    });
  });

  afterAll(async () => {
    await server?.stop();
    await dockerd?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  /** Builds FROM scratch an image of one COPY per layer size (random, incompressible bytes). */
  async function build(tag: string, layers: number[]): Promise<string> {
    const context = path.join(work, tag.replace(/[^a-z0-9]/g, '-'));
    await mkdir(context);
    const lines = ['FROM scratch'];
    for (const [i, size] of layers.entries()) {
      await writeRandomFile(path.join(context, `f${i}`), size);
      lines.push(`COPY f${i} /f${i}`);
    }
    await writeFile(path.join(context, 'Dockerfile'), `${lines.join('\n')}\n`);
    const ref = `${server?.host ?? ''}/library/${tag}`;
    await dockerd?.dockerOk(['build', '--tag', ref, context], { timeoutMs: 120_000 });
    return ref;
  }

  it('prints the refusal at the layer and at the manifest; what fits is pushed', async () => {
    if (!dockerd || !server) throw new Error('not started');
    // Set by the CLI on the data directory while the server runs: the next push sees it.
    await berth(['namespace', 'set', 'library', '--quota', '1MiB', '--data', server.dataDir]);

    const big = await build('big:v1', [2 * MiB]);
    const refused = await dockerd.docker(['push', big], { timeoutMs: 120_000 });
    expect(refused.code, describeResult(refused)).not.toBe(0);
    expect(refused.output).toMatch(
      /denied: quota exceeded: namespace library uses 0 B of 1 MiB; this push needs 2(\.0)? MiB more/,
    );

    const fits = await build('fits:v1', [300 * KiB]);
    await dockerd.dockerOk(['push', fits], { timeoutMs: 120_000 });
    const usage = async () =>
      (await listed(server?.dataDir ?? '', 'library', ['--config', config]))?.usedBytes;
    const used = (await usage()) ?? 0;
    expect(used).toBeGreaterThan(300 * KiB);

    // Each layer fits on its own; the three together do not.
    const many = await build('many:v1', [300 * KiB, 300 * KiB, 300 * KiB]);
    const atManifest = await dockerd.docker(['push', many], { timeoutMs: 120_000 });
    expect(atManifest.code, describeResult(atManifest)).not.toBe(0);
    expect(atManifest.output).toMatch(
      /denied: quota exceeded: namespace library uses 30\d(\.\d)? KiB of 1 MiB; this push needs 9\d\d(\.\d)? KiB more/,
    );
    // Nothing of the refused image counts.
    expect(await usage()).toBe(used);
  });
});
