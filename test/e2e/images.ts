/**
 * Offline test images for the real-client e2e tests. Images are OCI image layouts built with umoci,
 * so every layer is a real gzip'd tar made by a real tool; multi-platform indexes are written by
 * hand because umoci has no command for them. Also: running the client tools, and reading back
 * what skopeo wrote to `oci:` and `dir:` destinations.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';

export interface Platform {
  architecture: string;
  os: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
}

export interface ImageManifest {
  schemaVersion: number;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
}

export interface ImageIndex {
  schemaVersion: number;
  mediaType?: string;
  manifests: Descriptor[];
}

/** A manifest as stored: the exact bytes (which the digest covers) and their parsed form. */
export interface StoredManifest<T> {
  digest: string;
  raw: Buffer;
  parsed: T;
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion and collects its output; never throws on a non-zero exit. */
export function run(
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.once('error', reject);
    child.once('close', (code) => {
      resolve({
        code,
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
      });
    });
  });
}

/** Like `run`, but a non-zero exit is an error that shows the command and everything it printed. */
export async function runOk(
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<RunResult> {
  const result = await run(command, args, env);
  if (result.code !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} exited with ${String(result.code)}\n` +
        `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`,
    );
  }
  return result;
}

export function sha256(data: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Streams a file through SHA-256, so large layers are never held in memory. */
export async function fileSha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return `sha256:${hash.digest('hex')}`;
}

/** Writes `size` random (incompressible) bytes to `file`, 1 MiB at a time. */
export async function writeRandomFile(file: string, size: number): Promise<void> {
  const chunk = 1024 * 1024;
  function* chunks(): Generator<Buffer> {
    for (let left = size; left > 0; left -= chunk) yield randomBytes(Math.min(chunk, left));
  }
  await pipeline(Readable.from(chunks()), createWriteStream(file));
}

/** The OCI architecture name of this machine, so podman pulls without a platform mismatch. */
export function hostArchitecture(): string {
  const names: Partial<Record<string, string>> = { x64: 'amd64', arm64: 'arm64', ppc64: 'ppc64le' };
  return names[process.arch] ?? process.arch;
}

// umoci refuses to create files owned by other users unless told it runs unprivileged.
const umociRootless = process.getuid?.() === 0 ? [] : ['--rootless'];

export async function initLayout(layout: string): Promise<void> {
  await runOk('umoci', ['init', '--layout', layout]);
}

export interface ImageSpec {
  tag: string;
  platform: Platform;
  /** One layer per entry, in order: path in the image → contents, or `{ file }` to stream a file. */
  layers: [string, string | Uint8Array | { file: string }][];
}

/**
 * Adds an image to an existing OCI layout with umoci: `new`, `config` for the platform, then one
 * `insert` per layer (each insert makes a real gzip'd tar layer). Returns its manifest.
 */
export async function buildImage(
  layout: string,
  spec: ImageSpec,
): Promise<StoredManifest<ImageManifest>> {
  const ref = `${layout}:${spec.tag}`;
  await runOk('umoci', ['new', '--image', ref]);
  await runOk('umoci', [
    'config',
    '--image',
    ref,
    '--architecture',
    spec.platform.architecture,
    '--os',
    spec.platform.os,
  ]);
  const staging = await mkdtemp(`${layout}-staging-`);
  try {
    for (const [index, [target, content]] of spec.layers.entries()) {
      let source: string;
      if (typeof content === 'object' && 'file' in content) {
        source = content.file;
      } else {
        source = path.join(staging, String(index));
        await writeFile(source, content);
      }
      await runOk('umoci', ['insert', ...umociRootless, '--image', ref, source, target]);
    }
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  return readLayoutManifest<ImageManifest>(layout, spec.tag);
}

export function blobPath(layout: string, digest: string): string {
  const [algorithm, hex] = digest.split(':');
  if (!algorithm || !hex) throw new Error(`not a digest: ${digest}`);
  return path.join(layout, 'blobs', algorithm, hex);
}

async function readIndexJson(layout: string): Promise<ImageIndex> {
  return JSON.parse(await readFile(path.join(layout, 'index.json'), 'utf8')) as ImageIndex;
}

/** The manifest (image or index) that `tag` names in an OCI layout's index.json. */
export async function readLayoutManifest<T>(
  layout: string,
  tag: string,
): Promise<StoredManifest<T>> {
  const index = await readIndexJson(layout);
  // Later entries win: umoci re-points a tag by appending, and skopeo writes one entry per tag.
  const entry = index.manifests
    .filter((d) => d.annotations?.['org.opencontainers.image.ref.name'] === tag)
    .at(-1);
  if (!entry) throw new Error(`no tag ${tag} in ${layout}`);
  return readLayoutBlobManifest<T>(layout, entry.digest);
}

export async function readLayoutBlobManifest<T>(
  layout: string,
  digest: string,
): Promise<StoredManifest<T>> {
  const raw = await readFile(blobPath(layout, digest));
  return { digest, raw, parsed: JSON.parse(raw.toString()) as T };
}

/**
 * Writes an OCI image index over images already in the layout (each with its platform) and tags
 * it, as `docker buildx` would produce for a multi-platform build.
 */
export async function addIndex(
  layout: string,
  tag: string,
  children: { tag: string; platform: Platform }[],
): Promise<StoredManifest<ImageIndex>> {
  const manifests: Descriptor[] = [];
  for (const child of children) {
    const m = await readLayoutManifest<ImageManifest>(layout, child.tag);
    manifests.push({
      mediaType: OCI_MANIFEST,
      digest: m.digest,
      size: m.raw.length,
      platform: child.platform,
    });
  }
  const index: ImageIndex = { schemaVersion: 2, mediaType: OCI_INDEX, manifests };
  const raw = Buffer.from(JSON.stringify(index));
  const digest = sha256(raw);
  await mkdir(path.dirname(blobPath(layout, digest)), { recursive: true });
  await writeFile(blobPath(layout, digest), raw);
  const top = await readIndexJson(layout);
  top.manifests.push({
    mediaType: OCI_INDEX,
    digest,
    size: raw.length,
    annotations: { 'org.opencontainers.image.ref.name': tag },
  });
  await writeFile(path.join(layout, 'index.json'), JSON.stringify(top));
  return { digest, raw, parsed: index };
}

/** A skopeo `dir:` destination: `manifest.json` plus one file per blob, named by its hex digest. */
export async function readDirImage(dir: string): Promise<StoredManifest<ImageManifest>> {
  const raw = await readFile(path.join(dir, 'manifest.json'));
  return { digest: sha256(raw), raw, parsed: JSON.parse(raw.toString()) as ImageManifest };
}

export function dirBlobPath(dir: string, digest: string): string {
  return path.join(dir, digest.slice(digest.indexOf(':') + 1));
}
