/**
 * `berth fsck` (the built CLI) on a data directory with pushed images, beside the running server:
 * each kind of damage is found, `--repair` fixes what it can and leaves young files alone, and a
 * client pushing while fsck runs causes no false finding.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFile, rm, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { pushBlob, pushImage, randomBlob, sha256 } from '../helpers/oci.js';
import { CLI, makeTempDir, startServerProcess, type ServerProcess } from '../helpers/server.js';

const run = promisify(execFile);

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

async function fsck(dataDir: string, ...args: string[]): Promise<Result> {
  try {
    const { stdout, stderr } = await run(process.execPath, [
      CLI,
      'fsck',
      '--data',
      dataDir,
      ...args,
    ]);
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof err.code !== 'number') throw e;
    return { code: err.code, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

interface JsonReport {
  findings: { kind: string; subject: string; recent?: boolean }[];
  counts: Record<string, number>;
  clean: boolean;
}

const blobPath = (dataDir: string, digest: string): string => {
  const hex = digest.slice('sha256:'.length);
  return path.join(dataDir, 'blobs', 'sha256', hex.slice(0, 2), hex);
};

/** Two hours ago: older than fsck's one-hour grace. */
async function age(file: string): Promise<void> {
  const old = new Date(Date.now() - 2 * 60 * 60 * 1000);
  await utimes(file, old, old);
}

let server: ServerProcess | undefined;
afterEach(async () => {
  if (server && server.child.exitCode === null) await server.stop();
  server = undefined;
});

describe('berth fsck', () => {
  it('finds corrupt, missing, orphan and stale files; --repair fixes them; a re-push heals', async () => {
    server = await startServerProcess();
    const { url, dataDir } = server;
    const image = await pushImage(url, 'library/app', 'v1', { layers: 2 });
    const lone = await pushBlob(url, 'library/app', randomBlob(2048));

    const clean = await fsck(dataDir);
    expect(clean.code).toBe(0);
    expect(clean.stdout).toMatch(/checked in .* no problems/);

    // A flipped byte in a layer the manifest uses.
    const corrupt = sha256(image.layers[0] ?? Buffer.alloc(0));
    const corruptFile = blobPath(dataDir, corrupt);
    const bytes = await readFile(corruptFile);
    bytes[10] = (bytes[10] ?? 0) ^ 0xff;
    await writeFile(corruptFile, bytes);
    // A blob whose file is gone.
    await unlink(blobPath(dataDir, lone));
    // An old orphan, a fresh orphan and an old upload file without a session.
    const oldOrphan = sha256(randomBlob(100));
    await writeFile(blobPath(dataDir, oldOrphan), 'not the content');
    await age(blobPath(dataDir, oldOrphan));
    const freshOrphan = sha256(randomBlob(100));
    await writeFile(blobPath(dataDir, freshOrphan), 'just renamed into place');
    const upload = path.join(dataDir, 'uploads', randomUUID());
    await writeFile(upload, 'half an upload');
    await age(upload);

    const found = await fsck(dataDir);
    expect(found.code).toBe(1);
    const lines = found.stdout.split('\n');
    const line = (start: string) => lines.find((l) => l.startsWith(start));
    expect(line(`corrupt-blob ${corrupt}:`)).toContain(`library/app@${image.digest}`);
    expect(line(`missing-blob ${lone}:`)).toContain('no manifest uses it');
    expect(
      line(`orphan-file blobs/sha256/${oldOrphan.slice(7, 9)}/${oldOrphan.slice(7)}:`),
    ).toBeDefined();
    expect(line(`stale-upload uploads/${path.basename(upload)}:`)).toBeDefined();
    expect(line(`orphan-file blobs/sha256/${freshOrphan.slice(7, 9)}/`)).toContain('recent');
    expect(found.stdout).toMatch(/1 corrupt-blob, 1 missing-blob, 1 orphan-file, 1 stale-upload/);

    const repaired = await fsck(dataDir, '--repair');
    expect(repaired.code).toBe(1);
    // The corrupt bytes are kept for the operator, out of blobs/.
    const quarantined = path.join(dataDir, 'quarantine', 'sha256', corrupt.slice(7));
    expect(await readFile(quarantined)).toEqual(bytes);
    await expect(stat(corruptFile)).rejects.toThrow(/ENOENT/);
    await expect(stat(blobPath(dataDir, oldOrphan))).rejects.toThrow(/ENOENT/);
    await expect(stat(upload)).rejects.toThrow(/ENOENT/);
    expect((await stat(blobPath(dataDir, freshOrphan))).isFile()).toBe(true);
    // The rows of content without bytes are gone: a clean 404, so a client uploads again.
    for (const digest of [lone, corrupt]) {
      const head = await fetch(`${url}/v2/library/app/blobs/${digest}`, { method: 'HEAD' });
      expect(head.status).toBe(404);
    }

    const after = await fsck(dataDir, '--json');
    const report = JSON.parse(after.stdout) as JsonReport;
    expect(report.counts).toMatchObject({
      'corrupt-blob': 0,
      'missing-blob': 0,
      'orphan-file': 0,
      'stale-upload': 0,
    });
    // What it could not repair: the manifest whose layer is gone, until the image is pushed again.
    expect(after.code).toBe(1);
    expect(report.findings).toContainEqual(
      expect.objectContaining({ kind: 'broken-reference', subject: `library/app@${image.digest}` }),
    );
    expect(report.findings).toContainEqual(
      expect.objectContaining({ kind: 'orphan-file', recent: true }),
    );

    for (const layer of image.layers) await pushBlob(url, 'library/app', layer);
    const healed = await fsck(dataDir, '--json');
    expect(healed.code).toBe(0);
    expect((JSON.parse(healed.stdout) as JsonReport).clean).toBe(true);
  });

  it('refuses a directory that holds no registry, and makes none there (gc too)', async () => {
    const dir = await makeTempDir();
    const missing = path.join(dir, 'typo');
    const result = await fsck(missing);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`no registry at ${missing}`);
    await expect(stat(missing)).rejects.toThrow(/ENOENT/);
    // `berth gc` likewise: a mistyped --data must not make a registry (and a new admin password).
    const gc = await run(process.execPath, [CLI, 'gc', '--data', missing]).then(
      () => ({ code: 0, stderr: '' }),
      (e: unknown) => {
        const err = e as { code?: number; stderr?: string };
        return { code: err.code, stderr: err.stderr ?? '' };
      },
    );
    expect(gc.code).toBe(1);
    expect(gc.stderr).toContain(`no registry at ${missing}`);
    await expect(stat(missing)).rejects.toThrow(/ENOENT/);
    await rm(dir, { recursive: true });
  });

  it('finds nothing wrong while a client pushes', async () => {
    server = await startServerProcess();
    const { url, dataDir } = server;
    await pushImage(url, 'library/busy', 'v0');
    let checks = 0;
    let pushes = 0;
    // An object, not a let: the loop below reads what the finally block sets.
    const state = { stop: false };
    const pusher = (async () => {
      // Until fsck has run three times, so every run overlaps pushes in flight.
      while (!state.stop)
        await pushImage(url, 'library/busy', `v${String(++pushes)}`, { layers: 3 });
    })();
    try {
      while (checks < 3) {
        const result = await fsck(dataDir, '--json');
        const report = JSON.parse(result.stdout) as JsonReport;
        expect(report.findings.filter((f) => f.recent !== true)).toEqual([]);
        expect(result.code).toBe(0);
        checks += 1;
      }
    } finally {
      state.stop = true;
      await pusher;
    }
    expect(pushes).toBeGreaterThan(0);
  });
});
