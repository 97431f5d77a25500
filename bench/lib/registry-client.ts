/**
 * The distribution API operations the scenarios time, written the way real clients send them:
 * monolithic (POST, then PUT with the body), single-POST (`POST ?digest=` with the body), chunked
 * (PATCHes with Content-Range, then PUT), streamed (one PATCH without Content-Range, as docker does)
 * and a pull that verifies the digest while reading.
 */
import { createHash } from 'node:crypto';
import type { Blob, BlobFactory } from './blobs.js';
import { expectStatus, HttpClient, type HttpResponse } from './http.js';

export const MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json';
export const MANIFEST_ACCEPT = [
  MANIFEST_TYPE,
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

const SMALL_TIMEOUT = 30_000;
/** Generous for one big body, yet bounded: 256 MiB at 10 MB/s. */
const BIG_TIMEOUT = 120_000;

export type SinglePostResult = 'created' | 'unsupported';

export class RegistryClient {
  readonly http: HttpClient;

  constructor(
    readonly baseUrl: string,
    private readonly blobs: BlobFactory,
    connections = 1,
  ) {
    this.http = new HttpClient(baseUrl, connections);
  }

  close(): void {
    this.http.close();
  }

  /** Path and query of an upload `Location` (absolute for Distribution, relative for Berth). */
  private uploadPath(res: HttpResponse, what: string, digest?: string): string {
    const location = res.headers.location;
    if (!location) throw new Error(`${what}: no Location header`);
    const url = new URL(location, this.baseUrl);
    if (digest !== undefined) url.searchParams.set('digest', digest);
    return `${url.pathname}${url.search}`;
  }

  async startUpload(repo: string): Promise<string> {
    const res = await this.http.request({
      method: 'POST',
      path: `/v2/${repo}/blobs/uploads/`,
      headers: { 'content-length': 0 },
      timeoutMs: SMALL_TIMEOUT,
    });
    expectStatus(res, `POST upload to ${repo}`, 202);
    return this.uploadPath(res, 'POST upload');
  }

  private async finish(location: string, blob: Blob, withBody: boolean): Promise<void> {
    const url = new URL(location, this.baseUrl);
    url.searchParams.set('digest', blob.digest);
    const res = await this.http.request({
      method: 'PUT',
      path: `${url.pathname}${url.search}`,
      headers: {
        'content-type': 'application/octet-stream',
        'content-length': withBody ? blob.size : 0,
      },
      ...(withBody ? { body: this.blobs.chunks(blob) } : {}),
      timeoutMs: withBody ? BIG_TIMEOUT : SMALL_TIMEOUT,
    });
    expectStatus(res, `PUT ${blob.id}`, 201);
    this.checkDigest(res, blob);
  }

  private checkDigest(res: HttpResponse, blob: Blob): void {
    const got = res.headers['docker-content-digest'];
    if (got !== undefined && got !== blob.digest) {
      throw new Error(`${blob.id}: server says ${String(got)}, expected ${blob.digest}`);
    }
  }

  /** POST, then PUT `?digest=` with the whole body. */
  async pushMonolithic(repo: string, blob: Blob): Promise<void> {
    const location = await this.startUpload(repo);
    await this.finish(location, blob, true);
  }

  /** `POST ?digest=` with the body. A 202 means the registry ignored the body (not supported). */
  async pushSinglePost(repo: string, blob: Blob): Promise<SinglePostResult> {
    const res = await this.http.request({
      method: 'POST',
      path: `/v2/${repo}/blobs/uploads/?digest=${encodeURIComponent(blob.digest)}`,
      headers: { 'content-type': 'application/octet-stream', 'content-length': blob.size },
      body: this.blobs.chunks(blob),
      timeoutMs: BIG_TIMEOUT,
    });
    if (res.status === 202) return 'unsupported';
    expectStatus(res, `single-POST ${blob.id}`, 201);
    this.checkDigest(res, blob);
    return 'created';
  }

  /** POST, PATCHes of `chunkSize` with Content-Range, then PUT `?digest=` without a body. */
  async pushChunked(repo: string, blob: Blob, chunkSize: number): Promise<void> {
    let location = await this.startUpload(repo);
    for (let start = 0; start < blob.size; start += chunkSize) {
      const end = Math.min(start + chunkSize, blob.size);
      const res = await this.http.request({
        method: 'PATCH',
        path: location,
        headers: {
          'content-type': 'application/octet-stream',
          'content-length': end - start,
          'content-range': `${start}-${end - 1}`,
        },
        body: this.blobs.chunks(blob, start, end),
        timeoutMs: BIG_TIMEOUT,
      });
      expectStatus(res, `PATCH ${blob.id} ${start}-${end - 1}`, 202);
      location = this.uploadPath(res, 'PATCH');
    }
    await this.finish(location, blob, false);
  }

  /** POST, one PATCH streaming the whole blob (chunked encoding, no Content-Range), PUT. */
  async pushStreamed(repo: string, blob: Blob): Promise<void> {
    const location = await this.startUpload(repo);
    const res = await this.http.request({
      method: 'PATCH',
      path: location,
      headers: { 'content-type': 'application/octet-stream' },
      body: this.blobs.chunks(blob),
      timeoutMs: BIG_TIMEOUT,
    });
    expectStatus(res, `PATCH ${blob.id}`, 202);
    await this.finish(this.uploadPath(res, 'PATCH'), blob, false);
  }

  /** GET the blob, hashing as it arrives; throws unless size and digest match. */
  async pullVerified(repo: string, blob: Blob): Promise<void> {
    const hash = createHash('sha256');
    let size = 0;
    const res = await this.http.request({
      method: 'GET',
      path: `/v2/${repo}/blobs/${blob.digest}`,
      onBody: (chunk) => {
        size += chunk.length;
        hash.update(chunk);
      },
      timeoutMs: BIG_TIMEOUT,
    });
    expectStatus(res, `GET ${blob.id}`, 200);
    const digest = `sha256:${hash.digest('hex')}`;
    if (size !== blob.size || digest !== blob.digest) {
      throw new Error(`GET ${blob.id}: got ${size} bytes ${digest}, expected ${blob.digest}`);
    }
  }

  /**
   * GET the first byte of the blob (`Range: bytes=0-0`). A Berth proxy answers a ranged GET only
   * once the blob is in its cache, so this waits for a fill the previous pull started.
   */
  async pullFirstByte(repo: string, blob: Blob): Promise<void> {
    const res = await this.http.request({
      method: 'GET',
      path: `/v2/${repo}/blobs/${blob.digest}`,
      headers: { range: 'bytes=0-0' },
      timeoutMs: BIG_TIMEOUT,
    });
    expectStatus(res, `GET ${blob.id} bytes=0-0`, 206);
    if (res.body.length !== 1 || res.body[0] !== blob.header[0]) {
      throw new Error(`GET ${blob.id} bytes=0-0: wrong byte (${res.body.length} bytes)`);
    }
  }

  async putManifest(repo: string, reference: string, body: Buffer): Promise<void> {
    const res = await this.http.request({
      method: 'PUT',
      path: `/v2/${repo}/manifests/${reference}`,
      headers: { 'content-type': MANIFEST_TYPE, 'content-length': body.length },
      body,
      timeoutMs: SMALL_TIMEOUT,
    });
    expectStatus(res, `PUT manifest ${repo}:${reference}`, 201);
  }

  async getJson(path: string): Promise<unknown> {
    const res = await this.http.request({ method: 'GET', path, timeoutMs: SMALL_TIMEOUT });
    expectStatus(res, `GET ${path}`, 200);
    return JSON.parse(res.body.toString('utf8')) as unknown;
  }

  async getManifest(
    repo: string,
    reference: string,
    method: 'GET' | 'HEAD',
  ): Promise<HttpResponse> {
    const res = await this.http.request({
      method,
      path: `/v2/${repo}/manifests/${reference}`,
      headers: { accept: MANIFEST_ACCEPT },
      timeoutMs: SMALL_TIMEOUT,
    });
    expectStatus(res, `${method} manifest ${repo}:${reference}`, 200);
    return res;
  }
}

/** An OCI image manifest over a config and its layers; `annotation` makes each one distinct. */
export function imageManifest(
  config: Blob,
  layers: Blob | readonly Blob[],
  annotation: string,
): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MANIFEST_TYPE,
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: config.digest,
        size: config.size,
      },
      layers: ('digest' in layers ? [layers] : layers).map((layer) => ({
        mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
        digest: layer.digest,
        size: layer.size,
      })),
      annotations: { 'org.example.bench': annotation },
    }),
  );
}
