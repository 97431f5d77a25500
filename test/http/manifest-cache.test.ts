/**
 * Manifest reads are cached in memory (src/meta/manifest-cache.ts). A push or delete through the
 * API must show on the very next pull; a change made by another connection to the same SQLite
 * file (a `berth` CLI command beside the server) within OTHER_WRITERS_CHECK_MS.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OTHER_WRITERS_CHECK_MS } from '../../src/meta/sqlite/open.js';
import { OCI_MANIFEST, pushImage, putManifest } from '../helpers/oci.js';
import { startServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
let other: Database.Database;

beforeAll(async () => {
  server = await startServer();
  // A second connection, as a CLI command run beside the server would open.
  other = new Database(path.join(server.dataDir, 'meta.sqlite'));
  other.pragma('busy_timeout = 5000');
});
afterAll(async () => {
  other.close();
  await server.close();
});

async function pulled(name: string, reference: string): Promise<string | number> {
  const res = await fetch(`${server.url}/v2/${name}/manifests/${reference}`, {
    headers: { accept: OCI_MANIFEST },
  });
  await res.arrayBuffer();
  return res.status === 200 ? (res.headers.get('docker-content-digest') ?? '') : res.status;
}

/** Past the bound, with a margin for a slow machine. */
const afterBound = () => sleep(OTHER_WRITERS_CHECK_MS + 20);

describe('cached manifest reads', () => {
  it('follow a tag moved and deleted through the API', async () => {
    const one = await pushImage(server.url, 'library/moves', 'latest');
    expect(await pulled('library/moves', 'latest')).toBe(one.digest);
    expect(await pulled('library/moves', 'latest')).toBe(one.digest);
    const two = await pushImage(server.url, 'library/moves', 'latest');
    expect(await pulled('library/moves', 'latest')).toBe(two.digest);

    const del = await fetch(`${server.url}/v2/library/moves/manifests/${two.digest}`, {
      method: 'DELETE',
    });
    expect(del.status).toBe(202);
    expect(await pulled('library/moves', 'latest')).toBe(404);
    expect(await pulled('library/moves', two.digest)).toBe(404);
    expect(await pulled('library/moves', one.digest)).toBe(one.digest);
  });

  it('follow a tag changed by another connection to the database', async () => {
    const one = await pushImage(server.url, 'library/cli', 'latest');
    const two = await pushImage(server.url, 'library/cli', 'other');
    expect(await pulled('library/cli', 'latest')).toBe(one.digest);

    other
      .prepare('UPDATE tags SET digest = ? WHERE repository = ? AND name = ?')
      .run(two.digest, 'library/cli', 'latest');
    await afterBound();
    expect(await pulled('library/cli', 'latest')).toBe(two.digest);

    other
      .prepare('DELETE FROM tags WHERE repository = ? AND name = ?')
      .run('library/cli', 'latest');
    await afterBound();
    expect(await pulled('library/cli', 'latest')).toBe(404);
  });

  it('follow a manifest deleted by another connection', async () => {
    const image = await pushImage(server.url, 'library/gone', 'v1');
    expect(await pulled('library/gone', image.digest)).toBe(image.digest);
    other.transaction(() => {
      other.prepare('DELETE FROM tags WHERE repository = ?').run('library/gone');
      other.prepare('DELETE FROM manifest_references WHERE repository = ?').run('library/gone');
      other.prepare('DELETE FROM manifests WHERE repository = ?').run('library/gone');
    })();
    await afterBound();
    expect(await pulled('library/gone', image.digest)).toBe(404);
    expect(await pulled('library/gone', 'v1')).toBe(404);
  });

  it('serve the pushed bytes exactly, from the cache as from the database', async () => {
    const image = await pushImage(server.url, 'library/bytes', 'v1');
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`${server.url}/v2/library/bytes/manifests/v1`, {
        headers: { accept: OCI_MANIFEST },
      });
      expect(await res.text()).toBe(image.manifest);
    }
    const again = await putManifest(server.url, 'library/bytes', 'v1', image.manifest);
    expect(again.status).toBe(201);
    expect(await pulled('library/bytes', 'v1')).toBe(image.digest);
  });
});
