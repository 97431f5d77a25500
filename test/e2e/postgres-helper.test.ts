/**
 * The throwaway PostgreSQL cluster of test/helpers/postgres.ts, as the benchmark's scale-out mode
 * uses it too: a Ctrl-C reaches the whole process group, so the server may be gone before
 * `stop()` runs, which must still remove the cluster's directory.
 */
import { existsSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { startPostgresCluster } from '../helpers/postgres.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('startPostgresCluster', () => {
  it('stop() removes the directory of a server that has already exited', async () => {
    const cluster = await startPostgresCluster();
    // The postmaster runs in DIR/data; DIR is the cluster's temp directory.
    const dir = path.dirname(readlinkSync(`/proc/${cluster.pid}/cwd`));
    expect(existsSync(path.join(dir, 'data', 'postmaster.pid'))).toBe(true);
    process.kill(cluster.pid, 'SIGKILL');
    const deadline = Date.now() + 30_000;
    while (alive(cluster.pid) && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 20));
    expect(alive(cluster.pid)).toBe(false);

    await cluster.stop();
    expect(existsSync(dir)).toBe(false);
  });
});
