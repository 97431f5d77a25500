/**
 * Garbage collection racing pushers (issue 11): a server process and 16 clients that each push a
 * fixed number of fresh images the way docker does (HEAD each blob → upload the missing ones,
 * some in chunks → a pause → PUT the manifest), pull back images they pushed earlier, and delete
 * some. Some reuse layers of images they deleted moments ago, which only the push-time HEAD's
 * touch keeps. Meanwhile `berth gc --grace 5s` runs again and again as a separate process beside
 * the server, and skopeo copies an image in and out. No push fails, no pull breaks, every GC run
 * succeeds and they remove something; afterwards fsck is clean and a last GC leaves on disk
 * exactly the blobs of the images that were not deleted.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  descriptor,
  OCI_CONFIG,
  OCI_LAYER,
  OCI_MANIFEST,
  putManifest,
  sha256,
} from '../helpers/oci.js';
import { startServerProcess, type ServerProcess } from '../helpers/server.js';
import { clientSandbox } from './client-sandbox.js';
import {
  berth,
  expectFsckClean,
  filesUnder,
  pullProblem,
  type GcReport,
  type Image,
} from './gc-helpers.js';
import {
  blobPath,
  buildImage,
  fileSha256,
  hostArchitecture,
  initLayout,
  readLayoutManifest,
  runOk,
  type ImageManifest,
} from './images.js';

const CLIENTS = 16;
const PUSHES_EACH = 20;
/**
 * Untagged manifests (an image whose tag was deleted) are garbage at once; no scheduled run of
 * the server's own. The grace is left at its default: `berth gc --grace 5s` alone sets it.
 */
const CONFIG = 'gc:\n  untaggedAfter: 1ms\n  schedule: "off"\n';

let server: ServerProcess | undefined;
let work = '';

beforeAll(async () => {
  // Lower case: skopeo's oci: references want it.
  work = path.join(tmpdir(), `berth-e2e-gc-race-${randomBytes(6).toString('hex')}`);
  await mkdir(work);
});

