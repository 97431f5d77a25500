/**
 * Two replicas (two stores, two connection pools) on one PostgreSQL database, racing the writes
 * that SQLite's single writer used to serialise: both end in one consistent state.
 */
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { createTestDatabase } from '../../../test/helpers/postgres.js';
import type { ManifestWrite, MetaStore } from '../store.js';
import { openPostgresMetaStore, retryingKysely, type RetryLog } from './open.js';

const ROUNDS = 20;
const FUTURE = '2999-01-01T00:00:00.000Z';
const digest = (label: string): string => `sha256:${label.padEnd(64, '0')}`;

let database: Awaited<ReturnType<typeof createTestDatabase>>;
let a: MetaStore;
let b: MetaStore;
/** Transactions PostgreSQL rolled back (deadlock, serialization) that a store ran again. */
let retried: Parameters<RetryLog>[0][];

async function count(statement: string): Promise<number> {
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: string }>(statement);
    return Number(rows[0]?.n);
  } finally {
    await client.end();
  }
}

/** A blob linked into the repository by a completed upload, as a push leaves it. */
async function link(store: MetaStore, repository: string, d: string): Promise<void> {
  const at = new Date().toISOString();
  const id = `${repository}@${d}`;
  await store.createUpload({
    ...{ id, repository, owner: '', algorithm: 'sha256', offset: 0 },
    ...{ createdAt: at, updatedAt: at },
  });
  await store.completeUpload(id, 'team', { repository, digest: d, size: 3 }, () =>
    Promise.resolve(true),
  );
}

function manifest(repository: string, manifestDigest: string, layer: string): ManifestWrite {
  return {
    repository,
    namespace: 'team',
    digest: manifestDigest,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    payload: Buffer.from(JSON.stringify({ layers: [layer] })),
    artifactType: null,
    subject: null,
    annotations: null,
    references: [{ digest: layer, kind: 'blob', layer: true }],
    verifyReferences: false,
    indexChildren: 'all',
    tags: ['latest'],
    pushedBy: null,
  };
}

beforeEach(async () => {
  database = await createTestDatabase(inject('postgresUrl'), 'replicas');
  retried = [];
  const onRetry: RetryLog = (fields) => retried.push(fields);
  // Both start on the empty database at once: the migrations run once, the other waits for them.
  [a, b] = await Promise.all([
    openPostgresMetaStore(database.url, { onRetry }),
    openPostgresMetaStore(database.url, { onRetry }),
  ]);
});

afterEach(async () => {
  await a.close();
  await b.close();
  await database.drop();
});

