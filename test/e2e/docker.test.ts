/**
 * The real docker CLI and dockerd (Debian's docker.io) against the built server over plain HTTP
 * on 127.0.0.1, which docker treats as an insecure registry without any configuration. The image
 * is built offline (FROM scratch + COPY), so every byte Berth stores comes from dockerd itself:
 * its streamed uploads, cross-repository mounts, HEAD checks and pulls.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { CLI, startServerProcess, type ServerProcess } from '../helpers/server.js';
import { describeResult, startDockerd, type CommandResult, type Dockerd } from './dockerd.js';
import {
  DOCKER_MANIFEST,
  OCI_MANIFEST,
  sha256,
  writeRandomFile,
  type Descriptor,
  type ImageManifest,
} from './images.js';

const REPO = 'library/example-devops';
const OTHER = 'library/other';
const MANIFEST_ACCEPT = [DOCKER_MANIFEST, OCI_MANIFEST].join(', ');
const STEP_TIMEOUT = 120_000;

let dockerd: Dockerd | undefined;
let server: ServerProcess | undefined;
let work = '';
let host = '';
let url = '';
/** The built image: its ID (the config digest) and its layers' diff IDs, bottom first. */
let imageId = '';
let diffIds: string[] = [];
/** What the first push reported, for the later steps to compare with. */
let pushedDigest = '';
let pushedLayers: Descriptor[] = [];

function daemon(): Dockerd {
  if (!dockerd) throw new Error('dockerd not started');
  return dockerd;
}

function ref(name: string, tag: string): string {
  return `${host}/${name}:${tag}`;
}

interface Inspected {
  Id: string;
  RepoDigests: string[];
  RootFS: { Layers: string[] };
}

async function inspectImage(reference: string): Promise<Inspected> {
  const { stdout } = await daemon().dockerOk(['image', 'inspect', reference]);
  const [image] = JSON.parse(stdout) as Inspected[];
  if (!image) throw new Error(`docker image inspect ${reference} returned nothing`);
  return image;
}

/** The short (12 hex) layer ID docker prints in push progress, from a diff ID. */
function shortId(diffId: string): string {
  return diffId.slice('sha256:'.length, 'sha256:'.length + 12);
}

/** The final status docker printed per layer: `<short id>: Pushed|Layer already exists|...`. */
function layerStatuses(result: CommandResult): Map<string, string> {
  const statuses = new Map<string, string>();
  for (const line of result.stdout.split('\n')) {
    const m = /^([0-9a-f]{12}): (.+)$/.exec(line.trim());
    if (m?.[1] && m[2] && m[2] !== 'Preparing' && m[2] !== 'Waiting') statuses.set(m[1], m[2]);
  }
  return statuses;
}

/** `<tag>: digest: sha256:… size: N` from `docker push`. */
function pushedManifest(result: CommandResult): { digest: string; size: number } {
  const m = /digest: (sha256:[0-9a-f]{64}) size: (\d+)/.exec(result.stdout);
  if (!m?.[1] || !m[2]) throw new Error(`no digest in the push output:\n${describeResult(result)}`);
  return { digest: m[1], size: Number(m[2]) };
}

async function headManifest(name: string, reference: string): Promise<Response> {
  return fetch(`${url}/v2/${name}/manifests/${reference}`, {
    method: 'HEAD',
    headers: { accept: MANIFEST_ACCEPT },
  });
}

async function getManifest(
  name: string,
  reference: string,
): Promise<{ raw: Buffer; parsed: ImageManifest }> {
  const res = await fetch(`${url}/v2/${name}/manifests/${reference}`, {
    headers: { accept: MANIFEST_ACCEPT },
  });
  expect(res.status).toBe(200);
  const raw = Buffer.from(await res.arrayBuffer());
  return { raw, parsed: JSON.parse(raw.toString()) as ImageManifest };
}

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
  work = await mkdtemp(path.join(tmpdir(), 'berth-e2e-docker-'));
  dockerd = await startDockerd();
  server = await startServerProcess({ dataDir: path.join(work, 'data') });
  host = server.host;
  url = server.url;

  // Three COPY instructions: three layers, one of them a few MB of incompressible data so the
  // upload is a real stream, not a single small write.
  const context = path.join(work, 'context');
  await mkdir(context);
  await writeFile(
    path.join(context, 'motd'),
    `hello from berth ${randomBytes(8).toString('hex')}\n`,
  );
  await writeRandomFile(path.join(context, 'payload.bin'), 4 * 1024 * 1024 + 12345);
  await writeFile(
    path.join(context, 'settings.json'),
    `${JSON.stringify({ run: randomBytes(8).toString('hex'), layers: 3 })}\n`,
  );
  await writeFile(
    path.join(context, 'Dockerfile'),
    [
      'FROM scratch',
      'COPY motd /etc/motd',
      'COPY payload.bin /data/payload.bin',
      'COPY settings.json /etc/example/settings.json',
      'LABEL org.example.berth-test="docker e2e"',
      '',
    ].join('\n'),
  );
  await daemon().dockerOk(['build', '--tag', ref(REPO, 'v1'), context], { timeoutMs: 120_000 });
  const built = await inspectImage(ref(REPO, 'v1'));
  imageId = built.Id;
  diffIds = built.RootFS.Layers;
});

