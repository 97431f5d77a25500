/**
 * Graceful shutdown: SIGTERM lets an in-flight upload finish (and be acknowledged durably), and
 * the process exits 0 without accepting new work.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, expect, it } from 'vitest';
import { sha256 } from '../helpers/oci.js';
import { startServerProcess, type ServerProcess } from '../helpers/server.js';

let server: ServerProcess | undefined;
afterEach(async () => {
  if (server && server.child.exitCode === null) await server.kill();
});

it('SIGTERM waits for an in-flight upload, which completes and survives a restart', async () => {
  server = await startServerProcess();
  const base = server.url;
  const post = await fetch(`${base}/v2/library/slow/blobs/uploads/`, { method: 'POST' });
  const location = post.headers.get('location') ?? '';
  const piece = Buffer.alloc(64 * 1024, 7);
  const pieces = 20;
  let sent = 0;
  // A client that trickles its chunk in over ~1 s.
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (sent === pieces) return controller.close();
      await sleep(50);
      controller.enqueue(piece);
      sent++;
    },
  });
  const patch = fetch(`${base}${location}`, {
    method: 'PATCH',
    body,
    duplex: 'half',
  });
  await sleep(300);
  const exited = server.stop();
  const res = await patch;
  expect(res.status).toBe(202);
  expect(res.headers.get('range')).toBe(`0-${pieces * piece.length - 1}`);
  expect(await exited).toBe(0);
  await expect(fetch(`${base}/v2/`)).rejects.toThrow();

  const dataDir = server.dataDir;
  server = await startServerProcess({ dataDir });
  const digest = sha256(Buffer.concat(Array.from({ length: pieces }, () => piece)));
  const status = await fetch(`${server.url}${location}`);
  expect(status.status).toBe(204);
  expect(status.headers.get('range')).toBe(`0-${pieces * piece.length - 1}`);
  const put = await fetch(`${server.url}${location}?digest=${digest}`, { method: 'PUT' });
  expect(put.status).toBe(201);
  await server.stop();
});