afterAll(async () => {
  if (server && server.child.exitCode === null) await server.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

interface PushedImage extends Image {
  /** The layers' bytes, to push again in a later image. */
  layers: Buffer[];
}

/** What went wrong, by kind: every list must end empty. */
const failures = { pushes: [] as string[], pulls: [] as string[], deletes: [] as string[] };
const counts = {
  pushes: 0,
  pulls: 0,
  deletes: 0,
  uploads: 0,
  found: 0,
  foundAfterDelete: 0,
  slowestPushMs: 0,
};

async function drained(res: Response): Promise<string> {
  return `${res.status} ${await res.text()}`;
}

/** Uploads a blob: one PATCH as docker streams it, or (chunked) in Content-Range pieces. */
async function upload(url: string, repo: string, data: Buffer, chunked: boolean): Promise<void> {
  const post = await fetch(`${url}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  if (post.status !== 202) throw new Error(`POST ${await drained(post)}`);
  await post.arrayBuffer();
  let location = post.headers.get('location') ?? '';
  const pieces = chunked ? 3 : 1;
  const size = Math.ceil(data.length / pieces);
  for (let start = 0; start < data.length; start += size) {
    const piece = data.subarray(start, start + size);
    const patch = await fetch(new URL(location, url), {
      method: 'PATCH',
      headers: {
        'content-type': 'application/octet-stream',
        ...(chunked ? { 'content-range': `${start}-${start + piece.length - 1}` } : {}),
      },
      body: new Uint8Array(piece),
    });
    if (patch.status !== 202) throw new Error(`PATCH ${await drained(patch)}`);
    await patch.arrayBuffer();
    location = patch.headers.get('location') ?? location;
  }
  const put = await fetch(
    new URL(`${location}${location.includes('?') ? '&' : '?'}digest=${sha256(data)}`, url),
    { method: 'PUT' },
  );
  if (put.status !== 201) throw new Error(`PUT ${await drained(put)}`);
  await put.arrayBuffer();
}

class Client {
  readonly repo: string;
  readonly live: PushedImage[] = [];
  /** Layers of images this client deleted, newest last. */
  readonly deletedLayers: Buffer[] = [];

  constructor(
    private readonly url: string,
    readonly id: number,
  ) {
    this.repo = `library/race-${String(id).padStart(2, '0')}`;
  }

  /** Every third client reuses layers: of a deleted image, and of a live one. */
  private get reuses(): boolean {
    return this.id % 3 === 0;
  }

  async run(): Promise<void> {
    for (let n = 0; n < PUSHES_EACH; n++) {
      await this.push(n);
      const earlier = this.live.slice(0, -1);
      const pick = earlier[randomInt(Math.max(1, earlier.length))];
      if (pick) await this.pull(pick);
      if (this.live.length > 3 && randomInt(3) === 0) await this.deleteOne();
    }
  }

  private async push(n: number): Promise<void> {
    const fresh = Array.from({ length: 1 + randomInt(2) }, () => randomBytes(randomInt(512, 8192)));
    // A bigger layer, sent in chunks by every other client.
    if (this.id % 2 === 1) fresh.push(randomBytes(randomInt(20_000, 60_000)));
    const reused: Buffer[] = [];
    if (this.reuses) {
      const old = this.deletedLayers.at(
        -1 - randomInt(Math.min(3, this.deletedLayers.length || 1)),
      );
      if (old) reused.push(old);
      const other = this.live.at(-1)?.layers[0];
      if (other) reused.push(other);
    }
    const layers = [...fresh, ...reused.filter((l, i) => reused.indexOf(l) === i)];
    const config = Buffer.from(
      JSON.stringify({ architecture: 'amd64', os: 'linux', n: randomBytes(8).toString('hex') }),
    );
    const tag = `p${n}`;
    // A push slower than the grace (5 s, less the 1 s HEAD-touch step) may lose a layer by design: a failure says how long it took.
    const started = performance.now();
    try {
      // As docker: the blobs side by side (it uploads up to 5 layers at once).
      await Promise.all(
        [config, ...layers].map(async (blob) => {
          const digest = sha256(blob);
          const head = await fetch(`${this.url}/v2/${this.repo}/blobs/${digest}`, {
            method: 'HEAD',
          });
          if (head.status === 200) {
            counts.found += 1;
            // Only the link's grace, restarted by this HEAD, holds a layer no live image lists.
            const listed = this.live.some((i) => i.layers.includes(blob));
            if (this.deletedLayers.includes(blob) && !listed) counts.foundAfterDelete += 1;
            return;
          }
          if (head.status !== 404) throw new Error(`HEAD ${digest}: ${head.status}`);
          await upload(this.url, this.repo, blob, blob.length > 16_384);
          counts.uploads += 1;
        }),
      );
      // As docker: the manifest follows the last layer after a moment.
      await new Promise((resolve) => setTimeout(resolve, randomInt(100, 400)));
      const manifest = JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: descriptor(OCI_CONFIG, config),
        layers: layers.map((l) => descriptor(OCI_LAYER, l)),
      });
      const res = await putManifest(this.url, this.repo, tag, manifest);
      if (res.status !== 201) throw new Error(`PUT manifest ${await drained(res)}`);
      await res.arrayBuffer();
      counts.pushes += 1;
      counts.slowestPushMs = Math.max(
        counts.slowestPushMs,
        Math.round(performance.now() - started),
      );
      this.live.push({
        repo: this.repo,
        tag,
        manifest,
        digest: sha256(manifest),
        blobs: [sha256(config), ...layers.map((l) => sha256(l))],
        layers,
      });
    } catch (e) {
      const took = `${Math.round(performance.now() - started)} ms`;
      failures.pushes.push(
        `${this.repo}:${tag} (after ${took}): ${e instanceof Error ? e.message : String(e)}`,
      );
    }
  }

  private async pull(image: PushedImage): Promise<void> {
    const problem = await pullProblem(this.url, image);
    counts.pulls += 1;
    if (problem !== null) failures.pulls.push(problem);
  }

  /** An older image goes: by digest (manifest and tag), or its tag only (GC takes the rest). */
  private async deleteOne(): Promise<void> {
    const [image] = this.live.splice(randomInt(this.live.length - 1), 1);
    if (!image) return;
    const reference = randomInt(2) === 0 ? image.digest : (image.tag ?? image.digest);
    const res = await fetch(`${this.url}/v2/${this.repo}/manifests/${reference}`, {
      method: 'DELETE',
    });
    counts.deletes += 1;
    if (res.status !== 202)
      failures.deletes.push(`${this.repo}@${reference}: ${await drained(res)}`);
    else await res.arrayBuffer();
    this.deletedLayers.push(...image.layers);
  }
}

/** An image in an OCI layout (umoci: real gzip'd tar layers), for skopeo to copy in and out. */
interface SkopeoImage {
  image: Image;
  layout: string;
  env: NodeJS.ProcessEnv;
}

async function skopeoImage(): Promise<SkopeoImage> {
  const layout = path.join(work, 'layout');
  await initLayout(layout);
  const built = await buildImage(layout, {
    tag: 'v1',
    platform: { architecture: hostArchitecture(), os: 'linux' },
    layers: [
      ['/a.txt', `gc race ${randomBytes(8).toString('hex')}\n`],
      ['/b.bin', randomBytes(100_000)],
    ],
  });
  const { env } = await clientSandbox(work);
  return {
    layout,
    env,
    image: {
      repo: 'library/race-skopeo',
      tag: 'v1',
      manifest: built.raw.toString(),
      digest: built.digest,
      blobs: [built.parsed.config.digest, ...built.parsed.layers.map((l) => l.digest)],
    },
  };
}

/** skopeo copies the layout into the registry and back out: the same digests come back. */
async function skopeoRoundTrip(host: string, { image, layout, env }: SkopeoImage): Promise<void> {
  const reference = `docker://${host}/${image.repo}:v1`;
  await runOk('skopeo', ['copy', '--dest-tls-verify=false', `oci:${layout}:v1`, reference], env);
  const out = path.join(work, 'out');
  await runOk('skopeo', ['copy', '--src-tls-verify=false', reference, `oci:${out}:pulled`], env);
  const pulled = await readLayoutManifest<ImageManifest>(out, 'pulled');
  expect(pulled.digest).toBe(image.digest);
  const blobs = [pulled.parsed.config, ...pulled.parsed.layers].map((d) => d.digest);
  expect(blobs).toEqual(image.blobs);
  for (const digest of blobs) expect(await fileSha256(blobPath(out, digest))).toBe(digest);
}

it(`${CLIENTS} clients push, pull and delete while berth gc runs again and again`, async () => {
  const config = path.join(work, 'berth.yaml');
  await writeFile(config, CONFIG);
  const skopeo = await skopeoImage();
  server = await startServerProcess({
    dataDir: path.join(work, 'data'),
    args: ['--config', config],
  });
  const { url, host, dataDir } = server;
  const data = ['--config', config, '--data', dataDir];

  const clients = Array.from({ length: CLIENTS }, (_, i) => new Client(url, i));
  const state = { clientsDone: false };
  const pushing = Promise.all(clients.map((c) => c.run())).finally(() => {
    state.clientsDone = true;
  });
  const gcRuns: GcReport[] = [];
  const gcFailures: string[] = [];
  const collecting = (async () => {
    // Until the clients are done: every run overlaps pushes, pulls and deletes.
    while (!state.clientsDone) {
      const result = await berth(['gc', '--grace', '5s', '--json', ...data]);
      if (result.code === 0) gcRuns.push(JSON.parse(result.stdout) as GcReport);
      else gcFailures.push(`exit ${String(result.code)}: ${result.stderr}`);
    }
  })();
  // One real client in the middle of it all.
  await skopeoRoundTrip(host, skopeo);
  await Promise.all([pushing, collecting]);

  expect(failures).toEqual({ pushes: [], pulls: [], deletes: [] });
  expect(counts.pushes).toBe(CLIENTS * PUSHES_EACH);
  expect(gcFailures).toEqual([]);
  expect(gcRuns.length).toBeGreaterThan(1);
  expect(gcRuns.filter((r) => r.error !== undefined)).toEqual([]);
  expect(gcRuns.some((r) => r.blobs > 0)).toBe(true);
  // The layers of images deleted moments before were found by HEAD, not uploaded again.
  expect(counts.foundAfterDelete).toBeGreaterThan(0);

  await expectFsckClean(data);
  const kept = [...clients.flatMap((c) => c.live), skopeo.image];
  for (const image of kept) expect(await pullProblem(url, image)).toBeNull();
  // Once the grace has passed for everything (a grace of 0, nothing running), exactly the blobs
  // of the images that were not deleted are left.
  const last = await berth(['gc', '--grace', '0', '--json', ...data]);
  expect(last.code, last.stderr).toBe(0);
  const onDisk = (await filesUnder(path.join(dataDir, 'blobs'))).map(
    (f) => `sha256:${path.basename(f)}`,
  );
  expect(new Set(onDisk)).toEqual(new Set(kept.flatMap((i) => i.blobs)));
  for (const image of kept) expect(await pullProblem(url, image)).toBeNull();
  process.stdout.write(
    `gc race: ${JSON.stringify(counts)}; ${gcRuns.length} gc runs removed ` +
      `${gcRuns.reduce((n, r) => n + r.blobs, 0)} blobs, ${gcRuns.reduce((n, r) => n + r.manifests, 0)} manifests\n`,
  );
});
