/**
 * OCI conformance suite, section B: the checks of the older Ginkgo suite (v1.1.x) that are
 * stricter than the newest suite without contradicting it — the exact `Range: 0-21` after a
 * PATCH, the upload URL staying valid after a 416, `n` giving exactly n tags, referrer
 * descriptors carrying exactly the manifest's annotations, `.INVALID_MANIFEST_NAME` → 404,
 * `sha256:totallywrong` → 400/404 with a spec code, the tag list after a delete by digest, and
 * `{"errors":[{"code":…}]}` bodies. Namespace = repo1, cross-mount namespace = repo2. Where the
 * Ginkgo suite tolerates what the newest suite calls Skip (405 on DELETE, 202 on a monolithic
 * POST), the newest suite's stricter answer is required.
 *
 * Everything runs twice (SUITE_MODES): against a server with auth off, and with auth on, signed
 * in as the admin through the token realm as the Go suite does; both runs must pass alike.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestServer } from '../helpers/server.js';
import {
  MT,
  REPO1,
  REPO2,
  SPEC_ERROR_CODES,
  TestData,
  digestOf,
  expectErrorBody,
  expectHeader,
  expectHeaderPresent,
  expectStatus,
  show,
  withParam,
  type Descriptor,
  type Reply,
  SUITE_MODES,
  expectAuthWasUsed,
  startConformanceServer,
  type Client,
} from './conformance-helpers.js';

describe.each(SUITE_MODES)('$mode', ({ auth }) => {
  let server: TestServer;
  let client: Client;

  beforeAll(async () => {
    ({ server, client } = await startConformanceServer(auth));
  });

  afterAll(async () => {
    await server.close();
  });

  // ── the Ginkgo suite's data ─────────────────────────────────────────────────────────────────

  interface Blob {
    content: Buffer;
    digest: string;
  }

  function blob(content: Buffer): Blob {
    return { content, digest: digestOf(content) };
  }

  /** json.MarshalIndent(v, "", "\t") */
  function indented(value: unknown): Buffer {
    return Buffer.from(JSON.stringify(value, null, '\t'));
  }

  /** Descriptors as the Ginkgo suite marshals them: an unknown field that is null. */
  function desc(mediaType: string, b: Blob): Record<string, unknown> {
    return { mediaType, digest: b.digest, size: b.content.length, newUnspecifiedField: null };
  }

  const layer = (() => {
    const td = new TestData('ginkgo layer');
    const { digest } = td.genLayer(0);
    return blob(td.blob(digest));
  })();

  /** One config and one manifest per workflow, each config unique (random author). */
  const configs = Array.from({ length: 5 }, () =>
    blob(
      indented({
        author: randomBytes(8).toString('hex'),
        architecture: 'amd64',
        os: 'linux',
        rootfs: { type: 'layers', diff_ids: [] },
      }),
    ),
  );

  const manifests = configs.map((config) =>
    blob(
      indented({
        schemaVersion: 2,
        mediaType: MT.ociImage,
        config: {
          mediaType: MT.ociConfig,
          digest: config.digest,
          size: config.content.length,
          // The config's own bytes, and an unknown field whose bytes must be kept.
          data: config.content.toString('base64'),
          newUnspecifiedField: Buffer.from('hello world').toString('base64'),
        },
        layers: [desc(MT.ociLayerGz, layer)],
      }),
    ),
  );

  function pick<T>(list: readonly T[], i: number): T {
    const item = list[i];
    if (item === undefined) throw new Error(`no item ${i}`);
    return item;
  }

  const NONEXISTENT_MANIFEST = '.INVALID_MANIFEST_NAME';
  const DUMMY_DIGEST = digestOf('hello world');
  const testBlobA = blob(randomBytes(42));
  /** 42 bytes in two chunks: 0-21 and 22-41. */
  const testBlobB = blob(randomBytes(42));
  const chunk1 = testBlobB.content.subarray(0, 22);
  const chunk2 = testBlobB.content.subarray(22);

  async function pushBlob(repo: string, b: Blob): Promise<void> {
    await client.blobPostPut(repo, b.digest, b.content);
  }

  /** PUT of a manifest with its Content-Length, as reggie sends it: 201 and a Location. */
  async function putManifest(
    ref: string,
    body: Buffer,
    mediaType: string = MT.ociImage,
  ): Promise<Reply> {
    const r = await client.send('PUT', client.url(`/v2/${REPO1}/manifests/${ref}`), {
      headers: [['content-type', mediaType]],
      body,
    });
    expectStatus(r, 201);
    expectHeaderPresent(r, 'location');
    return r;
  }

  async function tagList(
    query: [string, string][] = [],
  ): Promise<{ reply: Reply; tags: string[] }> {
    let u = client.url(`/v2/${REPO1}/tags/list`);
    for (const [key, value] of query) u = withParam(u, key, value, 'add');
    const reply = await client.send('GET', u);
    expectStatus(reply, 200);
    const parsed = JSON.parse(reply.body.toString()) as { tags?: string[] | null };
    return { reply, tags: parsed.tags ?? [] };
  }

  /** DELETE of a manifest (tag or digest) → 202, or 404 when it is already gone. */
  async function deleteManifest(ref: string): Promise<void> {
    const r = await client.manifestRequest('DELETE', REPO1, ref, false);
    expectStatus(r, 202, 404);
  }

  async function deleteBlob(repo: string, dig: string): Promise<void> {
    const r = await client.blobRequest('DELETE', repo, dig);
    expectStatus(r, 202, 404);
  }

  // ── 01 pull ─────────────────────────────────────────────────────────────────────────────────

  describe('Ginkgo pull', () => {
    const m0 = pick(manifests, 0);
    const m1 = pick(manifests, 1);

    it('setup: configs, layer, tagtest0 and a manifest by digest are pushed', async () => {
      await pushBlob(REPO1, pick(configs, 0));
      await pushBlob(REPO1, pick(configs, 1));
      await pushBlob(REPO1, layer);
      await putManifest('tagtest0', m0.content);
      await putManifest(m1.digest, m1.content);
    });

    it('HEAD and GET of a blob that does not exist are 404, with an error body on GET', async () => {
      const head = await client.blobRequest('HEAD', REPO1, DUMMY_DIGEST);
      expectStatus(head, 404);
      const get = await client.blobRequest('GET', REPO1, DUMMY_DIGEST);
      expectStatus(get, 404);
      expectErrorBody(get, SPEC_ERROR_CODES);
    });

    it('HEAD and GET of a pushed blob are 200 with its digest', async () => {
      const config = pick(configs, 0);
      const head = await client.blobRequest('HEAD', REPO1, config.digest);
      expectStatus(head, 200);
      client.verifyDigest(head, config.digest, false);
      const get = await client.blobRequest('GET', REPO1, config.digest);
      expectStatus(get, 200);
      expect(get.body.equals(config.content), show(get)).toBe(true);
    });

    it('HEAD and GET of the invalid tag .INVALID_MANIFEST_NAME are 404, not 400', async () => {
      const head = await client.manifestRequest('HEAD', REPO1, NONEXISTENT_MANIFEST, false);
      expectStatus(head, 404);
      const get = await client.manifestRequest('GET', REPO1, NONEXISTENT_MANIFEST, false);
      expectStatus(get, 404);
      expectErrorBody(get, SPEC_ERROR_CODES);
    });

    it('HEAD and GET of the manifests by digest and by tag are 200 with their digest', async () => {
      const accept: [string, string][] = [['accept', MT.ociImage]];
      for (const [ref, m] of [
        [m0.digest, m0],
        [m1.digest, m1],
        ['tagtest0', m0],
      ] as const) {
        for (const method of ['HEAD', 'GET']) {
          const r = await client.send(method, client.url(`/v2/${REPO1}/manifests/${ref}`), {
            headers: accept,
          });
          expectStatus(r, 200);
          client.verifyDigest(r, m.digest, false);
          if (method === 'GET') expect(r.body.equals(m.content), show(r)).toBe(true);
        }
      }
    });

    it('GET /manifests/sha256:totallywrong is 400 or 404 with a spec error code', async () => {
      const r = await client.manifestRequest('GET', REPO1, 'sha256:totallywrong', false);
      expectStatus(r, 400, 404);
      expectErrorBody(r, SPEC_ERROR_CODES);
    });

    it('teardown: manifests and blobs are deleted', async () => {
      await deleteManifest('tagtest0');
      await deleteManifest(m0.digest);
      await deleteManifest(m1.digest);
      for (const b of [pick(configs, 0), pick(configs, 1), layer])
        await deleteBlob(REPO1, b.digest);
    });
  });

  // ── 02 push ─────────────────────────────────────────────────────────────────────────────────

  describe('Ginkgo push', () => {
    const octet: [string, string][] = [['content-type', MT.octetStream]];

    it('streamed: PATCH without Content-Range is 202, PUT ?digest= is 201 with a Location', async () => {
      const post = await client.send('POST', client.uploadsUrl(REPO1));
      expectStatus(post, 202);
      const patch = await client.send(
        'PATCH',
        new URL(expectHeaderPresent(post, 'location'), post.url),
        {
          headers: octet,
          body: testBlobA.content,
        },
      );
      expectStatus(patch, 202);
      const loc = expectHeaderPresent(patch, 'location');
      const put = await client.send(
        'PUT',
        withParam(new URL(loc, patch.url), 'digest', testBlobA.digest),
      );
      expectStatus(put, 201);
      expect(expectHeaderPresent(put, 'location')).not.toBe('');
    });

    it('monolithic: POST ?digest= with the body, and POST + PUT, store the config and the layer', async () => {
      const missing = await client.blobRequest('GET', REPO1, DUMMY_DIGEST);
      expectStatus(missing, 404);
      for (const b of [pick(configs, 1), layer]) {
        const post = await client.send(
          'POST',
          withParam(client.uploadsUrl(REPO1), 'digest', b.digest),
          {
            headers: octet,
            body: b.content,
          },
        );
        // The Ginkgo suite also takes 202 (then the blob must not exist); the newest wants 201.
        expectStatus(post, 201);
        expectHeaderPresent(post, 'location');
        expectStatus(await client.blobRequest('GET', REPO1, b.digest), 200);
        await client.blobPostPut(REPO1, b.digest, b.content);
        expectStatus(await client.blobRequest('GET', REPO1, b.digest), 200);
      }
    });

    describe('chunked', () => {
      let original: URL;

      it('a PATCH of 22-41 on a new session is 416', async () => {
        const post = await client.send('POST', client.uploadsUrl(REPO1));
        expectStatus(post, 202);
        const r = await client.send(
          'PATCH',
          new URL(expectHeaderPresent(post, 'location'), post.url),
          {
            headers: [...octet, ['content-range', '22-41']],
            body: chunk2,
          },
        );
        expectStatus(r, 416);
        expectErrorBody(r);
      });

      it('a PATCH of the first chunk is 202 with Range exactly 0-21', async () => {
        const post = await client.send('POST', client.uploadsUrl(REPO1));
        expectStatus(post, 202);
        original = new URL(expectHeaderPresent(post, 'location'), post.url);
        const r = await client.send('PATCH', original, {
          headers: [...octet, ['content-range', '0-21']],
          body: chunk1,
        });
        expectStatus(r, 202);
        expectHeader(r, 'range', '0-21');
      });

      it('re-sending the first chunk on the original URL is 416: the URL is still valid, not 404', async () => {
        const r = await client.send('PATCH', original, {
          headers: [...octet, ['content-range', '0-21']],
          body: chunk1,
        });
        expectStatus(r, 416);
        expectErrorBody(r);
      });

      let next: URL;
      it('GET of the original URL after the 416 is 204 with a Location and Range 0-21', async () => {
        const r = await client.send('GET', original);
        expectStatus(r, 204);
        expectHeader(r, 'range', '0-21');
        next = new URL(expectHeaderPresent(r, 'location'), original);
      });

      it('the second chunk on that Location is 202, and PUT ?digest= with no body is 201', async () => {
        const patch = await client.send('PATCH', next, {
          headers: [...octet, ['content-range', '22-41']],
          body: chunk2,
        });
        expectStatus(patch, 202);
        const loc = expectHeaderPresent(patch, 'location');
        const put = await client.send(
          'PUT',
          withParam(new URL(loc, next), 'digest', testBlobB.digest),
          {
            headers: octet,
          },
        );
        expectStatus(put, 201);
        expectHeaderPresent(put, 'location');
        const get = await client.blobRequest('GET', REPO1, testBlobB.digest);
        expectStatus(get, 200);
        expect(get.body.equals(testBlobB.content), show(get)).toBe(true);
      });
    });

    it('cross-mount: a missing blob gives 202 and a session; a mount from repo1 is 201 at /v2/<repo2>/blobs/<digest>', async () => {
      const missing = await client.send(
        'POST',
        withParam(client.uploadsUrl(REPO2), 'mount', DUMMY_DIGEST),
      );
      expectStatus(missing, 202);
      const session = new URL(expectHeaderPresent(missing, 'location'), missing.url);
      expect(session.pathname.startsWith(`/v2/${REPO2}/blobs/uploads/`), show(missing)).toBe(true);
      let u = withParam(client.uploadsUrl(REPO2), 'mount', testBlobA.digest);
      u = withParam(u, 'from', REPO1);
      const mount = await client.send('POST', u);
      expectStatus(mount, 201);
      const loc = new URL(expectHeaderPresent(mount, 'location'), u);
      expect(loc.pathname, show(mount)).toBe(`/v2/${REPO2}/blobs/${testBlobA.digest}`);
      const get = await client.send('GET', loc);
      expectStatus(get, 200);
      expect(get.body.equals(testBlobA.content), show(get)).toBe(true);
    });

    it('manifests: GET of .INVALID_MANIFEST_NAME is 404, tags test0-test3 are 201, GET by digest is 200', async () => {
      const invalid = await client.manifestRequest('GET', REPO1, NONEXISTENT_MANIFEST, false);
      expectStatus(invalid, 404);
      expectErrorBody(invalid, SPEC_ERROR_CODES);
      const m1 = pick(manifests, 1);
      for (let i = 0; i < 4; i++) await putManifest(`test${i}`, m1.content);
      const get = await client.send('GET', client.url(`/v2/${REPO1}/manifests/${m1.digest}`), {
        headers: [['accept', MT.ociImage]],
      });
      expectStatus(get, 200);
    });

    it('teardown: tags, manifest and blobs are deleted', async () => {
      for (let i = 0; i < 4; i++) await deleteManifest(`test${i}`);
      await deleteManifest(pick(manifests, 1).digest);
      for (const b of [pick(configs, 1), layer, testBlobA, testBlobB])
        await deleteBlob(REPO1, b.digest);
      await deleteBlob(REPO2, testBlobA.digest);
    });
  });

  // ── 03 content discovery ────────────────────────────────────────────────────────────────────

  describe('Ginkgo content discovery', () => {
    const KEY = 'org.opencontainers.conformance.test';
    const typeA = 'application/vnd.nhl.peanut.butter.bagel';
    const typeB = 'application/vnd.nba.strawberry.jam.croissant';
    const typeIndex = 'application/vnd.food.stand';
    const emptyJSON = blob(Buffer.from('{}'));
    const refBlobA = blob(
      Buffer.from(`NHL Peanut Butter on my NHL bagel ${randomBytes(4).toString('hex')}`),
    );
    const refBlobB = blob(
      Buffer.from(`NBA Strawberry Jam on my NBA croissant ${randomBytes(4).toString('hex')}`),
    );
    const m2 = pick(manifests, 2);
    const m3 = pick(manifests, 3);
    const m4 = pick(manifests, 4);
    const subjectOf = (m: Blob): Record<string, unknown> => desc(MT.ociImage, m);

    const artifact = (
      config: Record<string, unknown>,
      layers: Record<string, unknown>[],
      subject: Blob,
      annotation: string | undefined,
      artifactType?: string,
    ): Blob =>
      blob(
        indented({
          schemaVersion: 2,
          mediaType: MT.ociImage,
          ...(artifactType ? { artifactType } : {}),
          config,
          layers,
          subject: subjectOf(subject),
          ...(annotation ? { annotations: { [KEY]: annotation } } : {}),
        }),
      );

    // artifactType from config.mediaType, and from artifactType with an empty config.
    const aConfig = artifact(
      desc(typeA, refBlobA),
      [desc(MT.ociEmptyJSON, emptyJSON)],
      m4,
      'test config a',
    );
    const bConfig = artifact(
      desc(typeB, refBlobB),
      [desc(MT.ociEmptyJSON, emptyJSON)],
      m4,
      'test config b',
    );
    const aLayer = artifact(
      desc(MT.ociEmptyJSON, emptyJSON),
      [desc(typeA, refBlobA)],
      m4,
      'test layer a',
      typeA,
    );
    const bLayer = artifact(
      desc(MT.ociEmptyJSON, emptyJSON),
      [desc(typeB, refBlobB)],
      m4,
      'test layer b',
      typeB,
    );
    // Same as bLayer, for a subject that is never pushed here.
    const cLayer = artifact(
      desc(MT.ociEmptyJSON, emptyJSON),
      [desc(typeB, refBlobB)],
      m3,
      undefined,
      typeB,
    );
    const refIndex = blob(
      indented({
        schemaVersion: 2,
        mediaType: MT.ociIndex,
        artifactType: typeIndex,
        manifests: [desc(MT.ociImage, aConfig), desc(MT.ociImage, aLayer)],
        subject: subjectOf(m4),
        annotations: { [KEY]: 'test index' },
      }),
    );
    const annotationOf = new Map<string, string>([
      [aConfig.digest, 'test config a'],
      [aLayer.digest, 'test layer a'],
      [bConfig.digest, 'test config b'],
      [bLayer.digest, 'test layer b'],
      [refIndex.digest, 'test index'],
    ]);

    /** A referrer PUT must answer OCI-Subject, even before the subject exists. */
    async function putReferrer(
      m: Blob,
      subject: Blob,
      mediaType: string = MT.ociImage,
    ): Promise<void> {
      const r = await putManifest(m.digest, m.content, mediaType);
      expectHeader(r, 'oci-subject', subject.digest);
    }

    it('setup: tags test0-test3, referrers pushed before their subject (OCI-Subject), tagtest0, a referrer of a missing subject', async () => {
      await pushBlob(REPO1, pick(configs, 2));
      await pushBlob(REPO1, layer);
      for (let i = 0; i < 4; i++) await putManifest(`test${i}`, m2.content);
      await pushBlob(REPO1, emptyJSON);
      await pushBlob(REPO1, refBlobA);
      await putReferrer(aConfig, m4);
      await putReferrer(aLayer, m4);
      await putReferrer(refIndex, m4, MT.ociIndex);
      await pushBlob(REPO1, pick(configs, 4));
      await putManifest('tagtest0', m4.content);
      await pushBlob(REPO1, refBlobB);
      await putReferrer(bConfig, m4);
      await putReferrer(bLayer, m4);
      await putReferrer(cLayer, m3);
    });

    it('tags: n gives exactly n tags, and n with last is 200', async () => {
      const { tags: all } = await tagList();
      expect(all.length).toBeGreaterThanOrEqual(5);
      const n = Math.floor(all.length / 2);
      const { tags: page } = await tagList([['n', String(n)]]);
      expect(page).toHaveLength(n);
      await tagList([
        ['n', String(n)],
        ['last', page.at(-1) ?? ''],
      ]);
    });

    it('referrers of a digest nobody refers to: 200, index Content-Type, no manifests', async () => {
      const { manifests: found } = await client.referrers(REPO1, DUMMY_DIGEST);
      expect(found).toEqual([]);
    });

    it('referrers of the subject: exactly 5, each with exactly its one annotation', async () => {
      const { manifests: found } = await client.referrers(REPO1, m4.digest);
      expect(found.map((d) => d.digest).sort()).toEqual([...annotationOf.keys()].sort());
      for (const d of found) {
        expect(d.annotations, `annotations of ${d.digest}`).toEqual({
          [KEY]: annotationOf.get(d.digest),
        });
      }
      const byDigest = new Map(found.map((d): [string, Descriptor] => [d.digest, d]));
      expect(byDigest.get(aConfig.digest)?.artifactType, 'type from config.mediaType').toBe(typeA);
      expect(byDigest.get(refIndex.digest)?.artifactType, 'index artifactType').toBe(typeIndex);
      expect(byDigest.get(refIndex.digest)?.mediaType, 'index mediaType').toBe(MT.ociIndex);
    });

    it('referrers filtered by artifactType: OCI-Filters-Applied is exactly artifactType, 2 results', async () => {
      const { reply, manifests: found } = await client.referrers(REPO1, m4.digest, [
        ['artifactType', typeA],
      ]);
      expectHeader(reply, 'oci-filters-applied', 'artifactType');
      expect(found.map((d) => d.digest).sort()).toEqual([aConfig.digest, aLayer.digest].sort());
    });

    it('referrers of a subject that was never pushed: exactly the one referrer', async () => {
      const { manifests: found } = await client.referrers(REPO1, m3.digest);
      expect(found.map((d) => d.digest)).toEqual([cLayer.digest]);
    });

    it('teardown: referrers, tags, manifests and blobs are deleted', async () => {
      for (const m of [cLayer, bLayer, bConfig, refIndex, aLayer, aConfig])
        await deleteManifest(m.digest);
      for (const tag of ['tagtest0', 'test0', 'test1', 'test2', 'test3']) await deleteManifest(tag);
      await deleteManifest(m4.digest);
      await deleteManifest(m2.digest);
      for (const b of [pick(configs, 2), pick(configs, 4), layer, emptyJSON, refBlobA, refBlobB]) {
        await deleteBlob(REPO1, b.digest);
      }
    });
  });

  // ── 04 content management ───────────────────────────────────────────────────────────────────

  describe('Ginkgo content management', () => {
    const m0 = pick(manifests, 0);
    const m3 = pick(manifests, 3);
    let numTags = 0;

    it('setup: tagtest0 is pushed and listed', async () => {
      await pushBlob(REPO1, pick(configs, 3));
      await pushBlob(REPO1, layer);
      await putManifest('tagtest0', m3.content);
      const { tags } = await tagList();
      expect(tags).toContain('tagtest0');
      numTags = tags.length;
    });

    it('DELETE of the tag is 202, DELETE by digest is 202 or 404, then GET by digest is 404', async () => {
      const tag = await client.manifestRequest('DELETE', REPO1, 'tagtest0', false);
      // The Ginkgo suite also takes 405 or 400 UNSUPPORTED; the newest suite calls those Skip.
      expectStatus(tag, 202);
      const byDigest = await client.manifestRequest('DELETE', REPO1, m3.digest, false);
      expectStatus(byDigest, 202, 404);
      const get = await client.manifestRequest('GET', REPO1, m3.digest, false);
      expectStatus(get, 404);
      expectErrorBody(get, SPEC_ERROR_CODES);
    });

    it('the tag list is 200 with fewer tags than before', async () => {
      const { tags } = await tagList();
      expect(tags.length).toBeLessThan(numTags);
    });

    it('a DELETE by digest also removes the tags that point to it, and the list stays 200', async () => {
      await pushBlob(REPO1, pick(configs, 0));
      await putManifest('keep', m0.content);
      await putManifest('gone-a', m3.content);
      await putManifest('gone-b', m3.content);
      const before = (await tagList()).tags;
      expect(before).toEqual(expect.arrayContaining(['keep', 'gone-a', 'gone-b']));
      expectStatus(await client.manifestRequest('DELETE', REPO1, m3.digest, false), 202);
      const after = (await tagList()).tags;
      expect(after.length).toBeLessThan(before.length);
      expect(after).toContain('keep');
      expect(after).not.toContain('gone-a');
      expect(after).not.toContain('gone-b');
      expectStatus(await client.manifestRequest('HEAD', REPO1, 'gone-a'), 404);
    });

    it('once every tag is deleted the tag list is 200 with no tags, not 404', async () => {
      expectStatus(await client.manifestRequest('DELETE', REPO1, m0.digest, false), 202);
      const { tags } = await tagList();
      expect(tags).toEqual([]);
    });

    it('DELETE of the blobs is 202 or 404, then GET of the config is 404', async () => {
      for (const b of [pick(configs, 3), pick(configs, 0), layer])
        await deleteBlob(REPO1, b.digest);
      const get = await client.blobRequest('GET', REPO1, pick(configs, 3).digest);
      expectStatus(get, 404);
      expectErrorBody(get, SPEC_ERROR_CODES);
    });
  });

  if (auth) {
    it('auth: the requests above went through the token realm, and without credentials the server refuses', async () => {
      await expectAuthWasUsed(server, client);
    });
  }
});
