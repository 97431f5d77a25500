/**
 * The contract every MetaStore must pass (SQLite now, PostgreSQL for scale-out): run it from each
 * engine's own test with a factory for a fresh, empty, migrated store. Only the MetaStore
 * interface is used, so the suite runs unchanged on any engine; the concurrency cases are what a
 * multi-writer engine must survive (SQLite's single writer serialises them, PostgreSQL does not).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ManifestWrite, MetaStore } from '../../src/meta/store.js';

export interface OpenedMetaStore {
  meta: MetaStore;
  /** Closes the store and removes its database. */
  close(): Promise<void>;
  /**
   * Runs one portable SQL statement on the store's database, for rows no MetaStore method can
   * write (a row left by hand or by an older version); the tests that need it skip without it.
   */
  exec?: (statement: string) => Promise<void>;
}

/** A readable, fixed digest: `digest('a1')` is sha256:a100…0. */
const digest = (label: string): string => `sha256:${label.padEnd(64, '0')}`;

const LAYER_A = digest('a1');
const LAYER_B = digest('b2');
const CONFIG = digest('c3');
const IMAGE_1 = digest('d1');
const IMAGE_2 = digest('d2');
const INDEX = digest('e1');
const SIGNATURE = digest('f1');

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

/** Times before and after anything a test writes (stores stamp rows with the clock). */
const PAST = '2000-01-01T00:00:00.000Z';
const FUTURE = '2999-01-01T00:00:00.000Z';

/** An image manifest of `team/app` listing `layers`; every field can be overridden. */
function image(manifestDigest: string, layers: string[], over: Partial<ManifestWrite> = {}) {
  const write: ManifestWrite = {
    repository: 'team/app',
    namespace: 'team',
    digest: manifestDigest,
    mediaType: OCI_MANIFEST,
    payload: Buffer.from(JSON.stringify({ schemaVersion: 2, layers })),
    artifactType: null,
    subject: null,
    annotations: null,
    references: layers.map((d) => ({ digest: d, kind: 'blob' as const, layer: true })),
    verifyReferences: true,
    indexChildren: 'all',
    tags: [],
    pushedBy: null,
    ...over,
  };
  return write;
}

/** An index of `team/app` listing child manifests with their platforms. */
function index(
  indexDigest: string,
  children: { digest: string; platform: string }[],
  over: Partial<ManifestWrite> = {},
): ManifestWrite {
  return image(indexDigest, [], {
    mediaType: OCI_INDEX,
    payload: Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: children })),
    references: children.map((c) => ({
      digest: c.digest,
      kind: 'manifest' as const,
      platform: c.platform,
    })),
    ...over,
  });
}

/** Resolves once Date.now() has moved past `since`, so a later stamp is strictly greater. */
async function clockPast(since: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (new Date().toISOString() <= since) {
    if (Date.now() > deadline) throw new Error('the clock did not move');
    await new Promise((resolve) => setImmediate(resolve));
  }
}

