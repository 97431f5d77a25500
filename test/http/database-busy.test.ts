/**
 * A write that cannot get SQLite's write lock within busy_timeout (another process holds it: a
 * CLI command, or a second server someone started by hand) is a 503 with Retry-After, which
 * clients retry, not a 500; the same request goes through once the lock is free.
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
let other: Database.Database;

beforeAll(async () => {
  server = await startServer();
  other = new Database(path.join(server.dataDir, 'meta.sqlite'));
});
afterAll(async () => {
  if (other.inTransaction) other.exec('ROLLBACK');
  other.close();
  await server.close();
});

it('answers 503 UNAVAILABLE with Retry-After while another process holds the write lock', async () => {
  const startUpload = () =>
    fetch(`${server.url}/v2/library/busy/blobs/uploads/`, { method: 'POST' });
  other.exec('BEGIN IMMEDIATE');
  const refused = await startUpload();
  other.exec('ROLLBACK');
  expect(refused.status).toBe(503);
  expect(refused.headers.get('retry-after')).toBe('1');
  const body = (await refused.json()) as { errors: { code: string; message: string }[] };
  expect(body.errors[0]).toMatchObject({
    code: 'UNAVAILABLE',
    message: expect.stringContaining('metadata database is busy') as unknown,
  });

  const retried = await startUpload();
  expect(retried.status).toBe(202);
});