describe('two replicas on one PostgreSQL database', () => {
  it('migrate once when they start together', async () => {
    expect(await count('SELECT count(*) AS n FROM kysely_migration')).toBeGreaterThan(0);
    expect(await count('SELECT count(*) - count(DISTINCT name) AS n FROM kysely_migration')).toBe(
      0,
    );
  });

  it('creating the same namespace: exactly one succeeds', async () => {
    for (let i = 0; i < ROUNDS; i++) {
      const created = await Promise.all([
        a.createNamespace({ name: `ns${String(i)}`, public: false }),
        b.createNamespace({ name: `ns${String(i)}`, public: true }),
      ]);
      expect(created.filter(Boolean)).toHaveLength(1);
    }
    expect(await count('SELECT count(*) AS n FROM namespaces')).toBe(ROUNDS);
  });

  it('pushing into the same new repository: both land in one repository', async () => {
    await a.createNamespace({ name: 'team', public: false });
    for (let i = 0; i < ROUNDS; i++) {
      const repository = `team/app${String(i)}`;
      const results = await Promise.all([
        a.putManifest(manifest(repository, digest(`a${String(i).padStart(3, '0')}`), digest('11'))),
        b.putManifest(manifest(repository, digest(`b${String(i).padStart(3, '0')}`), digest('11'))),
      ]);
      expect(results).toEqual([{ ok: true }, { ok: true }]);
    }
    expect(await count('SELECT count(*) AS n FROM repositories')).toBe(ROUNDS);
    expect(await count('SELECT count(*) AS n FROM manifests')).toBe(2 * ROUNDS);
  });

  it('uploading the same digest: one blob row and one link', async () => {
    await a.createNamespace({ name: 'team', public: false });
    const at = new Date().toISOString();
    for (let i = 0; i < ROUNDS; i++) {
      const blob = {
        repository: `team/up${String(i)}`,
        digest: digest(`c${String(i).padStart(3, '0')}`),
        size: 3,
      };
      const results = await Promise.all(
        [a, b].map(async (store, s) => {
          const id = `u${String(i)}-${String(s)}`;
          await store.createUpload({
            ...{ id, repository: blob.repository, owner: '', algorithm: 'sha256', offset: 0 },
            ...{ createdAt: at, updatedAt: at },
          });
          return store.completeUpload(id, 'team', blob, () => Promise.resolve(true));
        }),
      );
      expect(results).toEqual(['ok', 'ok']);
    }
    expect(await count('SELECT count(*) AS n FROM blobs')).toBe(ROUNDS);
    expect(await count('SELECT count(*) AS n FROM repository_blobs')).toBe(ROUNDS);
    expect(await count('SELECT count(*) AS n FROM uploads')).toBe(0);
  });

  it('GC collecting a blob while the other replica uploads it: a row always has its file', async () => {
    await a.createNamespace({ name: 'team', public: false });
    const at = new Date().toISOString();
    for (let i = 0; i < ROUNDS; i++) {
      const d = digest(`e${String(i).padStart(3, '0')}`);
      // A blob row nothing holds (its link was unlinked): GC's to collect, unless a push wins.
      await a.createUpload({
        ...{ id: `old${String(i)}`, repository: 'team/gc', owner: '', algorithm: 'sha256' },
        ...{ offset: 0, createdAt: at, updatedAt: at },
      });
      await a.completeUpload(
        `old${String(i)}`,
        'team',
        { repository: 'team/gc', digest: d, size: 3 },
        () => Promise.resolve(true),
      );
      await a.unlinkBlob('team/gc', d);
      // The file, as the two replicas see it: GC moves it away, an upload puts it back.
      let file = true;
      await b.createUpload({
        ...{ id: `new${String(i)}`, repository: 'team/push', owner: '', algorithm: 'sha256' },
        ...{ offset: 0, createdAt: at, updatedAt: at },
      });
      const [collected, completed] = await Promise.all([
        a.collectUnheldBlobs([d], FUTURE, () => {
          file = false;
          return Promise.resolve();
        }),
        b.completeUpload(
          `new${String(i)}`,
          'team',
          { repository: 'team/push', digest: d, size: 3 },
          () => {
            file = true;
            return Promise.resolve(true);
          },
        ),
      ]);
      expect(completed).toBe('ok');
      // Either GC went first (collected, the upload put the file back) or the upload did (kept).
      expect(collected.length).toBeLessThanOrEqual(1);
      expect(file, `round ${String(i)}: the blob row is there, its file must be`).toBe(true);
      expect(await b.getLinkedBlob('team/push', d)).toMatchObject({ size: 3 });
    }
  });

  it('deleting a blob while the other replica pushes a manifest that lists it: never both', async () => {
    await a.createNamespace({ name: 'team', public: false });
    const at = new Date().toISOString();
    for (let i = 0; i < ROUNDS; i++) {
      const layer = digest(`f${String(i).padStart(3, '0')}`);
      await a.createUpload({
        ...{ id: `l${String(i)}`, repository: 'team/del', owner: '', algorithm: 'sha256' },
        ...{ offset: 0, createdAt: at, updatedAt: at },
      });
      await a.completeUpload(
        `l${String(i)}`,
        'team',
        { repository: 'team/del', digest: layer, size: 3 },
        () => Promise.resolve(true),
      );
      const write = {
        ...manifest('team/del', digest(`g${String(i).padStart(3, '0')}`), layer),
        verifyReferences: true,
      };
      const [unlinked, pushed] = await Promise.all([
        a.unlinkBlob('team/del', layer),
        b.putManifest(write),
      ]);
      // Either the delete went first (the push is refused for the missing layer) or the push
      // did (the delete is refused: a manifest lists the layer); never a manifest without it.
      if (pushed.ok) {
        expect(unlinked).toEqual({ referencedBy: [write.digest] });
        expect(await a.getLinkedBlob('team/del', layer)).not.toBeNull();
      } else {
        expect(unlinked).toBe('deleted');
        expect(pushed).toMatchObject({ ok: false, missing: [{ digest: layer }] });
      }
    }
  });

  it('deleting a manifest while the other replica pushes an index that lists it: never both', async () => {
    await a.createNamespace({ name: 'team', public: false });
    // Another image keeps the repository from emptying (that race is ADR 0006's open item).
    await a.putManifest(manifest('team/idx', digest('keep'), digest('kk')));
    for (let i = 0; i < ROUNDS; i++) {
      const child = digest(`h${String(i).padStart(3, '0')}`);
      await a.putManifest({ ...manifest('team/idx', child, digest('11')), tags: [] });
      const index: ManifestWrite = {
        ...manifest('team/idx', digest(`i${String(i).padStart(3, '0')}`), digest('11')),
        mediaType: 'application/vnd.oci.image.index.v1+json',
        references: [{ digest: child, kind: 'manifest', platform: 'linux/amd64' }],
        verifyReferences: true,
        tags: [],
      };
      const [deleted, pushed] = await Promise.all([
        a.deleteManifest('team/idx', child),
        b.putManifest(index),
      ]);
      if (pushed.ok) {
        expect(deleted).toEqual({ referencedBy: [index.digest] });
        expect(await a.getManifest('team/idx', child)).not.toBeNull();
      } else {
        expect(deleted).toBe('deleted');
        expect(pushed).toMatchObject({ ok: false, missing: [{ digest: child }] });
      }
    }
  });

  it('GC emptying a repository while the other replica mounts a blob into it: the mount stays', async () => {
    await a.createNamespace({ name: 'team', public: false });
    const at = new Date().toISOString();
    const upload = async (id: string, repository: string, d: string): Promise<void> => {
      await a.createUpload({
        ...{ id, repository, owner: '', algorithm: 'sha256', offset: 0 },
        ...{ createdAt: at, updatedAt: at },
      });
      await a.completeUpload(id, 'team', { repository, digest: d, size: 3 }, () =>
        Promise.resolve(true),
      );
    };
    const shared = digest('5151');
    await upload('src', 'team/source', shared);
    for (let i = 0; i < ROUNDS; i++) {
      const repository = `team/empty${String(i)}`;
      // The repository's only link, idle: GC removes it, and the repository with it.
      const idle = digest(`j${String(i).padStart(3, '0')}`);
      await upload(`idle${String(i)}`, repository, idle);
      const [collected, mounted] = await Promise.all([
        a.collectLinks([{ repository, digest: idle }], FUTURE, () => Promise.resolve()),
        b.mountBlob(repository, 'team', { digest: shared, size: 3 }),
      ]);
      expect(collected.links).toBe(1);
      expect(mounted).toBe('ok');
      expect(await b.getLinkedBlob(repository, shared), `round ${String(i)}`).not.toBeNull();
      expect(await b.repositoryExists(repository)).toBe(true);
    }
  });

  it('two refused pushes into the same new repository: both refused, no repository left', async () => {
    await a.createNamespace({ name: 'team', public: false });
    for (let i = 0; i < ROUNDS; i++) {
      const repository = `team/refused${String(i)}`;
      const missing = digest(`k${String(i).padStart(3, '0')}`);
      const results = await Promise.all(
        [a, b].map((store, s) =>
          store.putManifest({
            ...manifest(repository, digest(`m${String(i).padStart(3, '0')}${String(s)}`), missing),
            verifyReferences: true,
          }),
        ),
      );
      expect(results).toMatchObject([
        { ok: false, missing: [{ digest: missing }] },
        { ok: false, missing: [{ digest: missing }] },
      ]);
      expect(await a.repositoryExists(repository)).toBe(false);
    }
  });

  it('a deadlock: PostgreSQL rolls one transaction back, it runs again and both succeed', async () => {
    await a.createNamespace({ name: 'one', public: false });
    await a.createNamespace({ name: 'two', public: false });
    // Two replicas' connection pools, each transaction locking the two rows in opposite order.
    const pools = [
      new pg.Pool({ connectionString: database.url }),
      new pg.Pool({ connectionString: database.url }),
    ];
    // As the store's pool: a client still closing when the database is dropped reports its
    // termination on the pool, not as an uncaught error.
    for (const pool of pools) pool.on('error', () => undefined);
    const dbs = pools.map((pool) => retryingKysely(pool, (fields) => retried.push(fields)));
    // Each resolves once its transaction holds its first row.
    const locked = [0, 1].map(() => {
      let resolve = (): void => undefined;
      const promise = new Promise<void>((r) => (resolve = r));
      return { promise, resolve };
    });
    let attempts = 0;
    try {
      const results = await Promise.all(
        dbs.map((db, i) =>
          db.transaction().execute(async (tx) => {
            attempts += 1;
            const [first, second] = i === 0 ? ['one', 'two'] : ['two', 'one'];
            await tx
              .updateTable('namespaces')
              .set({ public: 1 })
              .where('name', '=', first)
              .execute();
            // Only the first attempts meet: a transaction run again just waits for the other.
            if (attempts <= 2) {
              locked[i]?.resolve();
              await locked[1 - i]?.promise;
            }
            await tx
              .updateTable('namespaces')
              .set({ public: 1 })
              .where('name', '=', second)
              .execute();
            return i;
          }),
        ),
      );
      expect(results).toEqual([0, 1]);
      expect(attempts).toBe(3);
      expect(retried).toEqual([
        { code: '40P01', attempt: 1, delayMs: expect.any(Number) as number },
      ]);
      expect(await count('SELECT count(*) AS n FROM namespaces WHERE public = 1')).toBe(2);
    } finally {
      await Promise.all(dbs.map((db) => db.destroy()));
    }
  });

  it('deleting a repository while the other replica pushes into it: the push never fails', async () => {
    await a.createNamespace({ name: 'team', public: false });
    for (let i = 0; i < ROUNDS; i++) {
      const repository = `team/admin${String(i)}`;
      await a.putManifest(
        manifest(repository, digest(`n${String(i).padStart(3, '0')}`), digest('11')),
      );
      const pushed = digest(`o${String(i).padStart(3, '0')}`);
      const [deleted, result] = await Promise.all([
        a.deleteRepository(repository),
        b.putManifest(manifest(repository, pushed, digest('11'))),
      ]);
      expect(deleted).toEqual({ uploads: [] });
      expect(result).toEqual({ ok: true });
      // The push went first (deleted with the rest) or after (the repository is back with it).
      const kept = await b.getManifest(repository, pushed);
      expect(await b.repositoryExists(repository), `round ${String(i)}`).toBe(kept !== null);
    }
    expect(retried).toEqual([]);
  });

  it('deleting a namespace by force while the other replica pushes into it: never a crash', async () => {
    for (let i = 0; i < ROUNDS; i++) {
      await a.createNamespace({ name: 'team', public: false });
      const repository = `team/forced${String(i)}`;
      await a.putManifest(
        manifest(repository, digest(`p${String(i).padStart(3, '0')}`), digest('11')),
      );
      const [deleted, result] = await Promise.all([
        a.deleteNamespace('team', true),
        b.putManifest(manifest(repository, digest(`q${String(i).padStart(3, '0')}`), digest('11'))),
      ]);
      expect(deleted).toBe('deleted');
      // Pushed first and deleted with the namespace, or refused: the namespace is gone.
      if (!result.ok) expect(result).toMatchObject({ ok: false });
      expect(await a.repositoryExists(repository), `round ${String(i)}`).toBe(false);
    }
    expect(retried).toEqual([]);
  });

  it('two GC batches emptying the same two repositories in opposite order: no deadlock', async () => {
    await a.createNamespace({ name: 'team', public: false });
    for (let i = 0; i < ROUNDS; i++) {
      const [left, right] = [`team/left${String(i)}`, `team/right${String(i)}`];
      const d = (n: number): string => digest(`r${String(i).padStart(3, '0')}${String(n)}`);
      for (const [repository, n] of [
        [left, 1],
        [right, 2],
        [right, 3],
        [left, 4],
      ] as const)
        await link(a, repository, d(n));
      const [first, second] = await Promise.all([
        a.collectLinks(
          [
            { repository: left, digest: d(1) },
            { repository: right, digest: d(2) },
          ],
          FUTURE,
          () => Promise.resolve(),
        ),
        b.collectLinks(
          [
            { repository: right, digest: d(3) },
            { repository: left, digest: d(4) },
          ],
          FUTURE,
          () => Promise.resolve(),
        ),
      ]);
      expect([first.links, second.links]).toEqual([2, 2]);
      expect(await a.repositoryExists(left)).toBe(false);
      expect(await a.repositoryExists(right)).toBe(false);
    }
    expect(retried, 'deadlocks PostgreSQL broke').toEqual([]);
  });

  it('fsck forgetting a blob while a GC batch empties its repositories: no deadlock', async () => {
    await a.createNamespace({ name: 'team', public: false });
    for (let i = 0; i < ROUNDS; i++) {
      const [left, right] = [`team/fl${String(i)}`, `team/fr${String(i)}`];
      const d = (n: number): string => digest(`s${String(i).padStart(3, '0')}${String(n)}`);
      // The forgotten blob is linked left first, the batch goes right first.
      await link(a, left, d(0));
      await link(a, right, d(0));
      await link(a, right, d(1));
      await link(a, left, d(2));
      const [forgot, collected] = await Promise.all([
        a.forgetBlob(d(0)),
        b.collectLinks(
          [
            { repository: right, digest: d(1) },
            { repository: left, digest: d(2) },
          ],
          FUTURE,
          () => Promise.resolve(),
        ),
      ]);
      expect(forgot).toBe(true);
      expect(collected.links).toBe(2);
      expect(await a.repositoryExists(left)).toBe(false);
      expect(await a.repositoryExists(right)).toBe(false);
    }
    expect(retried, 'deadlocks PostgreSQL broke').toEqual([]);
  });
});
