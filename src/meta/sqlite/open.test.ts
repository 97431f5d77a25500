import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { Kysely, SqliteDialect, sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SchemaTables } from '../schema.js';
import { sqliteKysely, sqliteUnflushed } from './open.js';

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
    // The durable write starts only once the relaxed one holds the connection (a fixed delay
    // would not promise that on a busy machine), and asks for it while it is still held.
    let holding: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (holding = resolve));
    const relaxed = sqliteUnflushed(db, async (conn) => {
      order.push('relaxed start');
      holding();
      await sleep(50);
      const seen = await level(conn);
      order.push('relaxed end');
      return seen;
    });
    const durable = (async () => {
      await held;
      const seen = await level(db);
      order.push('durable');
      return seen;
    })();
    expect(await relaxed).toBe(NORMAL);
    expect(await durable).toBe(FULL);
    expect(order).toEqual(['relaxed start', 'relaxed end', 'durable']);
  });
});

describe('a MetaStore transaction on SQLite', () => {
  it('holds the write lock from BEGIN, so another process cannot commit between its read and write', async () => {
    const file = path.join(dir, 'immediate.sqlite');
    const sqlite = new Database(file);
    sqlite.pragma('journal_mode = WAL');
    sqlite.exec('CREATE TABLE t (n INTEGER)');
    const store = sqliteKysely(sqlite);
    // Another process's connection, with no busy_timeout: a write while the lock is held fails.
    const other = new Database(file, { timeout: 0 });
    try {
      await store.transaction().execute(async (tx) => {
        await sql`SELECT count(*) FROM t`.execute(tx);
        // With a deferred BEGIN this write would commit, and the INSERT below would then fail
        // with SQLITE_BUSY_SNAPSHOT, which no busy_timeout can wait out.
        expect(() => other.prepare('INSERT INTO t VALUES (2)').run()).toThrow(
          expect.objectContaining({ code: 'SQLITE_BUSY' }),
        );
        await sql`INSERT INTO t VALUES (1)`.execute(tx);
      });
      expect(other.prepare('SELECT n FROM t').pluck().all()).toEqual([1]);
    } finally {
      other.close();
      await store.destroy();
    }
  });
});
