/**
 * The purge of expired upload sessions skips sessions a request is writing to right now, and must
 * still get past them: a whole page of busy sessions once made it read that page forever.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PURGE_PAGE_SIZE } from '../../src/registry/uploads.js';
import { startServer, type TestServer } from '../helpers/server.js';

let server: TestServer;

beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => server.close());

async function startUpload(name: string): Promise<string> {
  const res = await fetch(`${server.url}/v2/${name}/blobs/uploads/`, { method: 'POST' });
  expect(res.status).toBe(202);
  return res.headers.get('location') ?? '';
}

/** A PATCH whose body stays open until `release`: its session is busy meanwhile. */
function heldPatch(location: string): { response: Promise<Response>; release(): void } {
  let controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
      c.enqueue(new Uint8Array(1024).fill(1));
    },
  });
  const response = fetch(`${server.url}${location}`, { method: 'PATCH', body, duplex: 'half' });
  return { response, release: () => controller?.close() };
}

/**
 * Waits until the server has written the held PATCH's first bytes: its request holds the session
 * then (a probing request could take the session first and make the held one fail).
 */
async function waitUntilBusy(location: string): Promise<void> {
  const file = path.join(server.dataDir, 'uploads', location.slice(location.lastIndexOf('/') + 1));
  const size = (): Promise<number> =>
    stat(file).then(
      (s) => s.size,
      () => 0,
    );
  for (const deadline = Date.now() + 30_000; (await size()) < 1024;) {
    if (Date.now() > deadline) throw new Error(`${location} never became busy`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

it('gets past a whole page of busy sessions and purges the idle one behind it', async () => {
  // Once this one is purged, every stale session left is busy: a page of busy ones only.
  const idle = await startUpload('library/purge-idle');
  const busyLocations: string[] = [];
  for (let i = 0; i < PURGE_PAGE_SIZE; i++) busyLocations.push(await startUpload('library/purge'));
  const held = busyLocations.map(heldPatch);
  try {
    for (const location of busyLocations) await waitUntilBusy(location);

    const everythingIsStale = new Date(Date.now() + 60_000);
    let timer: NodeJS.Timeout | undefined;
    const purged = await Promise.race([
      server.app.registry.uploads.purgeStale(everythingIsStale),
      new Promise<string>((resolve) => {
        timer = setTimeout(() => resolve('purgeStale did not return'), 30_000);
      }),
    ]).finally(() => clearTimeout(timer));
    expect(purged).toBe(1);
    expect((await fetch(`${server.url}${idle}`)).status).toBe(404);
  } finally {
    for (const h of held) h.release();
  }
  // The busy sessions were left alone: every held PATCH is acknowledged.
  const statuses = await Promise.all(held.map(async (h) => (await h.response).status));
  expect(statuses).toEqual(busyLocations.map(() => 202));
  const status = await fetch(`${server.url}${busyLocations[0] ?? ''}`);
  expect(status.status).toBe(204);
  expect(status.headers.get('range')).toBe('0-1023');
});
