/**
 * In-process servers (createApp) take the data directory's serve lock like `berth serve` does:
 * suites start many at once, each on a directory of its own, and a second one on a directory in
 * use is refused (see test/e2e/serve-lock.test.ts for the processes).
 */
import { readdir, rm } from 'node:fs/promises';
import { expect, it } from 'vitest';
import { makeTempDir, startServer } from '../helpers/server.js';

it('an in-process server holds its data directory until it is closed', async () => {
  const dataDir = await makeTempDir();
  try {
    const first = await startServer({ dataDir });
    await expect(startServer({ dataDir })).rejects.toThrow(
      `data directory ${dataDir} is in use by PID ${process.pid} (berth serve)`,
    );
    expect((await fetch(`${first.url}/v2/`)).status).toBe(200);
    await first.close();
    expect(await readdir(dataDir)).not.toContain('serve.lock');

    const again = await startServer({ dataDir });
    expect(await readdir(dataDir)).toContain('serve.lock');
    await again.close();
    expect(await readdir(dataDir)).not.toContain('serve.lock');
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});
