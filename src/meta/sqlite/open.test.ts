import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { Kysely, SqliteDialect, sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SchemaTables } from '../schema.js';
import { sqliteUnflushed } from './open.js';

/** PRAGMA synchronous: 1 = NORMAL, 2 = FULL. */
const NORMAL = 1;
const FULL = 2;

let dir: string;
let db: Kysely<SchemaTables>;

async function level(on: Kysely<SchemaTables>): Promise<number> {
  const { rows } = await sql<{ synchronous: number }>`PRAGMA synchronous`.execute(on);
  return rows[0]?.synchronous ?? -1;
}

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'berth-sqlite-'));
  const sqlite = new Database(path.join(dir, 'meta.sqlite'));
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = FULL');
  db = new Kysely<SchemaTables>({ dialect: new SqliteDialect({ database: sqlite }) });
});
afterEach(async () => {
  await db.destroy();
  await rm(dir, { recursive: true, force: true });
});

describe('an unflushed write on SQLite', () => {
  it('runs with synchronous=NORMAL and leaves the connection at FULL', async () => {
    const inside = await sqliteUnflushed(db, (conn) => level(conn));
    expect(inside).toBe(NORMAL);
    expect(await level(db)).toBe(FULL);
  });

  it('goes back to FULL when the write fails', async () => {
    await expect(
      sqliteUnflushed(db, () => Promise.reject(new Error('constraint'))),
    ).rejects.toThrow('constraint');
    expect(await level(db)).toBe(FULL);
  });

  it('holds the connection, so a durable write meanwhile waits and runs at FULL', async () => {
    const order: string[] = [];
    const relaxed = sqliteUnflushed(db, async (conn) => {
      order.push('relaxed start');
      await sleep(50);
      const seen = await level(conn);
      order.push('relaxed end');
      return seen;
    });
    const durable = (async () => {
      await sleep(5);
      const seen = await level(db);
      order.push('durable');
      return seen;
    })();
    expect(await relaxed).toBe(NORMAL);
    expect(await durable).toBe(FULL);
    expect(order).toEqual(['relaxed start', 'relaxed end', 'durable']);
  });
});