export function describeMetaStore(name: string, open: () => Promise<OpenedMetaStore>): void {
  describe(`MetaStore contract: ${name}`, () => {
    let opened: OpenedMetaStore;
    let meta: MetaStore;
    let uploadCount = 0;

    beforeEach(async () => {
      opened = await open();
      meta = opened.meta;
      uploadCount = 0;
      expect(await meta.createNamespace({ name: 'team', public: false })).toBe(true);
    });
    afterEach(async () => {
      await opened.close();
    });

    /** Uploads a blob into the repository the way the registry does: a session, then complete. */
    async function upload(
      repository: string,
      blobDigest: string,
      size: number,
      namespace = repository.split('/')[0] ?? '',
    ): Promise<void> {
      uploadCount += 1;
      const id = `upload-${String(uploadCount).padStart(3, '0')}`;
      await meta.createUpload({
        id,
        repository,
        owner: '',
        algorithm: 'sha256',
        offset: 0,
        createdAt: PAST,
        updatedAt: PAST,
      });
      expect(
        await meta.completeUpload(id, namespace, { repository, digest: blobDigest, size }, () =>
          Promise.resolve(true),
        ),
      ).toBe('ok');
    }

    /** `team/app` holding LAYER_A (10 bytes) and LAYER_B (20 bytes). */
    async function twoLayers(): Promise<void> {
      await upload('team/app', LAYER_A, 10);
      await upload('team/app', LAYER_B, 20);
    }

    async function pushedAtOf(repository: string, tag: string): Promise<string> {
      const found = await meta.findTags(repository, { query: tag, limit: 100, offset: 0 });
      const row = found.items.find((t) => t.tag === tag);
      if (!row) throw new Error(`no tag ${tag}`);
      return row.pushedAt;
    }

    // ── namespaces ──────────────────────────────────────────────────────

    describe('namespaces', () => {
      it('creates a namespace once, with no rules, and reads it back', async () => {
        expect(await meta.createNamespace({ name: 'team', public: true })).toBe(false);
        expect(await meta.createNamespace({ name: 'open', public: true })).toBe(true);
        const team = await meta.getNamespace('team');
        expect(team).toMatchObject({
          name: 'team',
          public: false,
          immutableTags: [],
          indexChildren: null,
          quotaBytes: null,
          retention: null,
        });
        expect(typeof team?.kind).toBe('string');
        expect(Number.isNaN(Date.parse(team?.createdAt ?? ''))).toBe(false);
        expect((await meta.getNamespace('open'))?.public).toBe(true);
        expect(await meta.getNamespace('nobody')).toBeNull();
      });

      it('sets visibility, false for an unknown namespace; lists visibility by name', async () => {
        await meta.createNamespace({ name: 'alpha', public: false });
        expect(await meta.setNamespacePublic('team', true)).toBe(true);
        expect(await meta.setNamespacePublic('nobody', true)).toBe(false);
        expect(await meta.listNamespaceVisibility()).toEqual([
          { name: 'alpha', public: false },
          { name: 'team', public: true },
        ]);
      });

      it('patches only the given rules; false for an unknown namespace', async () => {
        expect(
          await meta.setNamespacePolicy('team', {
            immutableTags: ['v*', 'release-?'],
            indexChildren: 'linux/amd64',
            quotaBytes: 5_000_000_000,
            retention: { keepLast: 3, untaggedDays: 7 },
          }),
        ).toBe(true);
        expect(await meta.setNamespacePolicy('team', { quotaBytes: null })).toBe(true);
        expect(await meta.getNamespace('team')).toMatchObject({
          immutableTags: ['v*', 'release-?'],
          indexChildren: 'linux/amd64',
          quotaBytes: null,
          retention: { keepLast: 3, untaggedDays: 7 },
        });
        expect(await meta.setNamespacePolicy('team', { retention: null, indexChildren: null }));
        expect(await meta.getNamespace('team')).toMatchObject({
          immutableTags: ['v*', 'release-?'],
          indexChildren: null,
          retention: null,
        });
        expect(await meta.setNamespacePolicy('nobody', { quotaBytes: 1 })).toBe(false);
        expect(await meta.setNamespacePolicy('nobody', {})).toBe(false);
        expect(await meta.setNamespacePolicy('team', {})).toBe(true);
      });

      it('keeps a quota beyond 2^32 bytes exact', async () => {
        const quota = 9 * 1024 ** 4 + 7;
        await meta.setNamespacePolicy('team', { quotaBytes: quota });
        expect((await meta.getNamespace('team'))?.quotaBytes).toBe(quota);
      });

      it('lists namespaces by name with their repository counts', async () => {
        await meta.createNamespace({ name: 'alpha', public: true });
        await upload('team/app', LAYER_A, 10);
        await upload('team/web', LAYER_A, 10);
        const list = await meta.listNamespaces();
        expect(list.map((n) => [n.name, n.repositories, n.public])).toEqual([
          ['alpha', 0, true],
          ['team', 2, false],
        ]);
      });

      it('deletes an empty namespace, refuses one with repositories unless forced', async () => {
        await meta.createNamespace({ name: 'alpha', public: false });
        expect(await meta.deleteNamespace('alpha', false)).toBe('deleted');
        expect(await meta.deleteNamespace('alpha', false)).toBe('unknown');
        await twoLayers();
        await meta.putManifest(image(IMAGE_1, [LAYER_A], { tags: ['latest'] }));
        expect(await meta.deleteNamespace('team', false)).toBe('not-empty');
        expect(await meta.repositoryExists('team/app')).toBe(true);
        // Forced, even over an immutable tag: the rules go with the namespace.
        await meta.setNamespacePolicy('team', { immutableTags: ['latest'] });
        expect(await meta.deleteNamespace('team', true)).toBe('deleted');
        expect(await meta.getNamespace('team')).toBeNull();
        expect(await meta.repositoryExists('team/app')).toBe(false);
        expect(await meta.getLinkedBlob('team/app', LAYER_A)).toBeNull();
        expect(await meta.getTaggedManifest('team/app', 'latest')).toBeNull();
      });

      it('reads stored rules of the wrong shape as none', async (ctx) => {
        if (!opened.exec) return ctx.skip();
        // Valid JSON of the wrong shape, so the statement works on a JSON-typed column too.
        await opened.exec(
          `UPDATE namespaces SET immutable_tags = '{"v*": true}', retention = '{"keepLast": -3}' WHERE name = 'team'`,
        );
        expect(await meta.getNamespace('team')).toMatchObject({
          immutableTags: [],
          retention: null,
        });
        await meta.createNamespace({ name: 'alpha', public: false });
        await opened.exec(
          `UPDATE namespaces SET retention = '{"keepTag": "^v"}' WHERE name = 'alpha'`,
        );
        expect((await meta.listNamespaces()).map((n) => n.retention)).toEqual([null, null]);
      });
    });

    // ── repositories ────────────────────────────────────────────────────

    describe('repositories', () => {
      it('exist from their first blob link; list in byte order, paged with after', async () => {
        await meta.createNamespace({ name: 'other', public: false });
        // Byte order: 'B' (0x42) < 'a' < 'a-b' ('-' 0x2d) < 'a.b' (0x2e) < 'a/b' (0x2f) < 'b'.
        for (const repo of ['team/b', 'team/a/b', 'team/B', 'team/a.b', 'team/a', 'team/a-b'])
          await upload(repo, LAYER_A, 10);
        await upload('other/app', LAYER_A, 10);
        expect(await meta.repositoryExists('team/a-b')).toBe(true);
        expect(await meta.repositoryExists('team/nothing')).toBe(false);

        const first = await meta.listRepositories({ limit: 3 }, ['team']);
        expect(first).toEqual({ items: ['team/B', 'team/a', 'team/a-b'], more: true });
        const second = await meta.listRepositories({ limit: 3, after: 'team/a-b' }, ['team']);
        expect(second).toEqual({ items: ['team/a.b', 'team/a/b', 'team/b'], more: false });
        expect(await meta.listRepositories({ limit: 2, after: 'team/a/b' })).toEqual({
          items: ['team/b'],
          more: false,
        });
        expect((await meta.listRepositories({ limit: 100 })).items).toEqual([
          'other/app',
          'team/B',
          'team/a',
          'team/a-b',
          'team/a.b',
          'team/a/b',
          'team/b',
        ]);
        expect(await meta.listRepositories({ limit: 100 }, [])).toEqual({ items: [], more: false });
        expect(await meta.listRepositories({ limit: 100 }, ['other'])).toEqual({
          items: ['other/app'],
          more: false,
        });
      });

      it('go with their last manifest, blob link and upload session', async () => {
        await upload('team/app', LAYER_A, 10);
        await meta.createUpload({
          id: 'pending',
          repository: 'team/app',
          owner: '',
          algorithm: 'sha256',
          offset: 0,
          createdAt: PAST,
          updatedAt: PAST,
        });
        expect(await meta.putManifest(image(IMAGE_1, [LAYER_A]))).toEqual({ ok: true });
        expect(await meta.deleteManifest('team/app', IMAGE_1)).toBe('deleted');
        expect(await meta.unlinkBlob('team/app', LAYER_A)).toBe('deleted');
        expect(await meta.repositoryExists('team/app')).toBe(true);
        expect(await meta.deleteUpload('pending')).toBe(true);
        expect(await meta.repositoryExists('team/app')).toBe(false);
        expect((await meta.listRepositories({ limit: 10 })).items).toEqual([]);
      });

      it('deletes a repository with all it holds and names its upload sessions', async () => {
        await twoLayers();
        await meta.putManifest(image(IMAGE_1, [LAYER_A], { tags: ['latest'] }));
        await meta.createUpload({
          id: 'pending',
          repository: 'team/app',
          owner: 'alice',
          algorithm: 'sha256',
          offset: 0,
          createdAt: PAST,
          updatedAt: PAST,
        });
        await upload('team/web', LAYER_A, 10);
        expect(await meta.deleteRepository('team/app')).toEqual({ uploads: ['pending'] });
        expect(await meta.repositoryExists('team/app')).toBe(false);
        expect(await meta.getManifest('team/app', IMAGE_1)).toBeNull();
        expect(await meta.getTaggedManifest('team/app', 'latest')).toBeNull();
        expect(await meta.getLinkedBlob('team/app', LAYER_A)).toBeNull();
        expect(await meta.getUpload('pending')).toBeNull();
        // Another repository's link to the same blob stays.
        expect(await meta.getLinkedBlob('team/web', LAYER_A)).toMatchObject({ size: 10 });
        expect(await meta.deleteRepository('team/app')).toBeNull();
      });

      it('refuses to delete a repository holding an immutable tag, changing nothing', async () => {
        await twoLayers();
        await meta.putManifest(image(IMAGE_1, [LAYER_A], { tags: ['v1.0', 'latest'] }));
        await meta.setNamespacePolicy('team', { immutableTags: ['v*'] });
        expect(await meta.deleteRepository('team/app')).toEqual({
          immutable: { tag: 'v1.0', rule: 'v*', namespace: 'team' },
        });
        expect(await meta.getTaggedManifest('team/app', 'latest')).not.toBeNull();
      });
    });

    // ── blobs ───────────────────────────────────────────────────────────

    describe('blobs', () => {
      it('are linked by a completed upload and read per repository', async () => {
        const before = new Date().toISOString();
        await upload('team/app', LAYER_A, 10);
        await upload('team/web', LAYER_A, 10);
        const linked = await meta.getLinkedBlob('team/app', LAYER_A);
        expect(linked?.size).toBe(10);
        expect(linked && linked.usedAt >= before).toBe(true);
        expect(await meta.getLinkedBlob('team/other', LAYER_A)).toBeNull();
        expect(await meta.getLinkedBlob('team/app', LAYER_B)).toBeNull();
        expect(await meta.getBlob(LAYER_A)).toEqual({ size: 10 });
        expect(await meta.getBlob(LAYER_B)).toBeNull();
        expect(await meta.findBlobRepositories(LAYER_A, 10)).toEqual(['team/app', 'team/web']);
        expect(await meta.findBlobRepositories(LAYER_A, 1)).toEqual(['team/app']);
        expect(await meta.findBlobRepositories(LAYER_B, 10)).toEqual([]);
      });

      it('keeps sizes beyond 2^32 bytes exact', async () => {
        const size = 5 * 1024 ** 3 + 3;
        await upload('team/app', LAYER_A, size);
        expect(await meta.getBlob(LAYER_A)).toEqual({ size });
        expect((await meta.getLinkedBlob('team/app', LAYER_A))?.size).toBe(size);
      });

      it('a touch restarts the link’s grace; false for a link that is gone', async () => {
        await upload('team/app', LAYER_A, 10);
        const linkedAt = (await meta.getLinkedBlob('team/app', LAYER_A))?.usedAt ?? '';
        await clockPast(linkedAt);
        const between = new Date().toISOString();
        await clockPast(between);
        expect(await meta.listIdleLinks('team/app', between, 10)).toEqual([
          { digest: LAYER_A, size: 10 },
        ]);
        expect(await meta.touchBlobLink('team/app', LAYER_A)).toBe(true);
        const touchedAt = (await meta.getLinkedBlob('team/app', LAYER_A))?.usedAt ?? '';
        expect(touchedAt > between).toBe(true);
        expect(await meta.listIdleLinks('team/app', between, 10)).toEqual([]);
        expect(await meta.touchBlobLink('team/app', LAYER_B)).toBe(false);
        expect(await meta.touchBlobLink('team/web', LAYER_A)).toBe(false);
      });

      it('mounts a stored blob; blob-missing and namespace-missing write nothing', async () => {
        await upload('team/app', LAYER_A, 10);
        expect(await meta.mountBlob('team/web', 'team', { digest: LAYER_A, size: 10 })).toBe('ok');
        expect(await meta.getLinkedBlob('team/web', LAYER_A)).toMatchObject({ size: 10 });
        expect(await meta.mountBlob('team/web', 'team', { digest: LAYER_A, size: 10 })).toBe('ok');

        expect(await meta.mountBlob('team/new', 'team', { digest: LAYER_B, size: 20 })).toBe(
          'blob-missing',
        );
        expect(await meta.repositoryExists('team/new')).toBe(false);
        expect(await meta.getBlob(LAYER_B)).toBeNull();

        expect(await meta.mountBlob('ghost/app', 'ghost', { digest: LAYER_A, size: 10 })).toBe(
          'namespace-missing',
        );
        expect(await meta.repositoryExists('ghost/app')).toBe(false);
      });

      it('unlinks a blob unless a manifest of the repository lists it', async () => {
        await twoLayers();
        await upload('team/web', LAYER_A, 10);
        expect(await meta.putManifest(image(IMAGE_1, [LAYER_A]))).toEqual({ ok: true });
        expect(await meta.unlinkBlob('team/app', LAYER_A)).toEqual({ referencedBy: [IMAGE_1] });
        expect(await meta.getLinkedBlob('team/app', LAYER_A)).not.toBeNull();
        // A manifest of another repository does not hold this repository's link.
        expect(await meta.unlinkBlob('team/web', LAYER_A)).toBe('deleted');
        expect(await meta.getLinkedBlob('team/web', LAYER_A)).toBeNull();
        expect(await meta.repositoryExists('team/web')).toBe(false);
        expect(await meta.unlinkBlob('team/app', LAYER_B)).toBe('deleted');
        expect(await meta.unlinkBlob('team/app', LAYER_B)).toBe('unknown');
        // The blob row outlives its links (GC removes it with its file).
        expect(await meta.getBlob(LAYER_B)).toEqual({ size: 20 });
      });
    });

    // ── manifests and tags ──────────────────────────────────────────────

    describe('manifests', () => {
      it('stores a manifest with its tags and reads it by digest and by tag', async () => {
        await twoLayers();
        const write = image(IMAGE_1, [LAYER_A, LAYER_B], {
          artifactType: 'application/vnd.example.config+json',
          // fromEntries: a "__proto__" key is a key here, as in a pushed manifest's JSON.
          annotations: Object.fromEntries([
            ['org.opencontainers.image.title', 'app'],
            ['__proto__', 'kept'],
          ]),
          tags: ['latest', '1.0'],
          pushedBy: 'alice',
        });
        expect(await meta.putManifest(write)).toEqual({ ok: true });
        const stored = await meta.getManifest('team/app', IMAGE_1);
        expect(stored).toMatchObject({
          repository: 'team/app',
          digest: IMAGE_1,
          mediaType: OCI_MANIFEST,
          size: write.payload.byteLength,
          artifactType: 'application/vnd.example.config+json',
          subject: null,
          pushedBy: 'alice',
        });
        expect(stored?.annotations).toEqual(
          Object.fromEntries([
            ['org.opencontainers.image.title', 'app'],
            ['__proto__', 'kept'],
          ]),
        );
        expect(Buffer.compare(stored?.payload ?? Buffer.alloc(0), Buffer.from(write.payload))).toBe(
          0,
        );
        expect((await meta.getTaggedManifest('team/app', '1.0'))?.digest).toBe(IMAGE_1);
        expect(await meta.getTaggedManifest('team/app', 'nope')).toBeNull();
        expect(await meta.getManifest('team/app', IMAGE_2)).toBeNull();
        expect(await meta.getManifest('team/web', IMAGE_1)).toBeNull();
        expect(await meta.listTags('team/app', { limit: 10 })).toEqual({
          items: ['1.0', 'latest'],
          more: false,
        });
      });

      it('keeps a payload byte for byte (not re-encoded)', async () => {
        const payload = Buffer.from([0x7b, 0x00, 0xff, 0xfe, 0x0a, 0x20, 0xc3, 0x28, 0x7d]);
        expect(await meta.putManifest(image(IMAGE_1, [], { payload }))).toEqual({ ok: true });
        const stored = await meta.getManifest('team/app', IMAGE_1);
        expect(stored?.size).toBe(payload.length);
        expect(stored?.payload.equals(payload)).toBe(true);
      });

      it('refuses missing references and leaves nothing behind, not even the repository', async () => {
        await upload('team/app', LAYER_A, 10);
        expect(
          await meta.putManifest(image(IMAGE_1, [LAYER_A, LAYER_B], { tags: ['x'] })),
        ).toMatchObject({ ok: false, missing: [{ digest: LAYER_B, kind: 'blob' }] });
        expect(await meta.getManifest('team/app', IMAGE_1)).toBeNull();
        expect(await meta.getTaggedManifest('team/app', 'x')).toBeNull();
        // A blob linked into another repository does not count.
        await upload('team/web', LAYER_B, 20);
        const refused = await meta.putManifest(
          image(IMAGE_2, [LAYER_B], { repository: 'team/new' }),
        );
        expect(refused).toMatchObject({ ok: false, missing: [{ digest: LAYER_B, kind: 'blob' }] });
        expect(await meta.repositoryExists('team/new')).toBe(false);
        expect((await meta.listRepositories({ limit: 10 })).items).toEqual([
          'team/app',
          'team/web',
        ]);
      });

      it('records missing references without refusing them when not verified', async () => {
        expect(
          await meta.putManifest(image(IMAGE_1, [LAYER_A], { verifyReferences: false })),
        ).toEqual({ ok: true });
        expect(await meta.getManifest('team/app', IMAGE_1)).not.toBeNull();
        expect(await meta.listBrokenReferences(10)).toEqual([
          { repository: 'team/app', manifest: IMAGE_1, digest: LAYER_A, kind: 'blob' },
        ]);
      });

      it('refuses a write into a namespace that does not exist', async () => {
        expect(
          await meta.putManifest(
            image(IMAGE_1, [], { repository: 'ghost/app', namespace: 'ghost' }),
          ),
        ).toEqual({ ok: false, namespaceMissing: true });
        expect(await meta.repositoryExists('ghost/app')).toBe(false);
      });

      it('moves a tag to a new digest; the old manifest stays, untagged', async () => {
        await twoLayers();
        await meta.putManifest(image(IMAGE_1, [LAYER_A], { tags: ['latest', 'stable'] }));
        await meta.putManifest(image(IMAGE_2, [LAYER_B], { tags: ['latest'] }));
        expect((await meta.getTaggedManifest('team/app', 'latest'))?.digest).toBe(IMAGE_2);
        expect((await meta.getTaggedManifest('team/app', 'stable'))?.digest).toBe(IMAGE_1);
        expect(await meta.tagsOf('team/app', IMAGE_1)).toEqual(['stable']);
        await meta.putManifest(image(IMAGE_2, [LAYER_B], { tags: ['stable'] }));
        expect(await meta.tagsOf('team/app', IMAGE_1)).toEqual([]);
        expect(await meta.getManifest('team/app', IMAGE_1)).not.toBeNull();
        const graph = await meta.gcGraph('team/app');
        expect(graph.manifests.find((m) => m.digest === IMAGE_1)?.tagged).toBe(false);
        expect(graph.manifests.find((m) => m.digest === IMAGE_2)?.tagged).toBe(true);
      });

      it('an index needs its children unless the rule or the namespace says otherwise', async () => {
        await twoLayers();
        await meta.putManifest(image(IMAGE_1, [LAYER_A]));
        const children = [
          { digest: IMAGE_1, platform: 'linux/amd64' },
          { digest: IMAGE_2, platform: 'linux/arm64/v8' },
        ];
        expect(await meta.putManifest(index(INDEX, children))).toMatchObject({
          ok: false,
          missing: [{ digest: IMAGE_2, kind: 'manifest' }],
        });
        expect(
          await meta.putManifest(index(INDEX, children, { indexChildren: 'linux/arm64' })),
        ).toMatchObject({ ok: false, missing: [{ digest: IMAGE_2, kind: 'manifest' }] });
        expect(
          await meta.putManifest(index(INDEX, children, { indexChildren: 'linux/amd64' })),
        ).toEqual({ ok: true });
        // The namespace's rule overrides the write's default.
        await meta.setNamespacePolicy('team', { indexChildren: 'all' });
        const other = index(digest('e2'), children, { indexChildren: 'none' });
        expect(await meta.putManifest(other)).toMatchObject({ ok: false });
        await meta.setNamespacePolicy('team', { indexChildren: 'none' });
        expect(await meta.putManifest(other)).toEqual({ ok: true });
        // 'none' also lets an image's layers be missing (a sparse push), never its config.
        const sparse = image(digest('d9'), [], {
          references: [
            { digest: CONFIG, kind: 'blob' },
            { digest: digest('99'), kind: 'blob', layer: true },
          ],
        });
        expect(await meta.putManifest(sparse)).toMatchObject({
          ok: false,
          missing: [{ digest: CONFIG, kind: 'blob' }],
        });
        await upload('team/app', CONFIG, 5);
        expect(await meta.putManifest(sparse)).toEqual({ ok: true });
      });

      it('immutable tags: created once, re-pushed as they are, never moved or deleted', async () => {
        await twoLayers();
        await meta.setNamespacePolicy('team', { immutableTags: ['v*'] });
        expect(
          await meta.putManifest(image(IMAGE_1, [LAYER_A], { tags: ['v1', 'latest'] })),
        ).toEqual({ ok: true });
        const moved = await meta.putManifest(image(IMAGE_2, [LAYER_B], { tags: ['latest', 'v1'] }));
        expect(moved).toEqual({
          ok: false,
          immutable: { tag: 'v1', rule: 'v*', namespace: 'team' },
        });
        expect(await meta.getManifest('team/app', IMAGE_2)).toBeNull();
        expect((await meta.getTaggedManifest('team/app', 'latest'))?.digest).toBe(IMAGE_1);
        expect(await meta.putManifest(image(IMAGE_1, [LAYER_A], { tags: ['v1'] }))).toEqual({
          ok: true,
        });
        expect(await meta.putManifest(image(IMAGE_2, [LAYER_B], { tags: ['latest'] }))).toEqual({
          ok: true,
        });
        expect(await meta.deleteTag('team/app', 'v1')).toEqual({
          immutable: { tag: 'v1', rule: 'v*', namespace: 'team' },
        });
        expect(await meta.deleteManifest('team/app', IMAGE_1)).toEqual({
          immutable: { tag: 'v1', rule: 'v*', namespace: 'team' },
        });
        expect((await meta.getTaggedManifest('team/app', 'v1'))?.digest).toBe(IMAGE_1);
        expect(await meta.deleteTag('team/app', 'latest')).toBe('deleted');
      });

      it('refuses to delete a child an index lists; deletes it once the index is gone', async () => {
        await twoLayers();
        await meta.putManifest(image(IMAGE_1, [LAYER_A], { tags: ['amd64'] }));
        await meta.putManifest(index(INDEX, [{ digest: IMAGE_1, platform: 'linux/amd64' }]));
        expect(await meta.deleteManifest('team/app', IMAGE_1)).toEqual({ referencedBy: [INDEX] });
        expect((await meta.getTaggedManifest('team/app', 'amd64'))?.digest).toBe(IMAGE_1);
        expect(await meta.deleteManifest('team/app', INDEX)).toBe('deleted');
        expect(await meta.deleteManifest('team/app', IMAGE_1)).toBe('deleted');
        expect(await meta.getTaggedManifest('team/app', 'amd64')).toBeNull();
        expect(await meta.listTags('team/app', { limit: 10 })).toEqual({ items: [], more: false });
        expect(await meta.deleteManifest('team/app', IMAGE_1)).toBe('unknown');
        // Its references went with it: the layer can be unlinked now.
        expect(await meta.unlinkBlob('team/app', LAYER_A)).toBe('deleted');
      });

      it('an untagged-only delete is refused once a tag points at the manifest', async () => {
        await meta.putManifest(image(IMAGE_1, [], { tags: ['latest'] }));
        expect(await meta.deleteManifest('team/app', IMAGE_1, true)).toBe('changed');
        expect(await meta.deleteTag('team/app', 'latest')).toBe('deleted');
        expect(await meta.deleteManifest('team/app', IMAGE_1, true)).toBe('deleted');
      });

      it('deletes a tag, conditionally on its digest and push time', async () => {
        await meta.putManifest(image(IMAGE_1, [], { tags: ['latest', 'stable'] }));
        const pushedAt = await pushedAtOf('team/app', 'latest');
        expect(await meta.deleteTag('team/app', 'latest', { digest: IMAGE_2, pushedAt })).toBe(
          'changed',
        );
        expect(
          await meta.deleteTag('team/app', 'latest', { digest: IMAGE_1, pushedAt: PAST }),
        ).toBe('changed');
        expect(await meta.deleteTag('team/app', 'latest', { digest: IMAGE_1, pushedAt })).toBe(
          'deleted',
        );
        expect(await meta.deleteTag('team/app', 'latest')).toBe('unknown');
        expect(await meta.deleteTag('team/app', 'stable')).toBe('deleted');
        // The manifest stays, untagged.
        expect(await meta.getManifest('team/app', IMAGE_1)).not.toBeNull();
      });

      it('lists tags in byte order, paged with after', async () => {
        // 'B' (0x42) < 'a' < 'a-b' ('-' 0x2d) < 'a.b' (0x2e) < 'a_b' (0x5f) < 'b'.
        await meta.putManifest(image(IMAGE_1, [], { tags: ['b', 'a_b', 'B', 'a.b', 'a', 'a-b'] }));
        expect(await meta.listTags('team/app', { limit: 2 })).toEqual({
          items: ['B', 'a'],
          more: true,
        });
        expect(await meta.listTags('team/app', { limit: 2, after: 'a' })).toEqual({
          items: ['a-b', 'a.b'],
          more: true,
        });
        expect(await meta.listTags('team/app', { limit: 2, after: 'a.b' })).toEqual({
          items: ['a_b', 'b'],
          more: false,
        });
        expect(await meta.listTags('team/app', { limit: 10, after: 'b' })).toEqual({
          items: [],
          more: false,
        });
        expect(await meta.listTags('team/none', { limit: 10 })).toEqual({ items: [], more: false });
      });

      it('lists referrers of a subject, filtered by artifact type', async () => {
        await meta.putManifest(image(IMAGE_1, [], { tags: ['latest'] }));
        const referrer = (d: string, artifactType: string) =>
          image(d, [], { subject: IMAGE_1, artifactType, verifyReferences: false });
        await meta.putManifest(referrer(SIGNATURE, 'application/vnd.example.signature'));
        await meta.putManifest(referrer(digest('f2'), 'application/vnd.example.sbom'));
        await meta.putManifest(image(digest('f3'), [], { subject: IMAGE_2, artifactType: 'x/y' }));
        const all = await meta.listReferrers('team/app', IMAGE_1);
        expect(all.map((r) => r.digest).sort()).toEqual([SIGNATURE, digest('f2')]);
        expect(all.every((r) => r.subject === IMAGE_1)).toBe(true);
        expect(
          (await meta.listReferrers('team/app', IMAGE_1, 'application/vnd.example.sbom')).map(
            (r) => r.digest,
          ),
        ).toEqual([digest('f2')]);
        expect(await meta.listReferrers('team/web', IMAGE_1)).toEqual([]);
      });

      it('refuses a manifest that takes its namespace over the quota; a re-tag always passes', async () => {
        await upload('team/app', LAYER_A, 60);
        await upload('team/app', LAYER_B, 50);
        await meta.setNamespacePolicy('team', { quotaBytes: 100 });
        expect(await meta.putManifest(image(IMAGE_1, [LAYER_A], { tags: ['one'] }))).toEqual({
          ok: true,
        });
        expect(
          await meta.putManifest(image(IMAGE_2, [LAYER_A, LAYER_B], { tags: ['two'] })),
        ).toEqual({
          ok: false,
          quota: { namespace: 'team', usedBytes: 60, quotaBytes: 100, addingBytes: 50 },
        });
        expect(await meta.getManifest('team/app', IMAGE_2)).toBeNull();
        expect(await meta.getTaggedManifest('team/app', 'two')).toBeNull();
        // Adds nothing: passes even once the quota is lowered below what is used.
        await meta.setNamespacePolicy('team', { quotaBytes: 10 });
        expect(await meta.putManifest(image(IMAGE_1, [LAYER_A], { tags: ['again'] }))).toEqual({
          ok: true,
        });
        await meta.setNamespacePolicy('team', { quotaBytes: 110 });
        expect(await meta.putManifest(image(IMAGE_2, [LAYER_A, LAYER_B]))).toEqual({ ok: true });
      });

      it('reads stored annotations of the wrong shape as none', async (ctx) => {
        if (!opened.exec) return ctx.skip();
        await meta.putManifest(image(IMAGE_1, [], { annotations: { a: 'b' }, tags: ['latest'] }));
        await opened.exec(`UPDATE manifests SET annotations = '["a", "b"]'`);
        expect((await meta.getTaggedManifest('team/app', 'latest'))?.annotations).toBeNull();
        await opened.exec(`UPDATE manifests SET annotations = '{"a": 1, "b": "c"}'`);
        expect((await meta.getManifest('team/app', IMAGE_1))?.annotations).toEqual({ b: 'c' });
      });
    });

    // ── uploads ─────────────────────────────────────────────────────────

    describe('uploads', () => {
      const session = {
        id: 'u-1',
        repository: 'team/app',
        owner: 'alice',
        algorithm: 'sha256',
        offset: 0,
        createdAt: '2026-01-01T00:00:00.000Z',
        updatedAt: '2026-01-01T00:00:00.000Z',
        handle: 'uploads/u-1',
        hashState: null,
      };

      it('a session made without handle or hash state reads back with empty ones', async () => {
        const { id, repository, owner, algorithm, offset, createdAt, updatedAt } = session;
        await meta.createUpload({ id, repository, owner, algorithm, offset, createdAt, updatedAt });
        expect(await meta.getUpload('u-1')).toEqual({ ...session, handle: '', hashState: null });
      });

      it('stores a session; the offset moves only from where the caller saw it', async () => {
        await meta.createUpload(session);
        expect(await meta.getUpload('u-1')).toEqual(session);
        expect(await meta.getUpload('u-2')).toBeNull();
        expect(await meta.advanceUpload('u-1', 0, 1000, '2026-01-01T00:01:00.000Z')).toBe(true);
        expect(await meta.advanceUpload('u-1', 0, 2000, '2026-01-01T00:02:00.000Z')).toBe(false);
        expect(await meta.getUpload('u-1')).toEqual({
          ...session,
          offset: 1000,
          updatedAt: '2026-01-01T00:01:00.000Z',
        });
        const big = 6 * 1024 ** 3 + 1;
        // With the offset go the driver's new handle and the running hash's state (bytes).
        const hashState = new Uint8Array([0, 1, 2, 254, 255]);
        const state = { handle: '{"parts":[1]}', hashState };
        expect(await meta.advanceUpload('u-1', 1000, big, '2026-01-01T00:03:00.000Z', state)).toBe(
          true,
        );
        expect(await meta.getUpload('u-1')).toMatchObject({ offset: big, ...state });
        expect(await meta.advanceUpload('u-1', 1000, 5, '2026-01-01T00:04:00.000Z', state)).toBe(
          false,
        );
        expect(await meta.advanceUpload('u-2', 0, 10, '2026-01-01T00:03:00.000Z')).toBe(false);
        expect(await meta.deleteUpload('u-1')).toBe(true);
        expect(await meta.deleteUpload('u-1')).toBe(false);
        expect(await meta.getUpload('u-1')).toBeNull();
      });

      it('completes into a link and drops the session in one step', async () => {
        await meta.createUpload(session);
        expect(
          await meta.completeUpload(
            'u-1',
            'team',
            { repository: 'team/app', digest: LAYER_A, size: 10 },
            () => Promise.resolve(true),
          ),
        ).toBe('ok');
        expect(await meta.getUpload('u-1')).toBeNull();
        expect(await meta.getLinkedBlob('team/app', LAYER_A)).toMatchObject({ size: 10 });
        expect(await meta.repositoryHasUploads('team/app')).toBe(false);
      });

      it('writes nothing when the content cannot be put in place', async () => {
        await meta.createUpload(session);
        let asked = 0;
        const result = await meta.completeUpload(
          'u-1',
          'team',
          { repository: 'team/app', digest: LAYER_A, size: 10 },
          () => {
            asked += 1;
            return Promise.resolve(false);
          },
        );
        expect(result).toBe('content-missing');
        expect(asked).toBe(1);
        expect(await meta.getBlob(LAYER_A)).toBeNull();
        expect(await meta.getLinkedBlob('team/app', LAYER_A)).toBeNull();
        expect(await meta.repositoryExists('team/app')).toBe(false);
        expect(await meta.getUpload('u-1')).toEqual(session);
      });

      it('a completed upload into a deleted namespace is refused and links nothing', async () => {
        await meta.createNamespace({ name: 'gone', public: false });
        await meta.createUpload({ ...session, repository: 'gone/app' });
        await meta.deleteNamespace('gone', true);
        expect(
          await meta.completeUpload(
            'u-1',
            'gone',
            { repository: 'gone/app', digest: LAYER_A, size: 10 },
            () => Promise.resolve(true),
          ),
        ).toBe('namespace-missing');
        expect(await meta.getLinkedBlob('gone/app', LAYER_A)).toBeNull();
        expect(await meta.repositoryExists('gone/app')).toBe(false);
      });

      it('lists idle sessions by id, a page after the given id', async () => {
        for (const [id, updatedAt] of [
          ['u-c', '2026-01-01T00:00:00.000Z'],
          ['u-a', '2026-01-02T00:00:00.000Z'],
          ['u-b', '2026-01-03T00:00:00.000Z'],
          ['u-d', '2026-02-01T00:00:00.000Z'],
        ] as const)
          await meta.createUpload({ ...session, id, updatedAt });
        const cutoff = '2026-01-15T00:00:00.000Z';
        expect((await meta.listStaleUploads(cutoff, 2)).map((u) => u.id)).toEqual(['u-a', 'u-b']);
        expect((await meta.listStaleUploads(cutoff, 2, 'u-b')).map((u) => u.id)).toEqual(['u-c']);
        expect(await meta.listStaleUploads('2026-01-01T00:00:00.000Z', 10)).toEqual([]);
        expect(await meta.repositoryHasUploads('team/app')).toBe(true);
        expect(await meta.repositoryHasUploads('team/web')).toBe(false);
      });
    });

    // ── integrity (berth fsck) ──────────────────────────────────────────

    describe('integrity', () => {
      it('lists blob rows by digest, a page after the given digest', async () => {
        await upload('team/app', LAYER_B, 20);
        await upload('team/app', CONFIG, 5);
        await upload('team/web', LAYER_A, 10);
        expect(await meta.listBlobs(2)).toEqual([
          { digest: LAYER_A, size: 10 },
          { digest: LAYER_B, size: 20 },
        ]);
        expect(await meta.listBlobs(2, LAYER_B)).toEqual([{ digest: CONFIG, size: 5 }]);
        expect(await meta.listBlobs(2, CONFIG)).toEqual([]);
      });

      it('lists references whose blob or child is not in the repository, paged by key', async () => {
        await upload('team/app', LAYER_A, 10);
        await upload('team/web', LAYER_B, 20);
        const unverified = { verifyReferences: false };
        await meta.putManifest(image(IMAGE_1, [LAYER_A, LAYER_B], unverified));
        await meta.putManifest(
          index(INDEX, [{ digest: IMAGE_2, platform: 'linux/amd64' }], unverified),
        );
        await meta.putManifest(
          image(IMAGE_1, [LAYER_B], { ...unverified, repository: 'team/web' }),
        );
        const broken = [
          { repository: 'team/app', manifest: IMAGE_1, digest: LAYER_B, kind: 'blob' },
          { repository: 'team/app', manifest: INDEX, digest: IMAGE_2, kind: 'manifest' },
        ];
        expect(await meta.listBrokenReferences(10)).toEqual(broken);
        expect(await meta.listBrokenReferences(1)).toEqual(broken.slice(0, 1));
        expect(await meta.listBrokenReferences(1, broken[0])).toEqual(broken.slice(1));
        expect(await meta.listBrokenReferences(1, broken[1])).toEqual([]);
        expect(await meta.manifestsUsingBlob(LAYER_B, 10)).toEqual([
          `team/app@${IMAGE_1}`,
          `team/web@${IMAGE_1}`,
        ]);
        expect(await meta.manifestsUsingBlob(LAYER_B, 1)).toEqual([`team/app@${IMAGE_1}`]);
        expect(await meta.manifestsUsingBlob(IMAGE_2, 10)).toEqual([]);
      });

      it('forgets a blob whose file is gone: its row, its links, an emptied repository', async () => {
        await upload('team/app', LAYER_A, 10);
        await upload('team/app', LAYER_B, 20);
        await upload('team/web', LAYER_A, 10);
        expect(await meta.forgetBlob(LAYER_A)).toBe(true);
        expect(await meta.getBlob(LAYER_A)).toBeNull();
        expect(await meta.findBlobRepositories(LAYER_A, 10)).toEqual([]);
        expect(await meta.repositoryExists('team/web')).toBe(false);
        expect(await meta.getLinkedBlob('team/app', LAYER_B)).toMatchObject({ size: 20 });
        expect(await meta.forgetBlob(LAYER_A)).toBe(false);
      });
    });

    // ── browse (admin API, web UI) ──────────────────────────────────────

    describe('browse', () => {
      it('finds repositories of the given namespaces by a literal, case-blind substring', async () => {
        await meta.createNamespace({ name: 'other', public: false });
        for (const repo of ['team/Web_1', 'team/web1', 'team/api', 'team/100%'])
          await upload(repo, LAYER_A, 10);
        await upload('other/web_1', LAYER_A, 10);
        const names = async (query: string | undefined, limit = 10, offset = 0) => {
          const found = await meta.findRepositories({ namespaces: ['team'], query, limit, offset });
          return [found.total, found.items.map((r) => r.name)];
        };
        expect(await names(undefined)).toEqual([
          4,
          ['team/100%', 'team/Web_1', 'team/api', 'team/web1'],
        ]);
        // `_` and `%` are the characters themselves, not wildcards.
        expect(await names('WEB_')).toEqual([1, ['team/Web_1']]);
        expect(await names('0%')).toEqual([1, ['team/100%']]);
        expect(await names('web', 1, 1)).toEqual([2, ['team/web1']]);
        expect(
          await meta.findRepositories({ namespaces: [], query: 'web', limit: 10, offset: 0 }),
        ).toEqual({ items: [], total: 0 });
      });

      it('summarises a repository: tag and manifest counts, created and updated', async () => {
        await upload('team/app', LAYER_A, 10);
        const empty = await meta.getRepositorySummary('team/app');
        expect(empty).toMatchObject({ name: 'team/app', namespace: 'team', tags: 0, manifests: 0 });
        expect(empty?.updatedAt).toBe(empty?.createdAt);
        await clockPast(empty?.createdAt ?? '');
        await meta.putManifest(image(IMAGE_1, [LAYER_A], { tags: ['a', 'b'] }));
        await meta.putManifest(image(IMAGE_2, [], { tags: ['c'] }));
        const summary = await meta.getRepositorySummary('team/app');
        expect(summary).toMatchObject({ tags: 3, manifests: 2, createdAt: empty?.createdAt });
        expect((summary?.updatedAt ?? '') > (summary?.createdAt ?? '')).toBe(true);
        expect(await meta.getRepositorySummary('team/none')).toBeNull();
      });

      it('finds tags newest first, then by name, with their manifests', async () => {
        await meta.putManifest(image(IMAGE_1, [], { tags: ['b-old', 'a-old'], pushedBy: 'alice' }));
        await clockPast(await pushedAtOf('team/app', 'a-old'));
        await meta.putManifest(image(IMAGE_2, [], { tags: ['new'], pushedBy: 'bob' }));
        const all = await meta.findTags('team/app', { limit: 10, offset: 0 });
        expect(all.total).toBe(3);
        expect(all.items.map((t) => [t.tag, t.manifest.digest, t.pushedBy])).toEqual([
          ['new', IMAGE_2, 'bob'],
          ['a-old', IMAGE_1, 'alice'],
          ['b-old', IMAGE_1, 'alice'],
        ]);
        expect(all.items[0]?.manifest.payload.length).toBeGreaterThan(0);
        const old = await meta.findTags('team/app', { query: 'OLD', limit: 1, offset: 1 });
        expect([old.total, old.items.map((t) => t.tag)]).toEqual([2, ['b-old']]);
        expect(await meta.tagsOf('team/app', IMAGE_1)).toEqual(['a-old', 'b-old']);
        expect(await meta.tagsOf('team/app', INDEX)).toEqual([]);
      });

      it('counts usage per namespace; a blob shared by namespaces is stored once', async () => {
        await meta.createNamespace({ name: 'other', public: false });
        await meta.createNamespace({ name: 'empty', public: false });
        await twoLayers();
        await upload('team/web', LAYER_A, 10);
        await upload('other/app', LAYER_A, 10);
        await meta.putManifest(image(IMAGE_1, [LAYER_A], { tags: ['x', 'y'] }));
        expect(await meta.namespaceUsage(['team', 'empty'])).toEqual([
          { namespace: 'team', repositories: 2, tags: 2, manifests: 1, blobs: 2, bytes: 30 },
          { namespace: 'empty', repositories: 0, tags: 0, manifests: 0, blobs: 0, bytes: 0 },
        ]);
        expect(await meta.namespaceUsage([])).toEqual([]);
        expect(await meta.storageUsed(['team', 'other'])).toEqual({ blobs: 2, bytes: 30 });
        expect(await meta.storageUsed(['other'])).toEqual({ blobs: 1, bytes: 10 });
        expect(await meta.storageUsed([])).toEqual({ blobs: 0, bytes: 0 });
        expect(await meta.storageUsed('all')).toEqual({ blobs: 2, bytes: 30 });
      });

      it('lists the newest tags of the given namespaces', async () => {
        await meta.createNamespace({ name: 'other', public: false });
        await meta.putManifest(image(IMAGE_1, [], { tags: ['first'], pushedBy: 'alice' }));
        await clockPast(await pushedAtOf('team/app', 'first'));
        await meta.putManifest(
          image(IMAGE_2, [], { repository: 'other/app', namespace: 'other', tags: ['second'] }),
        );
        const recent = await meta.recentTags(['team', 'other'], 10);
        expect(recent.map((t) => [t.repository, t.tag, t.digest, t.pushedBy])).toEqual([
          ['other/app', 'second', IMAGE_2, null],
          ['team/app', 'first', IMAGE_1, 'alice'],
        ]);
        expect((await meta.recentTags(['team', 'other'], 1)).map((t) => t.tag)).toEqual(['second']);
        expect((await meta.recentTags(['team'], 10)).map((t) => t.tag)).toEqual(['first']);
        expect(await meta.recentTags([], 10)).toEqual([]);
      });
    });

    // ── quota usage ─────────────────────────────────────────────────────

    describe('quota usage', () => {
      it('counts referenced blobs once, and links only while they are recent', async () => {
        await meta.createNamespace({ name: 'other', public: false });
        await twoLayers();
        await upload('team/web', LAYER_A, 10);
        await upload('other/app', CONFIG, 5);
        await meta.putManifest(image(IMAGE_1, [LAYER_A]));
        await meta.putManifest(image(IMAGE_1, [LAYER_A], { repository: 'team/web' }));
        // Every link is recent: LAYER_A once (two repositories, two manifests) and LAYER_B.
        expect(await meta.namespaceUsedBytes('team', PAST)).toBe(30);
        // No link is recent: only what manifests reference.
        expect(await meta.namespaceUsedBytes('team', FUTURE)).toBe(10);
        expect(await meta.namespaceUsedBytes('empty', PAST)).toBe(0);
        expect(await meta.usedBytesByNamespace(PAST)).toEqual(
          new Map([
            ['other', 5],
            ['team', 30],
          ]),
        );
        expect(await meta.usedBytesByNamespace(FUTURE)).toEqual(new Map([['team', 10]]));
        expect(await meta.namespaceHoldsBlob('team', LAYER_A, FUTURE)).toBe(true);
        expect(await meta.namespaceHoldsBlob('team', LAYER_B, PAST)).toBe(true);
        expect(await meta.namespaceHoldsBlob('team', LAYER_B, FUTURE)).toBe(false);
        expect(await meta.namespaceHoldsBlob('team', CONFIG, PAST)).toBe(false);
        expect(await meta.namespaceHoldsBlob('other', CONFIG, PAST)).toBe(true);
      });
    });

    // ── retention ───────────────────────────────────────────────────────

    describe('retention', () => {
      it('sees tags with push time, subject and last pull, every manifest and index edge', async () => {
        await meta.putManifest(image(IMAGE_1, [], { tags: ['v1'] }));
        await meta.putManifest(image(IMAGE_2, []));
        await meta.putManifest(index(INDEX, [{ digest: IMAGE_2, platform: 'linux/amd64' }]));
        await meta.putManifest(image(SIGNATURE, [], { subject: IMAGE_1, tags: ['sha256-d1.sig'] }));
        const view = await meta.retentionView('team/app');
        expect(view.manifests.sort()).toEqual([IMAGE_1, IMAGE_2, INDEX, SIGNATURE]);
        expect(view.children).toEqual([{ index: INDEX, child: IMAGE_2 }]);
        expect(
          view.tags
            .map((t) => [t.tag, t.digest, t.subject, t.lastPulledAt])
            .sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
        ).toEqual([
          ['sha256-d1.sig', SIGNATURE, IMAGE_1, null],
          ['v1', IMAGE_1, null, null],
        ]);
        const v1 = view.tags.find((t) => t.tag === 'v1');
        expect(v1?.pushedAt).toBe(await pushedAtOf('team/app', 'v1'));
        expect(await meta.retentionView('team/none')).toEqual({
          tags: [],
          manifests: [],
          children: [],
        });
      });

      it('records pull times that never go back, skipping manifests that are gone', async () => {
        await meta.putManifest(image(IMAGE_1, [], { tags: ['latest'] }));
        const lastPull = async () =>
          (await meta.retentionView('team/app')).tags.find((t) => t.tag === 'latest')?.lastPulledAt;
        await meta.recordPulls([]);
        expect(await lastPull()).toBeNull();
        await meta.recordPulls([
          { repository: 'team/app', digest: IMAGE_1, at: '2026-03-01T00:00:00.000Z' },
          { repository: 'team/app', digest: IMAGE_2, at: '2026-03-01T00:00:00.000Z' },
          { repository: 'team/gone', digest: IMAGE_1, at: '2026-03-01T00:00:00.000Z' },
        ]);
        expect(await lastPull()).toBe('2026-03-01T00:00:00.000Z');
        // An older pull (a batch that arrived late) leaves the newer one.
        await meta.recordPulls([
          { repository: 'team/app', digest: IMAGE_1, at: '2026-02-01T00:00:00.000Z' },
        ]);
        expect(await lastPull()).toBe('2026-03-01T00:00:00.000Z');
        // The newest of a batch wins whatever its place in it.
        await meta.recordPulls([
          { repository: 'team/app', digest: IMAGE_1, at: '2026-04-01T00:00:00.000Z' },
          { repository: 'team/app', digest: IMAGE_1, at: '2026-03-15T00:00:00.000Z' },
        ]);
        expect(await lastPull()).toBe('2026-04-01T00:00:00.000Z');
        expect(await meta.getManifest('team/app', IMAGE_2)).toBeNull();
      });

      it('records a batch larger than one statement holds', async () => {
        for (const [i, tag] of ['t0', 't1', 't2'].entries())
          await meta.putManifest(image(digest(`d${String(i)}`), [], { tags: [tag] }));
        // 2,500 pulls, mostly of manifests that do not exist; the three that do are at the
        // start, the middle and the end of the batch.
        const real = new Map([
          [0, 'd0'],
          [1250, 'd1'],
          [2499, 'd2'],
        ]);
        const pulls = Array.from({ length: 2500 }, (_, i) => ({
          repository: 'team/app',
          digest: digest(real.get(i) ?? `9${String(i).padStart(4, '0')}`),
          at: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
        }));
        await meta.recordPulls(pulls);
        const seen = (await meta.retentionView('team/app')).tags
          .map((t) => [t.tag, t.lastPulledAt])
          .sort((a, b) => String(a[0]).localeCompare(String(b[0])));
        expect(seen).toEqual([
          ['t0', '2026-01-01T00:00:00.000Z'],
          ['t1', '2026-01-01T00:20:50.000Z'],
          ['t2', '2026-01-01T00:41:39.000Z'],
        ]);
      });
    });

    // ── garbage collection ──────────────────────────────────────────────

    describe('gc', () => {
      const run = (id: string, over: Partial<Parameters<MetaStore['startGcRun']>[0]> = {}) => ({
        id,
        trigger: 'cli',
        dryRun: false,
        at: '2026-01-01T00:10:00.000Z',
        aliveAfter: '2026-01-01T00:09:00.000Z',
        owner: 'host-a:100',
        ownerGone: () => false,
        ...over,
      });

      it('runs one real run at a time; a dry run always starts', async () => {
        expect(await meta.startGcRun(run('first'))).toEqual({ ok: true });
        const refused = await meta.startGcRun(run('second', { owner: 'host-b:200' }));
        expect(refused).toMatchObject({
          ok: false,
          running: { id: 'first', status: 'running', dryRun: false, trigger: 'cli' },
        });
        expect(
          await meta.startGcRun(run('dry', { dryRun: true, at: '2026-01-01T00:10:30.000Z' })),
        ).toEqual({ ok: true });
        await meta.finishGcRun('first', '2026-01-01T00:11:00.000Z', 'done', '{"blobs":3}');
        expect(await meta.startGcRun(run('third', { at: '2026-01-01T00:12:00.000Z' }))).toEqual({
          ok: true,
        });
        const runs = await meta.listGcRuns(10);
        expect(runs.map((r) => [r.id, r.status, r.dryRun])).toEqual([
          ['third', 'running', false],
          ['dry', 'running', true],
          ['first', 'done', false],
        ]);
        expect(runs[2]).toMatchObject({
          finishedAt: '2026-01-01T00:11:00.000Z',
          report: '{"blobs":3}',
        });
        expect((await meta.listGcRuns(1)).map((r) => r.id)).toEqual(['third']);
      });

      it('takes over a run whose heartbeat stopped or whose owner is gone', async () => {
        expect(await meta.startGcRun(run('stale', { at: '2026-01-01T00:00:00.000Z' }))).toEqual({
          ok: true,
        });
        // A heartbeat keeps it alive past aliveAfter.
        await meta.heartbeatGcRun('stale', '2026-01-01T00:09:30.000Z');
        expect(await meta.startGcRun(run('next'))).toMatchObject({ ok: false });
        expect(
          await meta.startGcRun(run('later', { aliveAfter: '2026-01-01T00:09:45.000Z' })),
        ).toEqual({ ok: true });
        expect((await meta.listGcRuns(10)).find((r) => r.id === 'stale')).toMatchObject({
          status: 'abandoned',
          finishedAt: '2026-01-01T00:10:00.000Z',
        });
        // A finished run's heartbeat changes nothing.
        await meta.heartbeatGcRun('stale', '2026-01-01T00:20:00.000Z');
        expect((await meta.listGcRuns(10)).find((r) => r.id === 'stale')?.status).toBe('abandoned');
        const asked: string[] = [];
        const takeover = await meta.startGcRun(
          run('takeover', {
            at: '2026-01-01T00:11:00.000Z',
            ownerGone: (owner) => {
              asked.push(owner);
              return owner === 'host-a:100';
            },
          }),
        );
        expect(takeover).toEqual({ ok: true });
        expect(asked).toContain('host-a:100');
        expect((await meta.listGcRuns(10)).find((r) => r.id === 'later')?.status).toBe('abandoned');
      });

      it('reads a repository’s graph: manifests, idle times, tags and index edges', async () => {
        await meta.putManifest(image(IMAGE_1, [], { tags: ['latest'] }));
        await meta.putManifest(image(IMAGE_2, []));
        await meta.putManifest(index(INDEX, [{ digest: IMAGE_2, platform: 'linux/amd64' }]));
        await meta.putManifest(image(SIGNATURE, [], { subject: IMAGE_1 }));
        const graph = await meta.gcGraph('team/app');
        expect(
          graph.manifests
            .map((m) => [m.digest, m.tagged, m.subject])
            .sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
        ).toEqual([
          [IMAGE_1, true, null],
          [IMAGE_2, false, null],
          [INDEX, false, null],
          [SIGNATURE, false, IMAGE_1],
        ]);
        expect(graph.children).toEqual([{ parent: INDEX, child: IMAGE_2 }]);
        expect(graph.manifests.every((m) => !Number.isNaN(Date.parse(m.idleSince)))).toBe(true);
        expect(await meta.gcGraph('team/none')).toEqual({ manifests: [], children: [] });
      });

      it('a manifest losing its last tag becomes idle from then; a re-push too', async () => {
        await meta.putManifest(image(IMAGE_1, [], { tags: ['latest'] }));
        const idle = async () =>
          (await meta.gcGraph('team/app')).manifests.find((m) => m.digest === IMAGE_1)?.idleSince ??
          '';
        const pushed = await idle();
        await clockPast(pushed);
        expect(await meta.deleteTag('team/app', 'latest')).toBe('deleted');
        const untagged = await idle();
        expect(untagged > pushed).toBe(true);
        await clockPast(untagged);
        await meta.putManifest(image(IMAGE_1, []));
        expect((await idle()) > untagged).toBe(true);
      });

      it('lists idle links, blob references and holders', async () => {
        await twoLayers();
        await upload('team/app', CONFIG, 5);
        await upload('team/web', LAYER_A, 10);
        await meta.putManifest(image(IMAGE_1, [LAYER_A]));
        await meta.putManifest(image(IMAGE_2, [LAYER_A, LAYER_B]));
        expect(await meta.listIdleLinks('team/app', FUTURE, 2)).toEqual([
          { digest: LAYER_A, size: 10 },
          { digest: LAYER_B, size: 20 },
        ]);
        expect(await meta.listIdleLinks('team/app', FUTURE, 2, LAYER_B)).toEqual([
          { digest: CONFIG, size: 5 },
        ]);
        expect(await meta.listIdleLinks('team/app', PAST, 10)).toEqual([]);
        const refs = await meta.blobReferences('team/app', [LAYER_A, LAYER_B, CONFIG]);
        expect(
          refs
            .map((r) => `${r.digest} ${r.manifest}`)
            .sort()
            .map((r) => r.split(' ')),
        ).toEqual([
          [LAYER_A, IMAGE_1],
          [LAYER_A, IMAGE_2],
          [LAYER_B, IMAGE_2],
        ]);
        expect(await meta.blobReferences('team/web', [LAYER_A])).toEqual([]);
        expect(await meta.blobReferences('team/app', [])).toEqual([]);
        const holders = await meta.blobHolders([LAYER_A, CONFIG, SIGNATURE]);
        const byDigest = new Map(
          holders.map((h) => [h.digest, [h.links.sort(), h.references.sort()]]),
        );
        expect(byDigest.get(LAYER_A)).toEqual([
          ['team/app', 'team/web'],
          [`team/app@${IMAGE_1}`, `team/app@${IMAGE_2}`],
        ]);
        expect(byDigest.get(CONFIG)).toEqual([['team/app'], []]);
        expect(byDigest.get(SIGNATURE)).toEqual([[], []]);
      });

      it('lists and collects blob rows no link or reference holds', async () => {
        await twoLayers();
        await upload('team/app', CONFIG, 5);
        expect(await meta.unlinkBlob('team/app', LAYER_A)).toBe('deleted');
        expect(await meta.unlinkBlob('team/app', LAYER_B)).toBe('deleted');
        expect(await meta.listUnheldBlobs(FUTURE, 1)).toEqual([{ digest: LAYER_A, size: 10 }]);
        expect(await meta.listUnheldBlobs(FUTURE, 10, LAYER_A)).toEqual([
          { digest: LAYER_B, size: 20 },
        ]);
        expect(await meta.listUnheldBlobs(PAST, 10)).toEqual([]);
        // A mount since the plan holds LAYER_B again; CONFIG was never unheld.
        expect(await meta.mountBlob('team/web', 'team', { digest: LAYER_B, size: 20 })).toBe('ok');
        const removed: string[] = [];
        const remove = (d: string) => {
          removed.push(d);
          return Promise.resolve();
        };
        expect(await meta.collectUnheldBlobs([LAYER_A], PAST, remove)).toEqual([]);
        expect(await meta.collectUnheldBlobs([LAYER_A, LAYER_B, CONFIG], FUTURE, remove)).toEqual([
          { digest: LAYER_A, size: 10 },
        ]);
        expect(removed).toEqual([LAYER_A]);
        expect(await meta.getBlob(LAYER_A)).toBeNull();
        expect(await meta.getBlob(LAYER_B)).toEqual({ size: 20 });
        expect(await meta.collectUnheldBlobs([LAYER_A], FUTURE, remove)).toEqual([]);
      });

      it('collects a manifest only while it is as planned', async () => {
        await meta.putManifest(image(IMAGE_1, [], { tags: ['latest'] }));
        await meta.putManifest(image(IMAGE_2, []));
        await meta.putManifest(index(INDEX, [{ digest: IMAGE_2, platform: 'linux/amd64' }]));
        await meta.putManifest(image(SIGNATURE, [], { subject: IMAGE_1 }));
        const idleOf = async (d: string) =>
          (await meta.gcGraph('team/app')).manifests.find((m) => m.digest === d)?.idleSince ?? '';
        // Tagged, listed by an index, a referrer of a tagged subject, a stale plan: kept.
        expect(await meta.collectManifest('team/app', IMAGE_1, await idleOf(IMAGE_1))).toBe('kept');
        expect(await meta.collectManifest('team/app', IMAGE_2, await idleOf(IMAGE_2))).toBe('kept');
        expect(await meta.collectManifest('team/app', SIGNATURE, await idleOf(SIGNATURE))).toBe(
          'kept',
        );
        expect(await meta.collectManifest('team/app', INDEX, PAST)).toBe('kept');
        expect(await meta.collectManifest('team/app', INDEX, await idleOf(INDEX))).toBe('deleted');
        expect(await meta.collectManifest('team/app', INDEX, await idleOf(INDEX))).toBe('gone');
        expect(await meta.collectManifest('team/app', IMAGE_2, await idleOf(IMAGE_2))).toBe(
          'deleted',
        );
        expect(await meta.deleteTag('team/app', 'latest')).toBe('deleted');
        expect(await meta.collectManifest('team/app', SIGNATURE, await idleOf(SIGNATURE))).toBe(
          'deleted',
        );
        expect(await meta.collectManifest('team/app', IMAGE_1, await idleOf(IMAGE_1))).toBe(
          'deleted',
        );
        expect(await meta.repositoryExists('team/app')).toBe(false);
      });

      it('collects links still unreferenced, idle, in repositories without uploads', async () => {
        await twoLayers();
        await upload('team/app', CONFIG, 5);
        await upload('team/web', LAYER_A, 10);
        await upload('team/busy', LAYER_A, 10);
        await meta.createUpload({
          id: 'busy-push',
          repository: 'team/busy',
          owner: '',
          algorithm: 'sha256',
          offset: 0,
          createdAt: PAST,
          updatedAt: PAST,
        });
        await meta.putManifest(image(IMAGE_1, [CONFIG]));
        const removed: string[] = [];
        const remove = (d: string) => {
          removed.push(d);
          return Promise.resolve();
        };
        // Used since the cutoff: kept.
        expect(
          await meta.collectLinks([{ repository: 'team/app', digest: LAYER_B }], PAST, remove),
        ).toEqual({ links: 0, blobs: [] });
        const result = await meta.collectLinks(
          [
            { repository: 'team/app', digest: LAYER_A },
            { repository: 'team/app', digest: LAYER_B },
            { repository: 'team/app', digest: CONFIG },
            { repository: 'team/busy', digest: LAYER_A },
            { repository: 'team/app', digest: SIGNATURE },
          ],
          FUTURE,
          remove,
        );
        // LAYER_A is still linked into team/web and team/busy: its row and file stay.
        expect(result).toEqual({ links: 2, blobs: [{ digest: LAYER_B, size: 20 }] });
        expect(removed).toEqual([LAYER_B]);
        expect(await meta.getLinkedBlob('team/app', LAYER_A)).toBeNull();
        expect(await meta.getLinkedBlob('team/app', CONFIG)).not.toBeNull();
        expect(await meta.getLinkedBlob('team/busy', LAYER_A)).not.toBeNull();
        expect(await meta.getBlob(LAYER_A)).toEqual({ size: 10 });
        expect(await meta.getBlob(LAYER_B)).toBeNull();
        // The last link of a repository takes the emptied repository with it.
        expect(
          await meta.collectLinks([{ repository: 'team/web', digest: LAYER_A }], FUTURE, remove),
        ).toEqual({ links: 1, blobs: [] });
        expect(await meta.repositoryExists('team/web')).toBe(false);
      });

      it('a failing file move undoes the whole collection', async () => {
        await upload('team/app', LAYER_A, 10);
        await expect(
          meta.collectLinks([{ repository: 'team/app', digest: LAYER_A }], FUTURE, () =>
            Promise.reject(new Error('disk gone')),
          ),
        ).rejects.toThrow('disk gone');
        expect(await meta.getLinkedBlob('team/app', LAYER_A)).toMatchObject({ size: 10 });
        expect(await meta.getBlob(LAYER_A)).toEqual({ size: 10 });
      });

      it('runs work knowing whether the blob has a row', async () => {
        await upload('team/app', LAYER_A, 10);
        expect(await meta.withBlobRow(LAYER_A, (has) => Promise.resolve(has))).toBe(true);
        expect(await meta.withBlobRow(LAYER_B, (has) => Promise.resolve(has))).toBe(false);
      });
    });

    // ── identity ────────────────────────────────────────────────────────

    describe('identity', () => {
      it('creates users with role bindings; refuses an unknown role writing nothing', async () => {
        expect(await meta.countUsers()).toBe(0);
        expect(
          await meta.createUser({
            name: 'alice',
            passwordHash: 'hash-a',
            roles: [
              { role: 'developer', namespace: 'team' },
              { role: 'viewer', namespace: '' },
            ],
          }),
        ).toBe('ok');
        expect(await meta.createUser({ name: 'alice', passwordHash: 'x', roles: [] })).toBe(
          'exists',
        );
        expect(
          await meta.createUser({
            name: 'bob',
            passwordHash: 'hash-b',
            roles: [{ role: 'no-such-role', namespace: '' }],
          }),
        ).toBe('unknown-role');
        expect(await meta.getUser('bob')).toBeNull();
        expect(await meta.countUsers()).toBe(1);
        expect(await meta.getUser('alice')).toMatchObject({
          name: 'alice',
          passwordHash: 'hash-a',
          disabled: false,
        });
        const [alice] = await meta.listUsers();
        expect(alice?.bindings.map((b) => [b.role, b.namespace]).sort()).toEqual([
          ['developer', 'team'],
          ['viewer', ''],
        ]);
      });

      it('changes a password, disables and deletes a user with its tokens and bindings', async () => {
        await meta.createUser({
          name: 'alice',
          passwordHash: 'old',
          roles: [{ role: 'viewer', namespace: '' }],
        });
        const before = await meta.getUser('alice');
        await clockPast(before?.updatedAt ?? '');
        expect(await meta.setPassword('alice', 'new')).toBe(true);
        const changed = await meta.getUser('alice');
        expect(changed?.passwordHash).toBe('new');
        expect((changed?.updatedAt ?? '') > (before?.updatedAt ?? '')).toBe(true);
        expect(await meta.setPassword('nobody', 'x')).toBe(false);
        expect(await meta.setUserDisabled('alice', true)).toBe(true);
        expect((await meta.getUser('alice'))?.disabled).toBe(true);
        expect(await meta.setUserDisabled('nobody', true)).toBe(false);
        await meta.createAccessToken({
          id: 'tok-1',
          user: 'alice',
          name: 'ci',
          secretHash: 'sh',
          privileges: [],
          expiresAt: null,
          createdAt: '2026-01-01T00:00:00.000Z',
          lastUsedAt: null,
          revokedAt: null,
        });
        expect(await meta.deleteUser('alice')).toBe(true);
        expect(await meta.deleteUser('alice')).toBe(false);
        expect(await meta.getAccessToken('tok-1')).toBeNull();
        expect(await meta.privilegesOf('alice')).toEqual([]);
        // The name is free again, with no binding left over.
        expect(await meta.createUser({ name: 'alice', passwordHash: 'h', roles: [] })).toBe('ok');
        expect((await meta.listUsers())[0]?.bindings).toEqual([]);
      });

      it('keeps built-in roles; custom roles are created, replaced and deleted', async () => {
        const builtins = (await meta.listRoles()).filter((r) => r.builtin).map((r) => r.name);
        expect(builtins.sort()).toEqual(['admin', 'developer', 'maintainer', 'viewer']);
        expect(await meta.getRole('viewer')).toEqual({
          name: 'viewer',
          description: expect.any(String) as string,
          builtin: true,
          privileges: [{ pattern: '*', actions: ['pull'] }],
        });
        expect(await meta.putRole({ name: 'viewer', description: 'mine', privileges: [] })).toBe(
          'builtin',
        );
        expect(await meta.deleteRole('admin')).toBe('builtin');
        expect(
          await meta.putRole({
            name: 'ci',
            description: 'pushes builds',
            privileges: [
              { pattern: 'team-*', actions: ['pull', 'push'] },
              { pattern: 'tools', actions: ['pull'] },
            ],
          }),
        ).toBe('ok');
        expect(
          await meta.putRole({
            name: 'ci',
            description: 'pushes and deletes builds',
            privileges: [{ pattern: 'team-*', actions: ['pull', 'push', 'delete'] }],
          }),
        ).toBe('ok');
        expect(await meta.getRole('ci')).toEqual({
          name: 'ci',
          description: 'pushes and deletes builds',
          builtin: false,
          privileges: [{ pattern: 'team-*', actions: ['pull', 'push', 'delete'] }],
        });
        const listed = (await meta.listRoles()).map((r) => r.name);
        expect(listed.indexOf('ci')).toBe(listed.length - 1);
        await meta.createUser({ name: 'alice', passwordHash: 'h', roles: [] });
        expect(await meta.bind({ user: 'alice', role: 'ci', namespace: '' })).toBe('ok');
        expect(await meta.deleteRole('ci')).toBe('ok');
        expect(await meta.deleteRole('ci')).toBe('unknown');
        expect(await meta.getRole('ci')).toBeNull();
        expect(await meta.privilegesOf('alice')).toEqual([]);
      });

      it('binds roles per namespace; privileges are narrowed to the binding', async () => {
        await meta.createUser({ name: 'alice', passwordHash: 'h', roles: [] });
        await meta.putRole({
          name: 'ci',
          description: '',
          privileges: [{ pattern: 'team-*', actions: ['pull', 'push'] }],
        });
        expect(await meta.bind({ user: 'alice', role: 'ci', namespace: 'team-a' })).toBe('ok');
        expect(await meta.bind({ user: 'alice', role: 'ci', namespace: 'team-a' })).toBe('ok');
        expect(await meta.bind({ user: 'alice', role: 'ci', namespace: 'other' })).toBe('ok');
        expect(await meta.bind({ user: 'alice', role: 'viewer', namespace: '' })).toBe('ok');
        expect(await meta.bind({ user: 'nobody', role: 'ci', namespace: '' })).toBe('unknown-user');
        expect(await meta.bind({ user: 'alice', role: 'nope', namespace: '' })).toBe(
          'unknown-role',
        );
        const privileges = await meta.privilegesOf('alice');
        // 'other' is outside the role's team-* pattern: that binding grants nothing.
        expect(privileges.map((p) => `${p.pattern} ${p.actions.join(',')}`).sort()).toEqual([
          '* pull',
          'team-a pull,push',
        ]);
        expect(await meta.unbind({ user: 'alice', role: 'ci', namespace: 'team-a' })).toBe(true);
        expect(await meta.unbind({ user: 'alice', role: 'ci', namespace: 'team-a' })).toBe(false);
        expect(await meta.privilegesOf('alice')).toEqual([{ pattern: '*', actions: ['pull'] }]);
      });

      it('stores access tokens, lists them per user, touches and revokes them once', async () => {
        await meta.createUser({ name: 'alice', passwordHash: 'h', roles: [] });
        await meta.createUser({ name: 'bob', passwordHash: 'h', roles: [] });
        const token = {
          id: 'tok-1',
          user: 'alice',
          name: 'ci',
          secretHash: 'secret-hash',
          privileges: [{ pattern: 'team', actions: ['pull' as const, 'push' as const] }],
          expiresAt: '2027-01-01T00:00:00.000Z',
          createdAt: '2026-01-01T00:00:00.000Z',
          lastUsedAt: null,
          revokedAt: null,
        };
        await meta.createAccessToken(token);
        await meta.createAccessToken({
          ...token,
          id: 'tok-2',
          user: 'bob',
          createdAt: '2026-01-02T00:00:00.000Z',
          expiresAt: null,
        });
        expect(await meta.getAccessToken('tok-1')).toEqual(token);
        expect(await meta.getAccessToken('tok-9')).toBeNull();
        expect((await meta.listAccessTokens()).map((t) => t.id)).toEqual(['tok-1', 'tok-2']);
        expect((await meta.listAccessTokens('bob')).map((t) => t.id)).toEqual(['tok-2']);
        await meta.touchAccessToken('tok-1', '2026-01-05T00:00:00.000Z');
        expect((await meta.getAccessToken('tok-1'))?.lastUsedAt).toBe('2026-01-05T00:00:00.000Z');
        expect(await meta.revokeAccessToken('tok-1', '2026-01-06T00:00:00.000Z')).toBe(true);
        expect(await meta.revokeAccessToken('tok-1', '2026-01-07T00:00:00.000Z')).toBe(false);
        expect((await meta.getAccessToken('tok-1'))?.revokedAt).toBe('2026-01-06T00:00:00.000Z');
        expect(await meta.revokeAccessToken('tok-9', '2026-01-07T00:00:00.000Z')).toBe(false);
      });

      it('reads stored token privileges of the wrong shape as none', async (ctx) => {
        if (!opened.exec) return ctx.skip();
        await meta.createUser({ name: 'alice', passwordHash: 'h', roles: [] });
        await meta.createAccessToken({
          ...{ id: 'tok-1', user: 'alice', name: 'ci', secretHash: 'h', expiresAt: null },
          ...{ privileges: [], createdAt: '2026-01-01T00:00:00.000Z' },
          ...{ lastUsedAt: null, revokedAt: null },
        });
        await opened.exec(`UPDATE access_tokens SET privileges = 'not json'`);
        expect(await meta.getAccessToken('tok-1')).toMatchObject({ id: 'tok-1', privileges: [] });
        await opened.exec(
          `UPDATE access_tokens SET privileges = '[{"pattern": "team", "actions": ["pull", 7, "fly"]}, {"pattern": 1}, null]'`,
        );
        expect((await meta.listAccessTokens('alice'))[0]?.privileges).toEqual([
          { pattern: 'team', actions: ['pull'] },
        ]);
      });

      it('stores refresh tokens and revokes every live one of a user', async () => {
        await meta.createUser({ name: 'alice', passwordHash: 'h', roles: [] });
        const token = {
          id: 'rt-1',
          user: 'alice',
          service: 'berth',
          clientId: 'docker',
          secretHash: 'sh',
          createdAt: '2026-01-01T00:00:00.000Z',
          revokedAt: null,
        };
        await meta.createRefreshToken(token);
        await meta.createRefreshToken({ ...token, id: 'rt-2' });
        await meta.createRefreshToken({
          ...token,
          id: 'rt-3',
          revokedAt: '2026-01-01T01:00:00.000Z',
        });
        expect(await meta.getRefreshToken('rt-1')).toEqual(token);
        expect(await meta.getRefreshToken('rt-9')).toBeNull();
        await meta.touchRefreshToken('rt-1', '2026-01-02T00:00:00.000Z');
        expect(await meta.revokeRefreshTokens('alice', '2026-01-03T00:00:00.000Z')).toBe(2);
        expect(await meta.revokeRefreshTokens('alice', '2026-01-04T00:00:00.000Z')).toBe(0);
        expect((await meta.getRefreshToken('rt-2'))?.revokedAt).toBe('2026-01-03T00:00:00.000Z');
        expect((await meta.getRefreshToken('rt-3'))?.revokedAt).toBe('2026-01-01T01:00:00.000Z');
      });

      it('keeps the first signing key stored', async () => {
        expect(await meta.getSigningKey()).toBeNull();
        const key = {
          kid: 'k1',
          algorithm: 'ES256',
          privateJwk: '{"kty":"EC"}',
          createdAt: '2026-01-01T00:00:00.000Z',
        };
        expect(await meta.putSigningKey(key)).toEqual(key);
        expect(await meta.putSigningKey({ ...key, kid: 'k2' })).toEqual(key);
        expect(await meta.getSigningKey()).toEqual(key);
      });

      it('appends audit events and pages them newest first, filtered', async () => {
        await meta.appendAudit([]);
        const event = (i: number, actor: string, action: string) => ({
          at: `2026-01-0${String(i)}T00:00:00.000Z`,
          actor,
          action,
          target: `team/app:${String(i)}`,
          outcome: 'success' as const,
          client: '127.0.0.1',
        });
        await meta.appendAudit([
          event(1, 'alice', 'user.create'),
          { ...event(2, 'bob', 'token.create'), detail: { name: 'ci', n: 2 } },
        ]);
        await meta.appendAudit([{ ...event(3, 'alice', 'token.create'), outcome: 'denied' }]);
        const first = await meta.listAudit({ limit: 2 });
        expect(first.more).toBe(true);
        expect(first.items.map((e) => [e.actor, e.action, e.outcome])).toEqual([
          ['alice', 'token.create', 'denied'],
          ['bob', 'token.create', 'success'],
        ]);
        expect(first.items[1]?.detail).toEqual({ name: 'ci', n: 2 });
        expect(first.items[0]).not.toHaveProperty('detail');
        const next = await meta.listAudit({ limit: 2, before: first.items[1]?.id ?? 0 });
        expect(next).toMatchObject({ more: false, items: [{ target: 'team/app:1' }] });
        expect((await meta.listAudit({ limit: 10, actor: 'alice' })).items).toHaveLength(2);
        expect((await meta.listAudit({ limit: 10, action: 'token.create' })).items).toHaveLength(2);
        expect(
          (await meta.listAudit({ limit: 10, since: '2026-01-02T00:00:00.000Z' })).items.map(
            (e) => e.actor,
          ),
        ).toEqual(['alice', 'bob']);
      });
    });

    describe('shared state: web UI sessions and the login throttle', () => {
      const session = (key: string, user: string, createdAt: number) => ({
        key,
        user,
        csrfToken: `csrf-${key}`,
        credential: `cred-${user}`,
        createdAt,
        lastSeen: createdAt,
      });

      it('stores a session by its key; last seen only moves forward', async () => {
        await meta.createUiSession(session('k1', 'alice', 1_000), 10);
        expect(await meta.getUiSession('k1')).toEqual(session('k1', 'alice', 1_000));
        expect(await meta.getUiSession('k2')).toBeNull();
        await meta.touchUiSession('k1', 5_000);
        await meta.touchUiSession('k1', 3_000);
        expect((await meta.getUiSession('k1'))?.lastSeen).toBe(5_000);
        // Times past 2^32 ms (any real clock) are kept exactly.
        await meta.touchUiSession('k1', 1_800_000_000_123);
        expect((await meta.getUiSession('k1'))?.lastSeen).toBe(1_800_000_000_123);
        expect(await meta.setUiSessionCredential('k1', 'new')).toBe(true);
        expect(await meta.setUiSessionCredential('nope', 'new')).toBe(false);
        expect((await meta.getUiSession('k1'))?.credential).toBe('new');
        expect(await meta.deleteUiSession('k1')).toBe(true);
        expect(await meta.deleteUiSession('k1')).toBe(false);
        expect(await meta.countUiSessions()).toBe(0);
      });

      it('drops the oldest sessions beyond the limit', async () => {
        for (let i = 1; i <= 5; i++)
          await meta.createUiSession(session(`k${String(i)}`, 'alice', i * 1000), 3);
        expect(await meta.countUiSessions()).toBe(3);
        expect(await meta.getUiSession('k2')).toBeNull();
        expect((await meta.getUiSession('k3'))?.user).toBe('alice');
        expect((await meta.getUiSession('k5'))?.user).toBe('alice');
      });

      it('ends a user’s sessions but the one kept, and sweeps ended ones in bounded batches', async () => {
        await meta.createUiSession(session('a1', 'alice', 1_000), 100);
        await meta.createUiSession(session('a2', 'alice', 1_000), 100);
        await meta.createUiSession(session('b1', 'bob', 1_000), 100);
        expect(await meta.deleteUserUiSessions('alice', 'a2')).toBe(1);
        expect(await meta.getUiSession('a1')).toBeNull();
        expect(await meta.getUiSession('a2')).not.toBeNull();
        expect(await meta.deleteUserUiSessions('alice')).toBe(1);
        expect(await meta.countUiSessions()).toBe(1);

        for (let i = 0; i < 5; i++)
          await meta.createUiSession(session(`i${String(i)}`, 'carol', 2_000), 100);
        await meta.createUiSession(session('old', 'dave', 500), 100);
        await meta.touchUiSession('old', 9_000);
        await meta.createUiSession(session('live', 'erin', 9_000), 100);
        // Idle: last seen before 5,000 (b1, i0–i4); too old: created before 600 ('old').
        expect(await meta.sweepUiSessions(5_000, 600, 4)).toBe(4);
        expect(await meta.sweepUiSessions(5_000, 600, 4)).toBe(3);
        expect(await meta.sweepUiSessions(5_000, 600, 4)).toBe(0);
        expect(await meta.getUiSession('live')).not.toBeNull();
        expect(await meta.countUiSessions()).toBe(1);
      });

      it('counts failures per kind and key; a block only moves later, within its window', async () => {
        expect(await meta.countLoginFailure('user', 'alice', 1_000)).toEqual({
          failures: 1,
          blockedUntil: 0,
          windowStart: 1_000,
        });
        expect(await meta.countLoginFailure('user', 'alice', 2_000)).toEqual({
          failures: 2,
          blockedUntil: 0,
          windowStart: 1_000,
        });
        // The same key as a client is another counter.
        expect((await meta.countLoginFailure('client', 'alice', 2_000)).failures).toBe(1);
        await meta.blockLogin('user', 'alice', 1_000, 10_000);
        await meta.blockLogin('user', 'alice', 1_000, 5_000);
        await meta.blockLogin('user', 'alice', 999, 20_000);
        expect(await meta.loginBlockedUntil([{ kind: 'user', key: 'alice' }])).toBe(10_000);
        expect(
          await meta.loginBlockedUntil([
            { kind: 'user', key: 'bob' },
            { kind: 'client', key: 'alice' },
          ]),
        ).toBe(0);
        expect(await meta.loginBlockedUntil([])).toBe(0);
        await meta.clearLoginFailures('user', 'alice');
        expect(await meta.loginBlockedUntil([{ kind: 'user', key: 'alice' }])).toBe(0);
        expect((await meta.countLoginFailure('user', 'alice', 3_000)).failures).toBe(1);
      });

      it('starts a window over once it is older than asked, and sweeps forgotten counters', async () => {
        await meta.countLoginFailure('client', '10.0.0.1', 1_000, 0);
        await meta.countLoginFailure('client', '10.0.0.1', 2_000, 0);
        await meta.blockLogin('client', '10.0.0.1', 1_000, 4_000);
        // Still in the window (started at 1,000, not before 500): counted on.
        expect(await meta.countLoginFailure('client', '10.0.0.1', 3_000, 500)).toEqual({
          failures: 3,
          blockedUntil: 4_000,
          windowStart: 1_000,
        });
        // The window started before 1,500: a new one, unblocked.
        expect(await meta.countLoginFailure('client', '10.0.0.1', 6_000, 1_500)).toEqual({
          failures: 1,
          blockedUntil: 0,
          windowStart: 6_000,
        });
        await meta.countLoginFailure('user', 'old', 100);
        await meta.countLoginFailure('user', 'blocked', 100);
        await meta.blockLogin('user', 'blocked', 100, 8_000);
        expect(await meta.sweepLoginFailures(5_000, 10)).toBe(1);
        expect(await meta.loginBlockedUntil([{ kind: 'user', key: 'blocked' }])).toBe(8_000);
        expect((await meta.countLoginFailure('user', 'old', 7_000)).failures).toBe(1);
        expect((await meta.countLoginFailure('client', '10.0.0.1', 7_000)).failures).toBe(2);
      });
    });

    // ── concurrency: what a multi-writer engine must survive ────────────

    describe('concurrent writers', () => {
      const N = 8;
      const many = <T>(make: (i: number) => Promise<T>): Promise<T[]> =>
        Promise.all(Array.from({ length: N }, (_, i) => make(i)));

      // N reads at once first, so an engine with a connection pool has N connections open: the
      // racing writes then overlap instead of queueing behind connection set-up one by one.
      beforeEach(async () => {
        await many(() => meta.getNamespace('team'));
      });

      it('N manifests creating the same new repository all land in one repository', async () => {
        const results = await many((i) =>
          meta.putManifest(
            image(digest(`d${String(i)}`), [], {
              repository: 'team/fresh',
              tags: [`t${String(i)}`],
            }),
          ),
        );
        expect(results).toEqual(Array.from({ length: N }, () => ({ ok: true })));
        expect((await meta.listRepositories({ limit: 10 })).items).toEqual(['team/fresh']);
        expect((await meta.listTags('team/fresh', { limit: 100 })).items).toHaveLength(N);
        expect((await meta.getRepositorySummary('team/fresh'))?.manifests).toBe(N);
      });

      it('N pushes of the same manifest and tag leave one manifest and one tag', async () => {
        await upload('team/app', LAYER_A, 10);
        const results = await many(() =>
          meta.putManifest(image(IMAGE_1, [LAYER_A], { repository: 'team/app', tags: ['latest'] })),
        );
        expect(results).toEqual(Array.from({ length: N }, () => ({ ok: true })));
        expect(await meta.tagsOf('team/app', IMAGE_1)).toEqual(['latest']);
        expect(await meta.blobReferences('team/app', [LAYER_A])).toEqual([
          { digest: LAYER_A, manifest: IMAGE_1 },
        ]);
      });

      it('N uploads and mounts of the same digest leave one blob and one link per repository', async () => {
        for (let i = 0; i < N; i++) {
          await meta.createUpload({
            id: `same-${String(i)}`,
            repository: i % 2 === 0 ? 'team/app' : 'team/web',
            owner: '',
            algorithm: 'sha256',
            offset: 0,
            createdAt: PAST,
            updatedAt: PAST,
          });
        }
        const results = await many((i) =>
          meta.completeUpload(
            `same-${String(i)}`,
            'team',
            { repository: i % 2 === 0 ? 'team/app' : 'team/web', digest: LAYER_A, size: 10 },
            () => Promise.resolve(true),
          ),
        );
        expect(results).toEqual(Array.from({ length: N }, () => 'ok'));
        const mounts = await many((i) =>
          meta.mountBlob(`team/m${String(i % 2)}`, 'team', { digest: LAYER_A, size: 10 }),
        );
        expect(mounts).toEqual(Array.from({ length: N }, () => 'ok'));
        expect(await meta.listBlobs(10)).toEqual([{ digest: LAYER_A, size: 10 }]);
        expect(await meta.findBlobRepositories(LAYER_A, 10)).toEqual([
          'team/app',
          'team/m0',
          'team/m1',
          'team/web',
        ]);
        expect((await meta.listRepositories({ limit: 10 })).items).toHaveLength(4);
        expect(await meta.listStaleUploads(FUTURE, 100)).toEqual([]);
      });

      it('N creations of one namespace or user: exactly one succeeds', async () => {
        const namespaces = await many(() => meta.createNamespace({ name: 'race', public: false }));
        expect(namespaces.filter((created) => created)).toHaveLength(1);
        const users = await many(() =>
          meta.createUser({
            name: 'racer',
            passwordHash: 'hash',
            roles: [{ role: 'developer', namespace: 'race' }],
          }),
        );
        expect(users.filter((r) => r === 'ok')).toHaveLength(1);
        expect(users.filter((r) => r === 'exists')).toHaveLength(N - 1);
        expect((await meta.listUsers()).find((u) => u.name === 'racer')?.bindings).toEqual([
          { user: 'racer', role: 'developer', namespace: 'race' },
        ]);
      });

      it('N chunks racing from the same offset: exactly one advances it', async () => {
        await meta.createUpload({
          id: 'contested',
          repository: 'team/app',
          owner: '',
          algorithm: 'sha256',
          offset: 100,
          createdAt: PAST,
          updatedAt: PAST,
        });
        const results = await many((i) =>
          meta.advanceUpload('contested', 100, 200 + i, '2026-01-01T00:00:00.000Z'),
        );
        expect(results.filter((won) => won)).toHaveLength(1);
        const winner = results.indexOf(true);
        expect((await meta.getUpload('contested'))?.offset).toBe(200 + winner);
      });

      it('N real GC runs starting at once: exactly one runs', async () => {
        const results = await many((i) =>
          meta.startGcRun({
            id: `run-${String(i)}`,
            trigger: 'cli',
            dryRun: false,
            at: '2026-01-01T00:00:00.000Z',
            aliveAfter: PAST,
            owner: `host:${String(1000 + i)}`,
            ownerGone: () => false,
          }),
        );
        expect(results.filter((r) => r.ok)).toHaveLength(1);
        const runs = await meta.listGcRuns(N + 1);
        expect(runs.filter((r) => r.status === 'running')).toHaveLength(1);
      });

      it('GC racing an upload and a mount of its blob: a row keeps its file, a link its row', async () => {
        // The blob store as GC and uploads see it: GC moves a file away, an upload puts its own
        // bytes in place when the file is missing (as the registry's ensureContent does).
        const files = new Set<string>();
        const removeFile = async (d: string) => {
          await new Promise((resolve) => setImmediate(resolve));
          files.delete(d);
        };
        // Many rounds: on an engine without the lock, only some interleavings lose the file.
        for (let round = 0; round < 25; round++) {
          const blob = digest(`a${String(round).padStart(2, '0')}`);
          await upload('team/old', blob, 10);
          files.add(blob);
          await meta.createUpload({
            id: `push-${String(round)}`,
            repository: 'team/push',
            owner: '',
            algorithm: 'sha256',
            offset: 0,
            createdAt: PAST,
            updatedAt: PAST,
          });
          const [collected, completed, mounted] = await Promise.all([
            meta.collectLinks([{ repository: 'team/old', digest: blob }], FUTURE, removeFile),
            meta.completeUpload(
              `push-${String(round)}`,
              'team',
              { repository: 'team/push', digest: blob, size: 10 },
              async () => {
                await new Promise((resolve) => setImmediate(resolve));
                files.add(blob);
                return true;
              },
            ),
            meta.mountBlob('team/mount', 'team', { digest: blob, size: 10 }),
          ]);
          expect(collected.links).toBe(1);
          expect(completed).toBe('ok');
          expect(['ok', 'blob-missing']).toContain(mounted);
          // The upload's link always lands; its blob row and file with it.
          expect(await meta.getLinkedBlob('team/push', blob)).toEqual(
            expect.objectContaining({ size: 10 }),
          );
          expect(files.has(blob)).toBe(true);
          expect((await meta.getLinkedBlob('team/mount', blob)) !== null).toBe(mounted === 'ok');
        }
      });

      it('N processes storing a signing key all get the same one', async () => {
        const keys = await many((i) =>
          meta.putSigningKey({
            kid: `kid-${String(i)}`,
            algorithm: 'ES256',
            privateJwk: `{"k":${String(i)}}`,
            createdAt: '2026-01-01T00:00:00.000Z',
          }),
        );
        expect(new Set(keys.map((k) => k.kid)).size).toBe(1);
        expect((await meta.getSigningKey())?.kid).toBe(keys[0]?.kid);
      });

      it('N racing login failures count exactly N, and an expired window starts over once', async () => {
        // One failure first: the racers then all update the row (and also all insert it below).
        await meta.countLoginFailure('user', 'victim', 1_000);
        const counts = await many(() => meta.countLoginFailure('user', 'victim', 1_000));
        expect(counts.map((c) => c.failures).sort((a, b) => a - b)).toEqual(
          Array.from({ length: N }, (_, i) => i + 2),
        );
        const fresh = await many(() => meta.countLoginFailure('user', 'fresh', 1_000));
        expect(fresh.map((c) => c.failures).sort((a, b) => a - b)).toEqual(
          Array.from({ length: N }, (_, i) => i + 1),
        );
        // Every failure finds the window over (it started at 1,000, before 5,000): one of them
        // starts the new window and the others count in it.
        await many(() => meta.countLoginFailure('client', '10.0.0.9', 1_000, 0));
        const restarted = await many(() =>
          meta.countLoginFailure('client', '10.0.0.9', 9_000, 5_000),
        );
        expect(restarted.map((c) => c.failures).sort((a, b) => a - b)).toEqual(
          Array.from({ length: N }, (_, i) => i + 1),
        );
        expect(new Set(restarted.map((c) => c.windowStart))).toEqual(new Set([9_000]));
      });

      it('N sessions created at once stay within the limit, the newest kept', async () => {
        await many((i) =>
          meta.createUiSession(
            {
              key: `s${String(i)}`,
              user: 'alice',
              csrfToken: 'c',
              credential: 'p',
              createdAt: 1_000 + i,
              lastSeen: 1_000 + i,
            },
            3,
          ),
        );
        expect(await meta.countUiSessions()).toBeLessThanOrEqual(3);
        expect(await meta.getUiSession(`s${String(N - 1)}`)).not.toBeNull();
      });
    });
  });
}