afterAll(async () => {
  try {
    await server?.stop();
  } finally {
    await dockerd?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  }
});

describe('docker CLI and dockerd against Berth over plain HTTP on 127.0.0.1', () => {
  test(
    'docker push uploads every layer and Berth serves the pushed digest as a Docker v2 manifest',
    async () => {
      expect(diffIds).toHaveLength(3);
      const push = await daemon().dockerOk(['push', ref(REPO, 'v1')]);
      const statuses = layerStatuses(push);
      expect([...statuses.keys()].sort(), describeResult(push)).toEqual(
        diffIds.map(shortId).sort(),
      );
      for (const status of statuses.values()) expect(status, describeResult(push)).toBe('Pushed');
      const { digest, size } = pushedManifest(push);
      pushedDigest = digest;

      const head = await headManifest(REPO, 'v1');
      expect(head.status).toBe(200);
      expect(head.headers.get('docker-content-digest')).toBe(digest);
      expect([DOCKER_MANIFEST, OCI_MANIFEST]).toContain(head.headers.get('content-type'));

      // The stored bytes are the ones docker hashed, and they describe the image docker built.
      const { raw, parsed } = await getManifest(REPO, 'v1');
      expect(sha256(raw)).toBe(digest);
      expect(raw.length).toBe(size);
      expect(parsed.config.digest).toBe(imageId);
      expect(parsed.layers).toHaveLength(diffIds.length);
      pushedLayers = parsed.layers;
      for (const layer of parsed.layers) {
        const blob = await fetch(`${url}/v2/${REPO}/blobs/${layer.digest}`);
        expect(blob.status).toBe(200);
        const body = new Uint8Array(await blob.arrayBuffer());
        expect(body.length).toBe(layer.size);
        expect(sha256(body)).toBe(layer.digest);
      }
      // The 4 MB of random data cannot shrink under gzip: one layer really is that big.
      expect(Math.max(...parsed.layers.map((l) => l.size))).toBeGreaterThan(4 * 1024 * 1024);
    },
    STEP_TIMEOUT,
  );

  test(
    'docker pull after docker rmi restores the same image ID under the pushed digest',
    async () => {
      expect(pushedDigest).not.toBe('');
      await daemon().dockerOk(['rmi', ref(REPO, 'v1')]);
      const gone = await daemon().docker(['image', 'inspect', ref(REPO, 'v1')]);
      expect(gone.code, describeResult(gone)).not.toBe(0);

      const pull = await daemon().dockerOk(['pull', ref(REPO, 'v1')]);
      expect(pull.stdout).toContain(`Digest: ${pushedDigest}`);
      const pulled = await inspectImage(ref(REPO, 'v1'));
      expect(pulled.Id).toBe(imageId);
      expect(pulled.RootFS.Layers).toEqual(diffIds);
      expect(pulled.RepoDigests).toContain(`${host}/${REPO}@${pushedDigest}`);
    },
    STEP_TIMEOUT,
  );

  test(
    'pushing the same image again finds every layer already on the server',
    async () => {
      expect(pushedDigest).not.toBe('');
      const push = await daemon().dockerOk(['push', ref(REPO, 'v1')]);
      const statuses = layerStatuses(push);
      expect([...statuses.keys()].sort(), describeResult(push)).toEqual(
        diffIds.map(shortId).sort(),
      );
      for (const status of statuses.values()) {
        expect(status, describeResult(push)).toBe('Layer already exists');
      }
      expect(pushedManifest(push).digest).toBe(pushedDigest);
    },
    STEP_TIMEOUT,
  );

  test(
    'pushing an image that shares layers into library/other mounts them from library/example-devops',
    async () => {
      expect(pushedLayers).toHaveLength(3);
      const context = path.join(work, 'context-other');
      await mkdir(context);
      await writeFile(
        path.join(context, 'extra.txt'),
        `one more layer ${randomBytes(8).toString('hex')}\n`,
      );
      await writeFile(
        path.join(context, 'Dockerfile'),
        `FROM ${ref(REPO, 'v1')}\nCOPY extra.txt /etc/extra.txt\n`,
      );
      await daemon().dockerOk(['build', '--tag', ref(OTHER, 'v1'), context], {
        timeoutMs: 120_000,
      });
      const other = await inspectImage(ref(OTHER, 'v1'));
      expect(other.RootFS.Layers.slice(0, diffIds.length)).toEqual(diffIds);
      expect(other.RootFS.Layers).toHaveLength(diffIds.length + 1);

      const push = await daemon().dockerOk(['push', ref(OTHER, 'v1')]);
      const statuses = layerStatuses(push);
      const own = other.RootFS.Layers[diffIds.length] ?? '';
      expect(statuses.get(shortId(own)), describeResult(push)).toBe('Pushed');
      // dockerd remembers where it pulled the shared layers from and asks for a cross-repository
      // mount; a registry that ignores `mount=` makes it upload them again ("Pushed").
      for (const diffId of diffIds) {
        expect(statuses.get(shortId(diffId)), describeResult(push)).toBe(`Mounted from ${REPO}`);
      }
      const { digest } = pushedManifest(push);

      const head = await headManifest(OTHER, 'v1');
      expect(head.status).toBe(200);
      expect(head.headers.get('docker-content-digest')).toBe(digest);
      const { parsed } = await getManifest(OTHER, 'v1');
      expect(parsed.layers).toHaveLength(diffIds.length + 1);
      expect(parsed.layers.slice(0, pushedLayers.length)).toEqual(pushedLayers);
      // The mounted blobs are now reachable through the new repository.
      for (const layer of parsed.layers) {
        const blob = await fetch(`${url}/v2/${OTHER}/blobs/${layer.digest}`, { method: 'HEAD' });
        expect(blob.status).toBe(200);
        expect(blob.headers.get('content-length')).toBe(String(layer.size));
      }
    },
    STEP_TIMEOUT,
  );

  test('docker pull of a tag that does not exist fails with "not found"', async () => {
    const pull = await daemon().docker(['pull', ref(REPO, 'no-such-tag')]);
    expect(pull.timedOut, describeResult(pull)).toBe(false);
    expect(pull.code, describeResult(pull)).not.toBe(0);
    expect(pull.output).toMatch(/not found|manifest unknown/i);
    expect(pull.output).toContain('no-such-tag');
  });

  test('docker push into a namespace that does not exist fails and names the command to create it', async () => {
    await daemon().dockerOk(['tag', ref(REPO, 'v1'), ref('nosuchns/app', 'v1')]);
    const push = await daemon().docker(['push', ref('nosuchns/app', 'v1')]);
    expect(push.timedOut, describeResult(push)).toBe(false);
    expect(push.code, describeResult(push)).not.toBe(0);
    expect(push.output).toContain('berth namespace create nosuchns');
    expect((await headManifest('nosuchns/app', 'v1')).status).toBe(404);
  });

  test(
    'docker manifest inspect --insecure shows the layers Berth stored',
    async (context) => {
      const help = await daemon().docker(['manifest', 'inspect', '--help']);
      if (help.code !== 0 || !help.output.includes('--insecure')) {
        context.skip(`this docker CLI has no "manifest inspect --insecure":\n${help.output}`);
      }
      const inspect = await daemon().dockerOk([
        'manifest',
        'inspect',
        '--insecure',
        ref(REPO, 'v1'),
      ]);
      const shown = JSON.parse(inspect.stdout) as ImageManifest;
      const { parsed } = await getManifest(REPO, 'v1');
      expect(shown.mediaType).toBe(parsed.mediaType);
      expect(shown.config.digest).toBe(imageId);
      expect(shown.layers).toEqual(parsed.layers);
      expect(shown.layers.map((l) => l.digest)).toEqual(pushedLayers.map((l) => l.digest));
    },
    STEP_TIMEOUT,
  );
});
