/**
 * Real registry clients (skopeo, podman) against the built server (`dist/`), over plain HTTP on
 * 127.0.0.1. Every image is built offline with umoci; every round trip compares digests with what
 * was pushed, so a server that rewrites, truncates or re-labels content fails here.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { CLI, startServerProcess, type ServerProcess } from '../helpers/server.js';
import {
  DOCKER_MANIFEST,
  OCI_INDEX,
  addIndex,
  blobPath,
  buildImage,
  dirBlobPath,
  fileSha256,
  hostArchitecture,
  initLayout,
  readDirImage,
  readLayoutBlobManifest,
  readLayoutManifest,
  run,
  runOk,
  sha256,
  writeRandomFile,
  type ImageIndex,
  type ImageManifest,
  type RunResult,
} from './images.js';
import { clientSandbox } from './client-sandbox.js';

const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
const DOCKER_LAYER = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  OCI_INDEX,
  DOCKER_MANIFEST,
  DOCKER_LIST,
].join(', ');

let server: ServerProcess | undefined;
let work = '';
let host = '';
let url = '';
let clientEnv: NodeJS.ProcessEnv = {};
let podmanGlobal: string[] = [];

function dataDir(): string {
  if (!server) throw new Error('server not started');
  return server.dataDir;
}

function docker(reference: string): string {
  return `docker://${host}/${reference}`;
}

function skopeo(args: string[]): Promise<RunResult> {
  return runOk('skopeo', args, clientEnv);
}

function podman(args: string[]): Promise<RunResult> {
  return runOk('podman', [...podmanGlobal, ...args], clientEnv);
}

/** `skopeo inspect --raw`: the manifest bytes exactly as Berth serves them. */
async function inspectRaw(reference: string): Promise<Buffer> {
  const { stdout } = await skopeo(['inspect', '--raw', '--tls-verify=false', docker(reference)]);
  return Buffer.from(stdout);
}

async function getManifest(name: string, reference: string): Promise<Response> {
  const res = await fetch(`${url}/v2/${name}/manifests/${reference}`, {
    headers: { accept: MANIFEST_ACCEPT },
  });
  expect(res.status).toBe(200);
  return res;
}

async function blobDigestFromServer(name: string, digest: string): Promise<string> {
  const res = await fetch(`${url}/v2/${name}/blobs/${digest}`);
  expect(res.status).toBe(200);
  return sha256(new Uint8Array(await res.arrayBuffer()));
}

interface AccessLog {
  method?: string;
  url?: string;
  status?: number;
}

/** The server's JSON access-log lines printed after `offset` characters of its output. */
function accessLog(offset: number): AccessLog[] {
  if (!server) throw new Error('server not started');
  return server
    .output()
    .slice(offset)
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as AccessLog)
    .filter((entry) => entry.method !== undefined);
}

/** The log is written by a child process through a pipe: wait until a given request shows up. */
async function waitForRequest(offset: number, match: (e: AccessLog) => boolean): Promise<void> {
  for (const deadline = Date.now() + 30_000; Date.now() < deadline;) {
    if (accessLog(offset).some(match)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('the expected request never appeared in the server log');
}

function platform(architecture: string): { architecture: string; os: string } {
  return { architecture, os: 'linux' };
}

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
  // Lower case only: `podman pull oci:DIR` names the image after DIR, and image names must be
  // lower case (mkdtemp's random suffix is not).
  work = path.join(tmpdir(), `berth-e2e-clients-${randomBytes(6).toString('hex')}`);
  await mkdir(work);
  ({ env: clientEnv, podmanArgs: podmanGlobal } = await clientSandbox(work));
  // Info level: the access log is how the mount test sees which requests reached the server.
  server = await startServerProcess({
    dataDir: path.join(work, 'data'),
    args: ['--log-level', 'info'],
  });
  host = server.host;
  url = server.url;
});

