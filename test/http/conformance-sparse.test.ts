/**
 * OCI conformance suite (newest layout), the "sparse manifests" data set, which the other
 * conformance files leave out: an image one of whose layers is never pushed, and an index whose
 * arm64 child is a random digest. It passes with `manifests.indexChildren: none` (push, tag list,
 * head, pull, delete, as the Go suite runs a data set) and is refused under `all`.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.js';
import {
  AMD64,
  ARM64,
  Client,
  Failures,
  MT,
  REPO1,
  TestData,
  deleteDataSet,
  digestOf,
  pushDataSet,
  readDataSet,
  tagListDataSet,
} from './conformance-helpers.js';

/** The data set exactly as the Go suite generates it (run.go, "sparse"). */
function sparseDataSet(): TestData {
  const td = new TestData('sparse');
  td.genManifestFull({ tag: 'sparse-image' });
  // The suite drops the first layer it finds: the manifest names it, nothing pushes it.
  for (const [dig, d] of td.desc) {
    if (td.blobs.has(dig) && d.mediaType.startsWith(MT.ociLayer)) {
      td.desc.delete(dig);
      td.blobs.delete(dig);
      break;
    }
  }
  const image = td.genManifestFull({ platform: AMD64 });
  const random = randomBytes(1024);
  const randomDigest = digestOf(random);
  td.desc.set(randomDigest, { mediaType: MT.ociImage, digest: randomDigest, size: 1024 });
  td.genIndex([AMD64, ARM64], [image, randomDigest], { tag: 'sparse-index' });
  return td;
}

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(indexChildren?: string): Promise<Client> {
  server = await startServer({
    configure: (c) => {
      if (indexChildren !== undefined) c.manifests.indexChildren = indexChildren;
    },
  });
  await server.app.registry.namespaces.create('conformance');
  return new Client(server.url);
}

describe('sparse manifests data set', () => {
  it('passes with manifests.indexChildren: none', async () => {
    const client = await start('none');
    const td = sparseDataSet();
    for (const run of [
      pushDataSet,
      tagListDataSet,
      (c: Client, t: TestData, r: string, f: Failures) => readDataSet('HEAD', c, t, r, f),
      (c: Client, t: TestData, r: string, f: Failures) => readDataSet('GET', c, t, r, f),
      deleteDataSet,
    ]) {
      const f = new Failures();
      await run(client, td, REPO1, f);
      f.assertNone();
    }
  });

  it('is refused where a namespace asks for all children, over the configured none', async () => {
    const client = await start('none');
    await server?.app.registry.namespaces.setPolicy('conformance', { indexChildren: 'all' });
    const f = new Failures();
    await pushDataSet(client, sparseDataSet(), REPO1, f);
    // Both sparse manifests (and so the tags and pulls after them) fail.
    expect(() => {
      f.assertNone();
    }).toThrow();
  });
});
