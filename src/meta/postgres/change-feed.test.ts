/**
 * The manifest and credential caches of one replica against the writes of another: two stores
 * (two pools, two listening connections) on one PostgreSQL database.
 */
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { createTestDatabase } from '../../../test/helpers/postgres.js';
import type { ManifestWrite, MetaStore } from '../store.js';
import { openPostgresMetaStore } from './open.js';

const digest = (label: string): string => `sha256:${label.padEnd(64, '0')}`;
/** Far above the notification latency (milliseconds) on a busy 2-core machine. */
const DEADLINE_MS = 10_000;

let database: Awaited<ReturnType<typeof createTestDatabase>>;
let a: MetaStore;
let b: MetaStore;

async function sqlOn(statements: string[]): Promise<void> {
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  try {
    for (const statement of statements) await client.query(statement);
  } finally {
    await client.end();
  }
}

/** Polls until `check` holds or the deadline passes (then fails with `what`). */
async function eventually(what: string, check: () => Promise<boolean>): Promise<number> {
  const started = performance.now();
  while (!(await check())) {
    if (performance.now() - started > DEADLINE_MS) throw new Error(`not within 10 s: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return performance.now() - started;
}

function image(manifestDigest: string): ManifestWrite {
  return {
    repository: 'team/app',
    namespace: 'team',
    digest: manifestDigest,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    payload: Buffer.from(JSON.stringify({ layers: [], v: manifestDigest })),
    artifactType: null,
    subject: null,
    annotations: null,
    references: [],
    verifyReferences: false,
    indexChildren: 'all',
    tags: ['latest'],
    pushedBy: null,
  };
}

const tagged = async (store: MetaStore): Promise<string | undefined> =>
  (await store.getTaggedManifest('team/app', 'latest'))?.digest;

beforeEach(async () => {
  database = await createTestDatabase(inject('postgresUrl'), 'changes');
  [a, b] = await Promise.all([
    openPostgresMetaStore(database.url),
    openPostgresMetaStore(database.url),
  ]);
  await a.createNamespace({ name: 'team', public: false });
});

afterEach(async () => {
  await a.close();
  await b.close();
  await database.drop();
});

describe('two replicas on one database', () => {
  it('read a tag moved or deleted through the other at once: no cache between', async () => {
    expect(await a.putManifest(image(digest('a1')))).toEqual({ ok: true });
    expect(await tagged(b)).toBe(digest('a1'));
    for (let i = 2; i < 12; i++) {
      const next = digest(`a${String(i)}`);
      expect(await a.putManifest(image(next))).toEqual({ ok: true });
      expect(await tagged(b)).toBe(next);
    }
    expect(await a.deleteTag('team/app', 'latest')).toBe('deleted');
    expect(await tagged(b)).toBeUndefined();
  });

  it('tell a watcher of user changes committed by the other', async () => {
    const seen: string[] = [];
    a.watchChanges((table) => seen.push(table));
    expect(await b.createUser({ name: 'carol', passwordHash: 'x', roles: [] })).toBe('ok');
    await eventually('A is told of the users change', () =>
      Promise.resolve(seen.includes('users')),
    );
    expect(await b.setUserDisabled('carol', true)).toBe(true);
    await eventually('A is told of the second change', () =>
      Promise.resolve(seen.filter((t) => t === 'users').length >= 2),
    );
  });

  it('a watcher is told to forget everything when the feed is cut, and hears again after', async () => {
    const seen: string[] = [];
    a.watchChanges((table) => seen.push(table));
    // Every listening connection of the database is cut (as a server restart or a network cut would).
    await sqlOn([
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'`,
    ]);
    await eventually('A is told to forget everything', () => Promise.resolve(seen.includes('*')));
    // Reconnected (after a pause): a change through B reaches A again.
    let n = 0;
    await eventually('A listens again', async () => {
      n += 1;
      await b.createUser({ name: `user${String(n)}`, passwordHash: 'x', roles: [] });
      await new Promise((resolve) => setTimeout(resolve, 20));
      return seen.includes('users');
    });
  });
});
