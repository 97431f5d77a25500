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
      };

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
        expect(await meta.advanceUpload('u-1', 1000, big, '2026-01-01T00:03:00.000Z')).toBe(true);
        expect((await meta.getUpload('u-1'))?.offset).toBe(big);
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

    // ── concurrency: what a multi-writer engine must survive ────────────

    describe('concurrent writers', () => {
      const N = 8;
      const many = <T>(make: (i: number) => Promise<T>): Promise<T[]> =>
        Promise.all(Array.from({ length: N }, (_, i) => make(i)));

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
    });
  });
}
