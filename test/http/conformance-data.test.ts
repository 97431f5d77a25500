/**
 * OCI conformance suite (newest layout, OCI_VERSION=dev), part 2: every data set in run order
 * (push, tag-list, head, pull, referrers, delete), then the manifest error conditions. The sparse
 * set needs `manifests.indexChildren: none` (by default Berth verifies every reference):
 * conformance-sparse.test.ts runs it. See conformance-helpers.ts for what
 * "Skip" means in the real suite; every Skip condition fails here.
 *
 * Everything runs twice (SUITE_MODES): against a server with auth off, and with auth on, signed
 * in as the admin through the token realm as the Go suite does; both runs must pass alike.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestServer } from '../helpers/server.js';
import {
  Failures,
  REPO1,
  TestData,
  buildDataSets,
  deleteDataSet,
  digestOf,
  expectStatus,
  matchesReferrer,
  pushDataSet,
  readDataSet,
  referrersDataSet,
  tagListDataSet,
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

  /** Runs one step of the suite, which reports every failed request, not just the first. */
  async function step(
    run: (client: Client, td: TestData, repo: string, f: Failures) => Promise<void>,
    td: TestData,
  ): Promise<void> {
    const f = new Failures();
    await run(client, td, REPO1, f);
    f.assertNone();
  }

  for (const td of buildDataSets()) {
    describe(`data set ${td.name}`, () => {
      const expectation = td.badDigest.size > 0 ? ' (the manifest PUT must be 400)' : '';
      it(`push: blobs, manifests by digest${td.tagParam.size > 0 ? ' with ?tag=' : ''}, tags${expectation}`, async () => {
        await step(pushDataSet, td);
      });

      it('tag-list: every tag, and ?last= returns exactly the tags after it', async () => {
        await step(tagListDataSet, td);
      });

      it('head: manifests by tag and digest, and blobs', async () => {
        await step((c, t, r, f) => readDataSet('HEAD', c, t, r, f), td);
      });

      it('pull: manifests by tag and digest, and blobs, byte for byte', async () => {
        await step((c, t, r, f) => readDataSet('GET', c, t, r, f), td);
      });

      if (td.referrers.size > 0) {
        it('referrers: every expected referrer, and each artifactType filter', async () => {
          await step(referrersDataSet, td);
        });

        it('referrers (Ginkgo): each descriptor carries exactly the referrer manifest annotations', async () => {
          for (const [subject, goals] of td.referrers) {
            const { manifests } = await client.referrers(REPO1, subject);
            for (const goal of goals) {
              const found = manifests.find((m) => matchesReferrer(m, goal));
              expect(found, `referrer ${goal.digest} of ${subject}`).toBeDefined();
              expect(found?.annotations ?? {}, `annotations of ${goal.digest}`).toEqual(
                goal.annotations ?? {},
              );
            }
          }
        });
      }

      it('delete: tags, manifests in reverse push order, blobs, each followed by HEAD → 404', async () => {
        await step(deleteDataSet, td);
      });
    });
  }

  describe('missing-manifest', () => {
    it('by-digest: GET of a random digest is 404', async () => {
      const r = await client.manifestRequest('GET', REPO1, digestOf(randomBytes(1024)));
      expectStatus(r, 404);
    });

    it('by-tag: GET of a tag never pushed is 404', async () => {
      const tag = `missing-${randomBytes(20).toString('hex').slice(0, 20)}`;
      const r = await client.manifestRequest('GET', REPO1, tag);
      expectStatus(r, 404);
    });
  });

  describe('invalid-digest-format', () => {
    const td = new TestData('Invalid Manifest Digest');
    const dig = td.genManifestFull({ layerCount: 1 });

    it('PUT /manifests/sha256:baddigeststring of a valid manifest is 400', async () => {
      const f = new Failures();
      for (const [blob, body] of td.blobs) await client.pushBlobAny(f, REPO1, blob, body);
      await f.check('manifest-put', () =>
        client.manifestPut(REPO1, 'sha256:baddigeststring', dig, td.manifest(dig), {
          badDigest: true,
        }),
      );
      f.assertNone();
    });

    it('GET /manifests/sha256:baddigeststring is 404 or 400', async () => {
      const r = await client.manifestRequest('GET', REPO1, 'sha256:baddigeststring');
      expectStatus(r, 404, 400);
    });

    it('cleanup: the manifest was never stored (DELETE 404 accepted), blobs are deleted', async () => {
      await step(deleteDataSet, td);
    });
  });

  if (auth) {
    it('auth: the requests above went through the token realm, and without credentials the server refuses', async () => {
      await expectAuthWasUsed(server, client);
    });
  }
});