afterAll(async () => {
  await server?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('skopeo', () => {
  test('copies an OCI image into Berth and back out to oci: and dir: layouts unchanged', async () => {
    const layout = path.join(work, 'basic');
    await initLayout(layout);
    const image = await buildImage(layout, {
      tag: 'v1',
      platform: platform(hostArchitecture()),
      layers: [
        ['/etc/motd', 'hello from berth\n'],
        ['/data/random.bin', randomBytes(256 * 1024)],
      ],
    });
    expect(image.parsed.layers).toHaveLength(2);
    const layerDigests = image.parsed.layers.map((l) => l.digest);

    for (const tag of ['v1', 'v2']) {
      await skopeo([
        'copy',
        '--dest-tls-verify=false',
        `oci:${layout}:v1`,
        docker(`library/e2e-oci:${tag}`),
      ]);
    }

    const raw = await inspectRaw('library/e2e-oci:v1');
    expect(sha256(raw)).toBe(image.digest);
    expect(raw.equals(image.raw)).toBe(true);

    const inspected = JSON.parse(
      (await skopeo(['inspect', '--tls-verify=false', docker('library/e2e-oci:v2')])).stdout,
    ) as { Digest: string; Layers: string[]; Architecture: string };
    expect(inspected.Digest).toBe(image.digest);
    expect(inspected.Layers).toEqual(layerDigests);
    expect(inspected.Architecture).toBe(hostArchitecture());

    const tags = JSON.parse(
      (await skopeo(['list-tags', '--tls-verify=false', docker('library/e2e-oci')])).stdout,
    ) as { Repository: string; Tags: string[] };
    expect(tags.Repository).toBe(`${host}/library/e2e-oci`);
    expect([...tags.Tags].sort()).toEqual(['v1', 'v2']);

    const outOci = path.join(work, 'basic-out-oci');
    await skopeo([
      'copy',
      '--src-tls-verify=false',
      docker('library/e2e-oci:v1'),
      `oci:${outOci}:pulled`,
    ]);
    const pulled = await readLayoutManifest<ImageManifest>(outOci, 'pulled');
    expect(pulled.digest).toBe(image.digest);
    expect(pulled.parsed.config.digest).toBe(image.parsed.config.digest);
    expect(pulled.parsed.layers.map((l) => l.digest)).toEqual(layerDigests);
    for (const d of [pulled.parsed.config, ...pulled.parsed.layers]) {
      expect(await fileSha256(blobPath(outOci, d.digest))).toBe(d.digest);
    }

    const outDir = path.join(work, 'basic-out-dir');
    await skopeo(['copy', '--src-tls-verify=false', docker('library/e2e-oci:v2'), `dir:${outDir}`]);
    const fromDir = await readDirImage(outDir);
    expect(fromDir.digest).toBe(image.digest);
    for (const layer of image.parsed.layers) {
      const file = dirBlobPath(outDir, layer.digest);
      expect(await fileSha256(file)).toBe(layer.digest);
      expect((await stat(file)).size).toBe(layer.size);
    }
  });

  test('copies a two-platform OCI index with --all and reads the same index back', async () => {
    const layout = path.join(work, 'multi');
    await initLayout(layout);
    const children: Record<string, ImageManifest> = {};
    const raws: Record<string, Buffer> = {};
    for (const arch of ['amd64', 'arm64']) {
      const image = await buildImage(layout, {
        tag: arch,
        platform: platform(arch),
        layers: [['/platform.txt', `${arch}\n${randomBytes(16).toString('hex')}\n`]],
      });
      children[image.digest] = image.parsed;
      raws[image.digest] = image.raw;
    }
    const index = await addIndex(layout, 'multi', [
      { tag: 'amd64', platform: platform('amd64') },
      { tag: 'arm64', platform: platform('arm64') },
    ]);

    await skopeo([
      'copy',
      '--all',
      '--dest-tls-verify=false',
      `oci:${layout}:multi`,
      docker('library/e2e-multi:v1'),
    ]);

    const raw = await inspectRaw('library/e2e-multi:v1');
    expect(sha256(raw)).toBe(index.digest);
    const served = JSON.parse(raw.toString()) as ImageIndex;
    expect(served.mediaType).toBe(OCI_INDEX);
    expect(served.manifests.map((m) => [m.digest, m.platform?.architecture])).toEqual(
      index.parsed.manifests.map((m) => [m.digest, m.platform?.architecture]),
    );

    const res = await getManifest('library/e2e-multi', 'v1');
    expect(res.headers.get('content-type')).toBe(OCI_INDEX);
    expect(res.headers.get('docker-content-digest')).toBe(index.digest);

    // A client that resolves the index for one platform gets that platform's image.
    const arm = JSON.parse(
      (
        await skopeo([
          '--override-arch',
          'arm64',
          '--override-os',
          'linux',
          'inspect',
          '--tls-verify=false',
          docker('library/e2e-multi:v1'),
        ])
      ).stdout,
    ) as { Digest: string; Layers: string[]; Architecture: string };
    const armDigest = index.parsed.manifests.find(
      (m) => m.platform?.architecture === 'arm64',
    )?.digest;
    expect(armDigest).toBeDefined();
    expect(arm.Digest).toBe(index.digest);
    expect(arm.Architecture).toBe('arm64');
    expect(arm.Layers).toEqual(children[armDigest ?? '']?.layers.map((l) => l.digest));

    const out = path.join(work, 'multi-out');
    await skopeo([
      'copy',
      '--all',
      '--src-tls-verify=false',
      docker('library/e2e-multi:v1'),
      `oci:${out}:pulled`,
    ]);
    const pulled = await readLayoutManifest<ImageIndex>(out, 'pulled');
    expect(pulled.digest).toBe(index.digest);
    expect(pulled.raw.equals(index.raw)).toBe(true);
    expect(pulled.parsed.manifests).toHaveLength(2);
    for (const child of pulled.parsed.manifests) {
      const manifest = await readLayoutBlobManifest<ImageManifest>(out, child.digest);
      expect(sha256(manifest.raw)).toBe(child.digest);
      expect(manifest.raw.equals(raws[child.digest] ?? Buffer.alloc(0))).toBe(true);
      for (const d of [manifest.parsed.config, ...manifest.parsed.layers]) {
        expect(await fileSha256(blobPath(out, d.digest))).toBe(d.digest);
      }
    }
  });

  test('pushes a Docker v2 schema 2 image that comes back with the same type and digest', async () => {
    const layout = path.join(work, 'docker');
    await initLayout(layout);
    const image = await buildImage(layout, {
      tag: 'v1',
      platform: platform(hostArchitecture()),
      layers: [['/docker.txt', `schema 2 ${randomBytes(8).toString('hex')}\n`]],
    });
    const digestFile = path.join(work, 'docker.digest');
    await skopeo([
      'copy',
      '--format',
      'v2s2',
      '--digestfile',
      digestFile,
      '--dest-tls-verify=false',
      `oci:${layout}:v1`,
      docker('library/e2e-docker:v1'),
    ]);
    const pushed = (await readFile(digestFile, 'utf8')).trim();
    // The conversion really happened: the OCI manifest and the Docker one differ.
    expect(pushed).not.toBe(image.digest);

    const raw = await inspectRaw('library/e2e-docker:v1');
    expect(sha256(raw)).toBe(pushed);
    const manifest = JSON.parse(raw.toString()) as ImageManifest;
    expect(manifest.mediaType).toBe(DOCKER_MANIFEST);
    expect(manifest.layers.map((l) => [l.mediaType, l.digest])).toEqual(
      image.parsed.layers.map((l) => [DOCKER_LAYER, l.digest]),
    );

    const res = await getManifest('library/e2e-docker', 'v1');
    expect(res.headers.get('content-type')).toBe(DOCKER_MANIFEST);
    expect(res.headers.get('docker-content-digest')).toBe(pushed);

    const out = path.join(work, 'docker-out');
    await skopeo(['copy', '--src-tls-verify=false', docker('library/e2e-docker:v1'), `dir:${out}`]);
    const fetched = await readDirImage(out);
    expect(fetched.digest).toBe(pushed);
    expect(fetched.parsed.mediaType).toBe(DOCKER_MANIFEST);
    for (const layer of fetched.parsed.layers) {
      expect(await fileSha256(dirBlobPath(out, layer.digest))).toBe(layer.digest);
    }
  });

  test('pushes and pulls back a 200 MiB incompressible layer intact', async () => {
    const size = 200 * 1024 * 1024;
    const source = path.join(work, 'big.bin');
    await writeRandomFile(source, size);
    const layout = path.join(work, 'big');
    await initLayout(layout);
    const image = await buildImage(layout, {
      tag: 'v1',
      platform: platform(hostArchitecture()),
      layers: [['/big.bin', { file: source }]],
    });
    await rm(source);
    const [layer] = image.parsed.layers;
    if (!layer) throw new Error('the big image has no layer');
    // Random data does not compress: the gzip'd layer is still over 200 MiB.
    expect(layer.size).toBeGreaterThan(size);

    await skopeo([
      'copy',
      '--dest-tls-verify=false',
      `oci:${layout}:v1`,
      docker('library/e2e-big:v1'),
    ]);
    await rm(layout, { recursive: true });

    const head = await fetch(`${url}/v2/library/e2e-big/blobs/${layer.digest}`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(layer.size));
    expect(head.headers.get('docker-content-digest')).toBe(layer.digest);

    const out = path.join(work, 'big-out');
    await skopeo(['copy', '--src-tls-verify=false', docker('library/e2e-big:v1'), `dir:${out}`]);
    const fetched = await readDirImage(out);
    expect(fetched.digest).toBe(image.digest);
    const file = dirBlobPath(out, layer.digest);
    expect((await stat(file)).size).toBe(layer.size);
    expect(await fileSha256(file)).toBe(layer.digest);
    await rm(out, { recursive: true });
  });

  test('a push into a missing namespace names the CLI fix, and works once it exists', async () => {
    const layout = path.join(work, 'namespace');
    await initLayout(layout);
    const image = await buildImage(layout, {
      tag: 'v1',
      platform: platform(hostArchitecture()),
      layers: [['/team.txt', `team ${randomBytes(8).toString('hex')}\n`]],
    });
    const args = ['copy', '--dest-tls-verify=false', `oci:${layout}:v1`, docker('e2e-team/app:v1')];

    const refused = await run('skopeo', args, clientEnv);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('berth namespace create e2e-team');

    // The CLI works on the data directory while the server keeps running.
    const created = await runOk(
      process.execPath,
      [CLI, 'namespace', 'create', 'e2e-team', '--data', dataDir()],
      clientEnv,
    );
    expect(created.stdout).toContain('e2e-team');

    await skopeo(args);
    expect(sha256(await inspectRaw('e2e-team/app:v1'))).toBe(image.digest);
  });

  test('a copy to a second repository mounts the layers instead of uploading them', async () => {
    const layout = path.join(work, 'mount');
    await initLayout(layout);
    const image = await buildImage(layout, {
      tag: 'v1',
      platform: platform(hostArchitecture()),
      layers: [
        ['/a.bin', randomBytes(128 * 1024)],
        ['/b.bin', randomBytes(128 * 1024)],
      ],
    });
    await skopeo([
      'copy',
      '--dest-tls-verify=false',
      `oci:${layout}:v1`,
      docker('library/e2e-mount-a:v1'),
    ]);

    const offset = server?.output().length ?? 0;
    const copy = await skopeo([
      '--debug',
      'copy',
      '--src-tls-verify=false',
      '--dest-tls-verify=false',
      docker('library/e2e-mount-a:v1'),
      docker('library/e2e-mount-b:v1'),
    ]);
    await waitForRequest(
      offset,
      (e) => e.method === 'PUT' && e.url === '/v2/library/e2e-mount-b/manifests/v1',
    );
    const log = accessLog(offset).filter((e) =>
      e.url?.startsWith('/v2/library/e2e-mount-b/blobs/uploads/'),
    );
    for (const layer of image.parsed.layers) {
      const encoded = encodeURIComponent(layer.digest);
      const mounts = log.filter(
        (e) =>
          e.method === 'POST' &&
          e.url?.includes(`mount=${encoded}`) &&
          e.url.includes(`from=${encodeURIComponent('library/e2e-mount-a')}`),
      );
      expect(mounts.map((e) => e.status)).toEqual([201]);
      // No upload was finished with this digest: the bytes were not sent again.
      expect(log.filter((e) => e.method === 'PUT' && e.url?.includes(`digest=${encoded}`))).toEqual(
        [],
      );
    }
    expect(copy.stderr.match(/mount OK/g)?.length).toBe(image.parsed.layers.length);

    expect(sha256(await inspectRaw('library/e2e-mount-b:v1'))).toBe(image.digest);
    for (const d of [image.parsed.config, ...image.parsed.layers]) {
      expect(await blobDigestFromServer('library/e2e-mount-a', d.digest)).toBe(d.digest);
      expect(await blobDigestFromServer('library/e2e-mount-b', d.digest)).toBe(d.digest);
    }
  });
});

describe('podman', () => {
  interface PodmanImage {
    Id: string;
    Digest: string;
    RepoDigests: string[];
    Architecture: string;
  }

  async function podmanInspect(reference: string): Promise<PodmanImage> {
    const { stdout } = await podman(['image', 'inspect', reference]);
    const [image] = JSON.parse(stdout) as PodmanImage[];
    if (!image) throw new Error(`podman knows no image ${reference}`);
    return image;
  }

  /** `podman pull` prints progress on stderr and the image id as the last line of stdout. */
  function pulledId(result: RunResult): string {
    return `sha256:${result.stdout.trim().split('\n').at(-1) ?? ''}`;
  }

  test('pushes a tagged image, removes it, and pulls the same digest back', async () => {
    const layout = path.join(work, 'podman-image');
    await initLayout(layout);
    const image = await buildImage(layout, {
      tag: 'v1',
      platform: platform(hostArchitecture()),
      layers: [['/podman.txt', `podman ${randomBytes(8).toString('hex')}\n`]],
    });
    const loaded = await podman(['pull', `oci:${layout}:v1`]);
    const id = pulledId(loaded);
    expect(id).toBe(image.parsed.config.digest);

    const reference = `${host}/library/e2e-podman:v1`;
    await podman(['tag', id, reference]);
    const digestFile = path.join(work, 'podman.digest');
    await podman(['push', '--tls-verify=false', '--digestfile', digestFile, reference]);
    const pushed = (await readFile(digestFile, 'utf8')).trim();

    const res = await getManifest('library/e2e-podman', 'v1');
    const raw = Buffer.from(await res.arrayBuffer());
    expect(sha256(raw)).toBe(pushed);
    expect(res.headers.get('docker-content-digest')).toBe(pushed);
    const manifest = JSON.parse(raw.toString()) as ImageManifest;
    expect(manifest.config.digest).toBe(image.parsed.config.digest);
    for (const layer of manifest.layers) {
      expect(await blobDigestFromServer('library/e2e-podman', layer.digest)).toBe(layer.digest);
    }

    await podman(['rmi', '--force', id]);
    const gone = await run('podman', [...podmanGlobal, 'image', 'exists', id], clientEnv);
    expect(gone.code).toBe(1);

    const pulled = await podman(['pull', '--tls-verify=false', reference]);
    expect(pulledId(pulled)).toBe(image.parsed.config.digest);
    const inspected = await podmanInspect(reference);
    expect(inspected.Digest).toBe(pushed);
    expect(inspected.RepoDigests).toContain(`${host}/library/e2e-podman@${pushed}`);
  });

  test('pushes a two-platform manifest list with --all and pulls one platform from it', async () => {
    const layout = path.join(work, 'podman-list');
    await initLayout(layout);
    const children: Record<string, { digest: string; raw: Buffer; config: string }> = {};
    for (const arch of ['amd64', 'arm64']) {
      const image = await buildImage(layout, {
        tag: arch,
        platform: platform(arch),
        layers: [['/arch.txt', `podman ${arch} ${randomBytes(8).toString('hex')}\n`]],
      });
      children[arch] = { digest: image.digest, raw: image.raw, config: image.parsed.config.digest };
    }
    const list = `${host}/library/e2e-podman-list:v1`;
    await podman(['manifest', 'create', list]);
    for (const arch of ['amd64', 'arm64']) {
      await podman(['manifest', 'add', list, `oci:${layout}:${arch}`]);
    }
    const digestFile = path.join(work, 'podman-list.digest');
    await podman([
      'manifest',
      'push',
      '--all',
      '--tls-verify=false',
      '--digestfile',
      digestFile,
      list,
      `docker://${list}`,
    ]);
    const pushed = (await readFile(digestFile, 'utf8')).trim();

    const res = await getManifest('library/e2e-podman-list', 'v1');
    const raw = Buffer.from(await res.arrayBuffer());
    expect(sha256(raw)).toBe(pushed);
    const index = JSON.parse(raw.toString()) as ImageIndex;
    expect([OCI_INDEX, DOCKER_LIST]).toContain(index.mediaType);
    expect(res.headers.get('content-type')).toBe(index.mediaType);
    const byArch = Object.fromEntries(
      index.manifests.map((m) => [m.platform?.architecture ?? '', m.digest]),
    );
    expect(byArch).toEqual({ amd64: children['amd64']?.digest, arm64: children['arm64']?.digest });
    for (const child of Object.values(children)) {
      const childRes = await getManifest('library/e2e-podman-list', child.digest);
      expect(Buffer.from(await childRes.arrayBuffer()).equals(child.raw)).toBe(true);
    }

    const pulled = await podman(['pull', '--arch', 'arm64', '--tls-verify=false', list]);
    expect(pulledId(pulled)).toBe(children['arm64']?.config);
    const inspected = await podmanInspect(list);
    expect(inspected.Architecture).toBe('arm64');
    expect(inspected.RepoDigests).toContain(
      `${host}/library/e2e-podman-list@${children['arm64']?.digest ?? ''}`,
    );
  });
});
