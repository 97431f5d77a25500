/**
 * `berth retention run` (the built CLI) beside a running server on the same data directory: the
 * dry run lists what would go and changes nothing the server serves; the real run then removes
 * exactly that, and the running server answers 404 for it at once.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import type { RetentionReport } from '../../src/lifecycle/retention.js';
import { openSqliteMetaStore } from '../../src/meta/sqlite/open.js';
import { OCI_MANIFEST, pushImage } from '../helpers/oci.js';
import { CLI, startServerProcess, type ServerProcess } from '../helpers/server.js';

const exec = promisify(execFile);

let server: ServerProcess | undefined;
afterEach(async () => {
  if (server && server.child.exitCode === null) await server.stop();
  server = undefined;
});

async function retention(dataDir: string, ...args: string[]): Promise<string> {
  const { stdout } = await exec(process.execPath, [
    CLI,
    'retention',
    'run',
    ...args,
    '--data',
    dataDir,
  ]);
  return stdout;
}

async function status(url: string, reference: string): Promise<number> {
  const res = await fetch(`${url}/v2/library/app/manifests/${reference}`, {
    method: 'HEAD',
    headers: { accept: OCI_MANIFEST },
  });
  return res.status;
}

describe('berth retention run', () => {
  it('--dry-run --json lists what the real run then removes, beside a running server', async () => {
    server = await startServerProcess();
    const { url, dataDir } = server;
    // Pushed oldest first; names sort the other way, so even equal push times rank the same.
    const old = await pushImage(url, 'library/app', 'c-old');
    const mid = await pushImage(url, 'library/app', 'b-mid');
    await pushImage(url, 'library/app', 'a-new');
    // Set as `berth namespace set library --retention keep-last=1` does: through the store.
    const meta = await openSqliteMetaStore(path.join(dataDir, 'meta.sqlite'));
    try {
      await meta.setNamespacePolicy('library', { retention: { keepLast: 1 } });
    } finally {
      await meta.close();
    }

    const dry = JSON.parse(
      await retention(dataDir, 'library', '--dry-run', '--json'),
    ) as RetentionReport;
    expect(dry).toEqual({
      dryRun: true,
      namespaces: ['library'],
      tags: [
        {
          repository: 'library/app',
          tag: 'b-mid',
          digest: mid.digest,
          reason: 'no keep-rule matches',
        },
        {
          repository: 'library/app',
          tag: 'c-old',
          digest: old.digest,
          reason: 'no keep-rule matches',
        },
      ],
      manifests: [
        { repository: 'library/app', digest: mid.digest },
        { repository: 'library/app', digest: old.digest },
      ],
      kept: 1,
    });
    for (const ref of ['a-new', 'b-mid', 'c-old']) expect(await status(url, ref)).toBe(200);

    const real = await retention(dataDir, 'library');
    expect(real).toBe(
      [
        'removed tag library/app:b-mid (no keep-rule matches)',
        'removed tag library/app:c-old (no keep-rule matches)',
        `removed manifest library/app@${mid.digest}`,
        `removed manifest library/app@${old.digest}`,
        'retention: library: removed 2 tag(s) and 2 manifest(s), kept 1 tag(s)',
        '',
      ].join('\n'),
    );
    // The server sees the change at once (its manifest cache follows other writers).
    for (const ref of ['b-mid', 'c-old', mid.digest, old.digest])
      expect(await status(url, ref)).toBe(404);
    expect(await status(url, 'a-new')).toBe(200);
  });
});
