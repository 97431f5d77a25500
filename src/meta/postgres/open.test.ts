import pg from 'pg';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { createTestDatabase } from '../../../test/helpers/postgres.js';
import { openPostgresMetaStore, poolOf } from './open.js';

let database: Awaited<ReturnType<typeof createTestDatabase>>;

beforeEach(async () => {
  database = await createTestDatabase(inject('postgresUrl'), 'open');
});

afterEach(async () => {
  await database.drop();
});

/** Connections open to the test database, other than the one asking. */
async function connections(): Promise<number> {
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: string }>(
      'SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
    );
    return Number(rows[0]?.n);
  } finally {
    await client.end();
  }
}

describe('the PostgreSQL meta URL', () => {
  it('?pool=N caps the connections one store opens (default 10), and is not passed to pg', async () => {
    const url = new URL(database.url);
    url.searchParams.set('pool', '2');
    const meta = await openPostgresMetaStore(url.toString());
    try {
      // Six reads at once: a pool of 10 opens a connection for each.
      const reads = Array.from({ length: 6 }, (_, i) =>
        meta.repositoryExists(`team/r${String(i)}`),
      );
      expect(await Promise.all(reads)).toEqual(Array(6).fill(false));
      // The pool's two, and the change feed's one listening connection (change-feed.ts).
      expect(await connections()).toBe(3);
    } finally {
      await meta.close();
    }
    expect(poolOf(database.url)).toEqual({ connectionString: database.url, poolSize: 10 });
    expect(poolOf('postgres://u:p@db/berth?sslmode=require&pool=25')).toEqual({
      connectionString: 'postgres://u:p@db/berth?sslmode=require',
      poolSize: 25,
    });
  });

  it('refuses a pool that is not a number of connections', async () => {
    for (const value of ['0', '-1', 'ten', '2.5', '', '1001']) {
      const url = new URL(database.url);
      url.searchParams.set('pool', value);
      await expect(openPostgresMetaStore(url.toString())).rejects.toThrow(
        `pool=${value}: expected a number of connections, 1 to 1000`,
      );
    }
  });
});
