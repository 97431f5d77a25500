/**
 * Helpers that speak the distribution API with fetch, for building test content.
 */
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
export const DOCKER_LAYER = 'application/vnd.docker.image.rootfs.diff.tar.gzip';

export function sha256(data: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export function sha512(data: Uint8Array | string): string {
  return `sha512:${createHash('sha512').update(data).digest('hex')}`;
}

export function randomBlob(size: number): Buffer {
  return randomBytes(size);
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

export function descriptor(mediaType: string, data: Uint8Array | string): Descriptor {
  return { mediaType, digest: sha256(data), size: Buffer.byteLength(data) };
}

/** POST + PUT monolithic upload; returns the digest. Throws unless 201. */
export async function pushBlob(
  base: string,
  name: string,
  data: Uint8Array | string,
): Promise<string> {
  const digest = sha256(data);
  const post = await fetch(`${base}/v2/${name}/blobs/uploads/`, { method: 'POST' });
  if (post.status !== 202) throw new Error(`POST upload: ${post.status} ${await post.text()}`);
  const location = post.headers.get('location') ?? '';
  const put = await fetch(
    new URL(`${location}${location.includes('?') ? '&' : '?'}digest=${digest}`, base),
    {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream' },
      body: typeof data === 'string' ? data : new Uint8Array(data),
    },
  );
  if (put.status !== 201) throw new Error(`PUT upload: ${put.status} ${await put.text()}`);
  return digest;
}

export async function putManifest(
  base: string,
  name: string,
  reference: string,
  manifest: unknown,
  mediaType: string = OCI_MANIFEST,
): Promise<Response> {
  const body = typeof manifest === 'string' ? manifest : JSON.stringify(manifest);
  return fetch(`${base}/v2/${name}/manifests/${reference}`, {
    method: 'PUT',
    headers: { 'content-type': mediaType },
    body,
  });
}

export interface PushedImage {
  manifest: string;
  digest: string;
  config: string;
  layers: Buffer[];
}

/** Pushes a small OCI image (config + layers) and its manifest under `tag`. */
export async function pushImage(
  base: string,
  name: string,
  tag: string,
  options: { layers?: number; extra?: Record<string, unknown>; mediaTypes?: 'oci' | 'docker' } = {},
): Promise<PushedImage> {
  const docker = options.mediaTypes === 'docker';
  const config = JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    rootfs: { type: 'layers', diff_ids: [] },
    n: Math.random(),
  });
  await pushBlob(base, name, config);
  const layers = Array.from({ length: options.layers ?? 1 }, () => randomBlob(1024));
  for (const layer of layers) await pushBlob(base, name, layer);
  const manifestDoc = {
    schemaVersion: 2,
    mediaType: docker ? DOCKER_MANIFEST : OCI_MANIFEST,
    config: descriptor(docker ? DOCKER_CONFIG : OCI_CONFIG, config),
    layers: layers.map((l) => descriptor(docker ? DOCKER_LAYER : OCI_LAYER, l)),
    ...options.extra,
  };
  const manifest = JSON.stringify(manifestDoc);
  const res = await putManifest(base, name, tag, manifest, manifestDoc.mediaType);
  if (res.status !== 201) throw new Error(`PUT manifest: ${res.status} ${await res.text()}`);
  return { manifest, digest: sha256(manifest), config, layers };
}

export async function errorCode(res: Response): Promise<string | undefined> {
  const body = (await res.json()) as { errors?: { code?: string }[] };
  return body.errors?.[0]?.code;
}

/** GETs a blob with node:http (no buffering), hashing it as it arrives. */
export function pullBlobHashed(
  base: string,
  name: string,
  digest: string,
): Promise<{ status: number; digest: string; size: number }> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${base}/v2/${name}/blobs/${digest}`, { agent: false }, (res) => {
      const hash = createHash('sha256');
      let size = 0;
      res.on('data', (c: Buffer) => {
        hash.update(c);
        size += c.length;
      });
      res.on('error', reject);
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, digest: `sha256:${hash.digest('hex')}`, size });
      });
    });
    req.on('error', reject);
  });
}
