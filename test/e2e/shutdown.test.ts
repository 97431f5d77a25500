/**
 * Graceful shutdown: SIGTERM lets an in-flight upload finish (and be acknowledged durably), and
 * the process exits 0 without accepting new work.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
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
  // A client that sends its first piece, then the rest only once the server is shutting down:
  // the upload is in flight when SIGTERM arrives, however slow the machine.
  let rest: (() => void) | undefined;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(piece);
      rest = () => {
        for (let i = 1; i < pieces; i++) controller.enqueue(piece);
        controller.close();
      };
    },
  });
  const patch = fetch(`${base}${location}`, {
    method: 'PATCH',
    body,
    duplex: 'half',
  });
  const id = location.slice(location.lastIndexOf('/') + 1);
  await waitForFileSize(path.join(server.dataDir, 'uploads', id), piece.length);
  const exited = server.stop();
  await server.waitFor(/SIGTERM/);
  rest?.();
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

/** Polls until `file` has at least `size` bytes: the server is writing the upload. */
async function waitForFileSize(file: string, size: number): Promise<void> {
  for (const deadline = Date.now() + 30_000; ; await sleep(10)) {
    const current = await stat(file).then(
      (s) => s.size,
      () => 0,
    );
    if (current >= size) return;
    if (Date.now() > deadline) throw new Error(`${file} never reached ${size} bytes`);
  }
}
