/**
 * Helpers for the reproduction of the OCI distribution-spec conformance suite
 * (test/http/conformance-*.test.ts): a client that puts on the wire what Go's net/http puts there,
 * the suite's test-data generator, and its API operations with the checks the suite makes.
 *
 * "Skip" in the real suite: a check that fails with `errRegUnsupported` is recorded as Skip, not
 * Fail (a 202 instead of 201 on a monolithic POST or a mount, 400/405 on DELETE, a 200 for a
 * range request, a missing OCI-Tag or OCI-Filters-Applied header). We want 0 skipped, so every
 * such condition is a failure here; each place is marked with a `SKIP in the real suite` comment.
 */
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { expect } from 'vitest';
import { metaForTestRun } from '../helpers/postgres.js';
import { startReplicaSet } from '../helpers/replicas.js';
import { ADMIN_PASSWORD, startServer, type TestServer } from '../helpers/server.js';

export const REPO1 = 'conformance/repo1';
export const REPO2 = 'conformance/repo2';

export const MT = {
  exampleConf1: 'application/vnd.example.oci.conformance.v1',
  exampleConf2: 'application/vnd.example.oci.conformance.v2',
  octetStream: 'application/octet-stream',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociImage: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGz: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerNd: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  ociLayerNdGz: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  ociEmptyJSON: 'application/vnd.oci.empty.v1+json',
} as const;

const LAYER_PREFIX = 'application/vnd.oci.image.layer.v1.';

/** The suite never uses chunks below 1024 bytes, whatever OCI-Chunk-Min-Length says. */
export const CHUNK_MIN = 1024;

/** Error codes the Ginkgo suite accepts in an error body. */
export const SPEC_ERROR_CODES = [
  'BLOB_UNKNOWN',
  'BLOB_UPLOAD_INVALID',
  'BLOB_UPLOAD_UNKNOWN',
  'DIGEST_INVALID',
  'MANIFEST_BLOB_UNKNOWN',
  'MANIFEST_INVALID',
  'MANIFEST_UNKNOWN',
  'MANIFEST_UNVERIFIED',
  'NAME_INVALID',
  'NAME_UNKNOWN',
  'SIZE_INVALID',
  'TAG_INVALID',
  'UNAUTHORIZED',
  'DENIED',
  'UNSUPPORTED',
] as const;

// ── the two runs: auth off, and with credentials ──────────────────────────────────────────

/**
 * Every conformance file runs twice: against a server with auth off, and against one with auth
 * on, where the client signs in as the admin through the token realm as the Go suite does
 * (OCI_USERNAME/OCI_PASSWORD). Both runs must give the same result.
 */
export const SUITE_MODES = [
  { mode: 'auth off', auth: false },
  { mode: 'auth on (admin through the token realm)', auth: true },
] as const;

/**
 * A fresh server with the `conformance` namespace, and the suite's client for it; its metadata on
 * PostgreSQL in the `http-postgres` project (vitest.config.ts), in SQLite otherwise.
 */
export async function startConformanceServer(
  auth: boolean,
): Promise<{ server: TestServer; client: Client }> {
  if (process.env['BERTH_TEST_TOPOLOGY'] === 'replicas') return startConformanceReplicas(auth);
  const meta = await metaForTestRun();
  const started = await startServer({
    auth,
    configure: (config) => {
      if (meta.url !== undefined) config.meta = meta.url;
    },
  }).catch(async (e: unknown) => {
    await meta.drop();
    throw e;
  });
  const server: TestServer = {
    ...started,
    async close() {
      await started.close();
      await meta.drop();
    },
  };
  // The PostgreSQL run really is one: no SQLite file appeared in the data directory.
  if (meta.url !== undefined)
    expect(existsSync(path.join(server.dataDir, 'meta.sqlite'))).toBe(false);
  await server.app.registry.namespaces.create('conformance');
  const credentials = auth ? { username: 'admin', password: ADMIN_PASSWORD } : undefined;
  return { server, client: new Client(server.url, credentials) };
}

/**
 * The `http-replicas` project: three replicas on PostgreSQL and Ceph RGW behind nginx, the
 * client talking to nginx. `server.app` is the first replica's (for set-up only).
 */
async function startConformanceReplicas(
  auth: boolean,
): Promise<{ server: TestServer; client: Client }> {
  const set = await startReplicaSet({ count: 3, auth });
  const [first] = set.replicas;
  if (!first) throw new Error('no replica started');
  const server: TestServer = {
    url: set.url,
    host: set.host,
    dataDir: first.dataDir,
    app: first.app,
    close: () => set.close(),
  };
  await first.app.registry.namespaces.create('conformance');
  const credentials = auth ? { username: 'admin', password: ADMIN_PASSWORD } : undefined;
  return { server, client: new Client(server.url, credentials) };
}

/**
 * The proof that the auth run was one: the same server refuses a request without credentials,
 * and the client really fetched tokens from the realm and reused cached ones.
 */
export async function expectAuthWasUsed(server: TestServer, client: Client): Promise<void> {
  const anonymous = await send('GET', new URL('/v2/', server.url));
  expectStatus(anonymous, 401);
  expect(parseChallenge(anonymous.headers.get('www-authenticate'))?.scheme).toBe('bearer');
  expect(client.authStats.tokens, 'tokens fetched from the realm').toBeGreaterThan(0);
  expect(client.authStats.cachedHits, 'requests sent with a cached token').toBeGreaterThan(0);
}

// ── digests and random content ──────────────────────────────────────────────────────────────

export type Algo = 'sha256' | 'sha512';

export function digestOf(data: Uint8Array | string, algo: Algo = 'sha256'): string {
  return `${algo}:${createHash(algo).update(data).digest('hex')}`;
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** Go's `rand.Text()`: 26 random base32 characters. */
export function randText(): string {
  return Array.from(randomBytes(26), (b) => BASE32[b % 32] ?? 'A').join('');
}

/** A one-file tar archive, like the layers the suite generates. */
function tarFile(name: string, content: Buffer): Buffer {
  const header = Buffer.alloc(512);
  const octal = (value: number, width: number): string =>
    `${value.toString(8).padStart(width - 1, '0')}\0`;
  header.write(name, 0, 100, 'utf8');
  header.write(octal(0o644, 8), 100);
  header.write(octal(0, 8), 108);
  header.write(octal(0, 8), 116);
  header.write(octal(content.length, 12), 124);
  header.write(octal(0, 12), 136);
  header.write('        ', 148);
  header.write('0', 156);
  header.write('ustar\0', 257);
  header.write('00', 263);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  const padding = Buffer.alloc((512 - (content.length % 512)) % 512);
  return Buffer.concat([header, content, padding, Buffer.alloc(1024)]);
}

// ── a Go-like HTTP client ───────────────────────────────────────────────────────────────────

export interface Reply {
  method: string;
  url: URL;
  status: number;
  headers: Headers;
  body: Buffer;
}

export interface SendOptions {
  /** Repeated keys become repeated header lines (fetch joins them with ", "). */
  headers?: readonly (readonly [string, string])[];
  /** Sent with an exact Content-Length, as `apiWithContentLength(n)` does. */
  body?: Uint8Array;
  /**
   * Sent with `Transfer-Encoding: chunked` and no Content-Length: what Go does for the manifest
   * PUTs and the streamed PATCH, whose length it does not know.
   */
  chunked?: Uint8Array;
}

export async function send(method: string, url: URL, options: SendOptions = {}): Promise<Reply> {
  if (options.chunked?.length === 0) return sendEmptyChunked(method, url, options);
  const headers = new Headers();
  for (const [key, value] of options.headers ?? []) headers.append(key, value);
  const init: RequestInit = { method, headers };
  if (options.chunked !== undefined) {
    const data = options.chunked;
    init.body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new Uint8Array(data));
        controller.close();
      },
    });
    init.duplex = 'half';
  } else if (options.body !== undefined) {
    init.body = new Uint8Array(options.body);
  }
  const res = await fetch(url, init);
  return {
    method,
    url,
    status: res.status,
    headers: res.headers,
    body: Buffer.from(await res.arrayBuffer()),
  };
}

/**
 * fetch turns an empty stream into `Content-Length: 0`, so an empty chunked body (`0\r\n\r\n`)
 * needs node:http.
 */
function sendEmptyChunked(method: string, url: URL, options: SendOptions): Promise<Reply> {
  const headers: Record<string, string> = { 'transfer-encoding': 'chunked' };
  for (const [key, value] of options.headers ?? []) {
    const previous = headers[key.toLowerCase()];
    headers[key.toLowerCase()] = previous === undefined ? value : `${previous}, ${value}`;
  }
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        resolve({
          method,
          url,
          status: res.statusCode ?? 0,
          headers: toHeaders(res.headers),
          body: Buffer.concat(chunks),
        });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

function toHeaders(raw: IncomingHttpHeaders): Headers {
  const headers = new Headers();
  for (const [key, value] of Object.entries(raw)) {
    if (Array.isArray(value)) for (const v of value) headers.append(key, v);
    else if (value !== undefined) headers.append(key, value);
  }
  return headers;
}

/** The options with an Authorization header added (none when `authorization` is undefined). */
function withAuthorization(options: SendOptions, authorization: string | undefined): SendOptions {
  if (authorization === undefined) return options;
  return { ...options, headers: [...(options.headers ?? []), ['authorization', authorization]] };
}

/** Go's `url.QueryEscape`. */
function goQueryEscape(value: string): string {
  return encodeURIComponent(value)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+');
}

/**
 * `u.Query(); q.Set|Add(key, value); u.RawQuery = q.Encode()`: existing parameters are kept, keys
 * come out sorted and values percent-encoded (`digest=sha256%3A…`).
 */
export function withParam(url: URL, key: string, value: string, mode: 'set' | 'add' = 'set'): URL {
  const pairs = [...url.searchParams].filter(([k]) => mode === 'add' || k !== key);
  pairs.push([key, value]);
  const sorted = pairs
    .map((pair, i) => ({ pair, i }))
    .sort((a, b) => (a.pair[0] < b.pair[0] ? -1 : a.pair[0] > b.pair[0] ? 1 : a.i - b.i))
    .map(({ pair }) => `${goQueryEscape(pair[0])}=${goQueryEscape(pair[1])}`);
  const next = new URL(url);
  next.search = `?${sorted.join('&')}`;
  return next;
}

/** One line describing an exchange, for assertion messages (error bodies included). */
export function show(r: Reply): string {
  const text =
    r.status >= 400 && r.body.length > 0 && r.body.length <= 500 ? ` ${r.body.toString()}` : '';
  return `${r.method} ${r.url.pathname}${r.url.search} → ${r.status}${text}`;
}

export function expectStatus(r: Reply, ...codes: number[]): void {
  expect(r.status, `${show(r)} (expected ${codes.join(' or ')})`).toBeOneOf(codes);
}

/** Like `apiExpectHeader(key, value)`: exact equality (the header must be present). */
export function expectHeader(r: Reply, key: string, value: string): void {
  expect(r.headers.get(key), `${show(r)}: header ${key}`).toBe(value);
}

/** Like `apiExpectHeader(key, "")`: only presence. */
export function expectHeaderPresent(r: Reply, key: string): string {
  const value = r.headers.get(key);
  expect(value, `${show(r)}: header ${key} must be present`).not.toBeNull();
  return value ?? '';
}

export function expectBody(r: Reply, body: Uint8Array): void {
  const same = r.body.equals(body);
  expect(
    same,
    `${show(r)}: body differs (${r.body.length} bytes received, ${body.length} expected)`,
  ).toBe(true);
}

/** `{"errors":[{"code": …}]}`; with `codes`, errors[0].code must be one of them. */
export function expectErrorBody(r: Reply, codes?: readonly string[]): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(r.body.toString());
  } catch {
    parsed = undefined;
  }
  const errors = (parsed as { errors?: unknown } | undefined)?.errors;
  expect(Array.isArray(errors) && errors.length > 0, `${show(r)}: error body`).toBe(true);
  const code = (errors as { code?: unknown }[])[0]?.code;
  expect(typeof code, `${show(r)}: errors[0].code`).toBe('string');
  if (codes) expect(code, `${show(r)}: errors[0].code`).toBeOneOf([...codes]);
  return String(code);
}

/**
 * Collects failures so that one test goes on after a failed step and reports every failed step,
 * as the suite's `errors.Join` does.
 */
export class Failures {
  private readonly errors: string[] = [];

  async check(label: string, fn: () => Promise<unknown>): Promise<boolean> {
    try {
      await fn();
      return true;
    } catch (err) {
      this.errors.push(`${label}: ${err instanceof Error ? err.message : String(err)}`);
      return false;
    }
  }

  assertNone(): void {
    expect(this.errors).toEqual([]);
  }
}

// ── the suite's API operations ──────────────────────────────────────────────────────────────

const MANIFEST_ACCEPT = [
  ['accept', MT.ociIndex],
  ['accept', MT.ociImage],
] as const;

const OCTET = [['content-type', MT.octetStream]] as const;

export interface Index {
  schemaVersion?: number;
  mediaType?: string;
  manifests?: Descriptor[];
}

/** A user name and password, which the suite's client trades for tokens at the realm. */
export interface Credentials {
  username: string;
  password: string;
}

/** The parameters of a `WWW-Authenticate` challenge the suite understands. */
export interface Challenge {
  scheme: 'bearer' | 'basic';
  realm: string;
  service: string;
  scope: string;
}

/**
 * Reads a challenge the way the suite does: the scheme is whichever of Bearer or Basic the header
 * names, and only double-quoted `key="value"` parameters count.
 */
export function parseChallenge(header: string | null): Challenge | undefined {
  if (header === null) return undefined;
  const scheme = /(bearer|basic)/i.exec(header)?.[1]?.toLowerCase();
  if (scheme !== 'bearer' && scheme !== 'basic') return undefined;
  const params = new Map<string, string>();
  for (const m of header.matchAll(/([A-Za-z]+)="(.+?)"/g)) {
    if (m[1] !== undefined && m[2] !== undefined) params.set(m[1].toLowerCase(), m[2]);
  }
  return {
    scheme,
    realm: params.get('realm') ?? '',
    service: params.get('service') ?? '',
    scope: params.get('scope') ?? '',
  };
}

/**
 * The suite caches one Authorization per host, repository and action: GET/HEAD pull,
 * POST/PATCH/PUT push, DELETE delete (a mount's `from` does not change the key).
 */
export function authCacheKey(method: string, url: URL): string {
  const repo =
    url.pathname === '/v2/'
      ? ''
      : (/^\/v2\/(.+?)\/(?:blobs|manifests|tags|referrers)\//.exec(url.pathname)?.[1] ??
        url.pathname);
  const action =
    method === 'GET' || method === 'HEAD'
      ? 'pull'
      : method === 'POST' || method === 'PATCH' || method === 'PUT'
        ? 'push'
        : method.toLowerCase();
  return `${url.host}:${repo}:${action}`;
}

export class Client {
  /** Authorization header values by {@link authCacheKey}. */
  private readonly authCache = new Map<string, string>();
  /** What the auth mode did, so a suite can prove its requests really went through the realm. */
  readonly authStats = { challenges: 0, tokens: 0, cachedHits: 0 };

  /** Without credentials the client never authenticates (a server with auth off). */
  constructor(
    readonly base: string,
    readonly credentials?: Credentials,
  ) {}

  /**
   * `send`, plus the suite's auth: a cached Authorization for the same host/repo/action goes
   * out with the request; a 401 with a challenge gets a new one (Basic, or a token from the
   * Bearer realm with the challenge's service and scope) and the request is sent once more.
   */
  async send(method: string, url: URL, options: SendOptions = {}): Promise<Reply> {
    if (!this.credentials) return send(method, url, options);
    const key = authCacheKey(method, url);
    const cached = this.authCache.get(key);
    if (cached !== undefined) this.authStats.cachedHits++;
    const first = await send(method, url, withAuthorization(options, cached));
    if (first.status !== 401) return first;
    const challenge = parseChallenge(first.headers.get('www-authenticate'));
    if (!challenge) {
      throw new Error(`${show(first)}: a 401 without a Bearer or Basic challenge`);
    }
    this.authStats.challenges++;
    const authorization = await this.authorizationFor(challenge, url, this.credentials);
    this.authCache.set(key, authorization);
    return send(method, url, withAuthorization(options, authorization));
  }

  private async authorizationFor(
    challenge: Challenge,
    requestUrl: URL,
    credentials: Credentials,
  ): Promise<string> {
    const basic = `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
    if (challenge.scheme === 'basic') return basic;
    const realm = new URL(challenge.realm, requestUrl);
    // url.Values{}.Encode(): only service and scope, sorted, whatever the realm URL carried.
    const params: [string, string][] = [];
    if (challenge.scope !== '') params.push(['scope', challenge.scope]);
    params.push(['service', challenge.service]);
    realm.search = `?${params.map(([k, v]) => `${k}=${goQueryEscape(v)}`).join('&')}`;
    const reply = await send('GET', realm, {
      headers: [
        ['accept', 'application/json'],
        ['authorization', basic],
      ],
    });
    if (reply.status !== 200) throw new Error(`${show(reply)}: token request refused`);
    const parsed = JSON.parse(reply.body.toString()) as { token?: unknown; access_token?: unknown };
    const token =
      typeof parsed.access_token === 'string' && parsed.access_token !== ''
        ? parsed.access_token
        : parsed.token;
    if (typeof token !== 'string' || token === '') {
      throw new Error(`${show(reply)}: no token in the realm's answer`);
    }
    this.authStats.tokens++;
    return `Bearer ${token}`;
  }

  url(path: string): URL {
    return new URL(path, this.base);
  }

  uploadsUrl(repo: string): URL {
    return this.url(`/v2/${repo}/blobs/uploads/`);
  }

  /** Docker-Content-Digest: required when `required` (dev), equal to `dig` whenever present. */
  verifyDigest(r: Reply, dig: string, required: boolean): void {
    const header = r.headers.get('docker-content-digest');
    if (required) expect(header, `${show(r)}: Docker-Content-Digest is required`).not.toBeNull();
    if (header !== null) expect(header, `${show(r)}: Docker-Content-Digest`).toBe(dig);
  }

  /** GET the Location of a finished upload: 200 and exactly the blob. */
  async blobVerifyLocation(base: URL, loc: string, body: Uint8Array): Promise<void> {
    expect(loc, 'location header missing').not.toBe('');
    const r = await this.send('GET', new URL(loc, base));
    expectStatus(r, 200);
    expectBody(r, body);
  }

  /**
   * PUT of a blob with a known length. A 0-byte blob goes chunked with an empty body (the brief's
   * reading of Go's transfer rules), unless `zeroAsLength`.
   */
  private blobBody(body: Uint8Array, zeroAsLength = false): SendOptions {
    return body.length === 0 && !zeroAsLength
      ? { headers: OCTET, chunked: body }
      : { headers: OCTET, body };
  }

  /** "post only": `POST /uploads/?digest=` with the blob. */
  async blobPostOnly(
    repo: string,
    dig: string,
    body: Uint8Array,
    options: { badDigest?: boolean; zeroAsLength?: boolean } = {},
  ): Promise<void> {
    const u = withParam(this.uploadsUrl(repo), 'digest', dig);
    const r = await this.send('POST', u, this.blobBody(body, options.zeroAsLength));
    if (options.badDigest) {
      // SKIP in the real suite: a 202 is accepted there, followed by a PUT that must give 400.
      expectStatus(r, 400);
      return;
    }
    // SKIP in the real suite: a 202 (no single-POST upload) falls back to a PUT and is Skip.
    expectStatus(r, 201);
    const loc = expectHeaderPresent(r, 'location');
    this.verifyDigest(r, dig, true);
    await this.blobVerifyLocation(u, loc, body);
  }

  /** "post+put": bare POST, then `PUT <loc>?digest=` with the blob. */
  async blobPostPut(
    repo: string,
    dig: string,
    body: Uint8Array,
    options: { badDigest?: boolean; zeroAsLength?: boolean } = {},
  ): Promise<void> {
    const post = await this.send('POST', this.uploadsUrl(repo));
    expectStatus(post, 202);
    const loc = expectHeaderPresent(post, 'location');
    const u = withParam(new URL(loc, post.url), 'digest', dig);
    const put = await this.send('PUT', u, this.blobBody(body, options.zeroAsLength));
    if (options.badDigest) {
      expectStatus(put, 400);
      return;
    }
    expectStatus(put, 201);
    this.verifyDigest(put, dig, true);
    await this.blobVerifyLocation(u, put.headers.get('location') ?? '', body);
  }

  /** "stream": POST, one chunked PATCH without Content-Range, `PUT ?digest=` with no body. */
  async blobPatchStream(
    repo: string,
    dig: string,
    body: Uint8Array,
    options: { badDigest?: boolean } = {},
  ): Promise<void> {
    const post = await this.send('POST', this.uploadsUrl(repo));
    expectStatus(post, 202);
    let loc = expectHeaderPresent(post, 'location');
    const patch = await this.send('PATCH', new URL(loc, post.url), {
      headers: OCTET,
      chunked: body,
    });
    expectStatus(patch, 202);
    loc = expectHeaderPresent(patch, 'location');
    const u = withParam(new URL(loc, patch.url), 'digest', dig);
    const put = await this.send('PUT', u, { headers: OCTET });
    if (options.badDigest) {
      expectStatus(put, 400);
      return;
    }
    expectStatus(put, 201);
    loc = expectHeaderPresent(put, 'location');
    this.verifyDigest(put, dig, true);
    await this.blobVerifyLocation(u, loc, body);
  }

  /**
   * "chunked …": POST, PATCHes with `Content-Range: a-b`, then `PUT ?digest=` (or the last chunk
   * sent by that PUT). Out of order: before each good chunk a wrong one (416 expected), then a GET
   * of the same upload URL (204, `Range: 0-<last good byte>`). Returns OCI-Chunk-Min-Length.
   */
  async blobPatchChunked(
    repo: string,
    dig: string,
    body: Uint8Array,
    flags: { putLastChunk?: boolean; outOfOrder?: boolean; badDigest?: boolean } = {},
  ): Promise<string> {
    let minHeader = '';
    const track = (r: Reply): Reply => {
      minHeader = r.headers.get('oci-chunk-min-length') ?? minHeader;
      return r;
    };
    const post = track(await this.send('POST', this.uploadsUrl(repo)));
    expectStatus(post, 202);
    let loc = post.headers.get('location') ?? '';
    let u = post.url;
    let chunkSize = Math.floor(body.length / 3) + 1;
    if (minHeader !== '') {
      const min = Number(minHeader);
      expect(Number.isInteger(min), `OCI-Chunk-Min-Length "${minHeader}"`).toBe(true);
      if (min > chunkSize) chunkSize = min;
    }
    chunkSize = Math.min(Math.max(chunkSize, CHUNK_MIN), body.length);
    let final: Reply | undefined;
    let lastByte = -1;
    while (lastByte < body.length - 1) {
      if (flags.outOfOrder) {
        expect(loc, 'blob request did not return a location').not.toBe('');
        u = new URL(loc, u);
        let badStart = lastByte + 1 + chunkSize;
        if (badStart >= body.length) badStart = 0;
        const badEnd = Math.min(badStart + chunkSize - 1, body.length - 1);
        let method = 'PATCH';
        if (flags.putLastChunk && badEnd === body.length - 1) {
          method = 'PUT';
          u = withParam(u, 'digest', dig);
        }
        const bad = track(
          await this.send(method, u, {
            headers: [...OCTET, ['content-range', `${badStart}-${badEnd}`]],
            body: body.subarray(badStart, badEnd + 1),
          }),
        );
        // The 416 comes before any digest check, and the session must survive it.
        expectStatus(bad, 416);
        loc = bad.headers.get('location') ?? loc;
        // Recover with a GET of the same URL (it may carry ?digest=…).
        const status = track(await this.send('GET', u));
        expectStatus(status, 204);
        loc = status.headers.get('location') ?? loc;
        const range = status.headers.get('range') ?? '';
        expect(
          range.startsWith('0-'),
          `${show(status)}: Range "${range}" needs the 0- prefix`,
        ).toBe(true);
        const rangeLast = Number(range.slice(2));
        expect(Number.isInteger(rangeLast), `${show(status)}: Range "${range}"`).toBe(true);
        if (lastByte >= 0) expect(range, `${show(status)}: Range`).toBe(`0-${lastByte}`);
      }
      expect(loc, 'blob request did not return a location').not.toBe('');
      u = new URL(loc, u);
      const start = lastByte + 1;
      lastByte = Math.min(start + chunkSize - 1, body.length - 1);
      const isLast = lastByte === body.length - 1;
      const chunk = {
        headers: [...OCTET, ['content-range', `${start}-${lastByte}`]] as const,
        body: body.subarray(start, lastByte + 1),
      };
      if (flags.putLastChunk && isLast) {
        u = withParam(u, 'digest', dig);
        final = track(await this.send('PUT', u, chunk));
        if (flags.badDigest) {
          expectStatus(final, 400);
          return minHeader;
        }
        expectStatus(final, 201);
        loc = final.headers.get('location') ?? loc;
      } else {
        const patch = track(await this.send('PATCH', u, chunk));
        expectStatus(patch, 202);
        loc = patch.headers.get('location') ?? loc;
      }
    }
    if (!flags.putLastChunk) {
      expect(loc, 'blob patch did not return a location').not.toBe('');
      u = withParam(new URL(loc, u), 'digest', dig);
      final = track(await this.send('PUT', u, { headers: OCTET }));
      if (flags.badDigest) {
        expectStatus(final, 400);
        return minHeader;
      }
      expectStatus(final, 201);
      loc = final.headers.get('location') ?? loc;
    }
    if (final) this.verifyDigest(final, dig, true);
    await this.blobVerifyLocation(u, loc, body);
    return minHeader;
  }

  /**
   * `POST /uploads/?mount=<d>[&from=<source>]`. 201 is a mount; 202 falls back to a PUT of the
   * blob on the returned session (the caller decides whether that fallback is right).
   */
  async blobMount(
    repo: string,
    source: string,
    dig: string,
    body: Uint8Array,
  ): Promise<'mounted' | 'fallback'> {
    let u = withParam(this.uploadsUrl(repo), 'mount', dig);
    if (source !== '') u = withParam(u, 'from', source);
    const post = await this.send('POST', u);
    expectStatus(post, 201, 202);
    let loc = expectHeaderPresent(post, 'location');
    let last = post;
    if (post.status === 202) {
      u = withParam(new URL(loc, u), 'digest', dig);
      const put = await this.send('PUT', u, this.blobBody(body));
      expectStatus(put, 201);
      loc = put.headers.get('location') ?? loc;
      last = put;
    }
    // The suite passes no RequireDigestHeader here: checked only when present.
    this.verifyDigest(last, dig, false);
    await this.blobVerifyLocation(u, loc, body);
    return post.status === 201 ? 'mounted' : 'fallback';
  }

  /** "post cancel": POST, then DELETE of the upload URL → 204. */
  async blobPostCancel(repo: string): Promise<void> {
    const post = await this.send('POST', this.uploadsUrl(repo));
    expectStatus(post, 202);
    const loc = expectHeaderPresent(post, 'location');
    const del = await this.send('DELETE', new URL(loc, post.url));
    expectStatus(del, 204);
  }

  /**
   * The suite's TestPushBlobAny once every upload API has passed: post+put, post only, stream,
   * chunked, first success wins. Each failed attempt is a FAIL in the real suite, so it is
   * recorded in `failures`.
   */
  async pushBlobAny(
    failures: Failures,
    repo: string,
    dig: string,
    body: Uint8Array,
  ): Promise<boolean> {
    const attempts: [string, () => Promise<unknown>][] = [
      ['blob-post-put', () => this.blobPostPut(repo, dig, body)],
      ['blob-post-only', () => this.blobPostOnly(repo, dig, body)],
      ['blob-patch-stream', () => this.blobPatchStream(repo, dig, body)],
      ['blob-patch-chunked', () => this.blobPatchChunked(repo, dig, body)],
    ];
    for (const [name, attempt] of attempts) {
      if (await failures.check(`${name} ${repo} ${dig}`, attempt)) return true;
    }
    return false;
  }

  blobRequest(method: string, repo: string, dig: string, headers?: [string, string][]) {
    return this.send(method, this.url(`/v2/${repo}/blobs/${dig}`), headers ? { headers } : {});
  }

  /** HEAD: 200, no body, Content-Length when the content is known, Docker-Content-Digest (dev). */
  async blobHeadExists(repo: string, dig: string, body: Uint8Array | undefined): Promise<void> {
    const r = await this.blobRequest('HEAD', repo, dig);
    expectStatus(r, 200);
    expect(r.body.length, `${show(r)}: HEAD body`).toBe(0);
    if (body) expectHeader(r, 'content-length', String(body.length));
    this.verifyDigest(r, dig, true);
  }

  /** GET: 200, the exact bytes, Content-Length, Docker-Content-Digest (dev), never compressed. */
  async blobGetExistsFull(repo: string, dig: string, body: Uint8Array | undefined): Promise<void> {
    const r = await this.blobRequest('GET', repo, dig);
    expectStatus(r, 200);
    // Go removes Content-Length from a gzip reply, and then the length check fails.
    expect(r.headers.get('content-encoding'), `${show(r)}: Content-Encoding`).toBeNull();
    if (body) {
      expectBody(r, body);
      expectHeader(r, 'content-length', String(body.length));
    }
    this.verifyDigest(r, dig, true);
  }

  /** DELETE → 202 (404 accepted), then HEAD → 404 at once. */
  async blobDeleteAndCheck(repo: string, dig: string): Promise<void> {
    const r = await this.blobRequest('DELETE', repo, dig);
    // SKIP in the real suite: 405 (blob delete unsupported).
    expectStatus(r, 202, 404);
    const head = await this.blobRequest('HEAD', repo, dig);
    expectStatus(head, 404);
  }

  manifestRequest(method: string, repo: string, ref: string, accept = true): Promise<Reply> {
    return this.send(
      method,
      this.url(`/v2/${repo}/manifests/${ref}`),
      accept ? { headers: MANIFEST_ACCEPT } : {},
    );
  }

  /**
   * PUT of a manifest: chunked, Content-Type = its own mediaType; 201, Location, OCI-Subject when
   * it has a subject, a correct Docker-Content-Digest if any, then a GET of the Location.
   */
  async manifestPut(
    repo: string,
    ref: string,
    dig: string,
    body: Buffer,
    options: { tags?: readonly string[]; badDigest?: boolean } = {},
  ): Promise<Reply> {
    let u = this.url(`/v2/${repo}/manifests/${ref}`);
    for (const tag of options.tags ?? []) u = withParam(u, 'tag', tag, 'add');
    const mediaType = detectMediaType(body);
    const r = await this.send('PUT', u, { headers: [['content-type', mediaType]], chunked: body });
    if (options.badDigest) {
      expectStatus(r, 400);
      return r;
    }
    expectStatus(r, 201);
    const subject = detectSubject(body);
    if (subject !== undefined) expectHeader(r, 'oci-subject', subject);
    this.verifyDigest(r, dig, false);
    const loc = expectHeaderPresent(r, 'location');
    const get = await this.send('GET', new URL(loc, u), { headers: MANIFEST_ACCEPT });
    expectStatus(get, 200);
    expectHeader(get, 'content-type', mediaType);
    expectHeader(get, 'content-length', String(body.length));
    expectBody(get, body);
    return r;
  }

  /** HEAD or GET with both Accept lines: 200, exact Content-Type/Length, digest header (dev). */
  async manifestExists(
    method: 'HEAD' | 'GET',
    repo: string,
    ref: string,
    dig: string,
    body: Buffer,
  ): Promise<void> {
    const r = await this.manifestRequest(method, repo, ref);
    expectStatus(r, 200);
    expect(r.headers.get('content-encoding'), `${show(r)}: Content-Encoding`).toBeNull();
    expectHeader(r, 'content-type', detectMediaType(body));
    expectHeader(r, 'content-length', String(body.length));
    if (method === 'HEAD') expect(r.body.length, `${show(r)}: HEAD body`).toBe(0);
    else expectBody(r, body);
    this.verifyDigest(r, dig, true);
  }

  /** DELETE by tag or digest → 202 (404 accepted), then HEAD → 404 at once. */
  async manifestDeleteAndCheck(repo: string, ref: string): Promise<void> {
    const r = await this.manifestRequest('DELETE', repo, ref, false);
    // SKIP in the real suite: 400 or 405 (delete unsupported).
    expectStatus(r, 202, 404);
    const head = await this.manifestRequest('HEAD', repo, ref);
    expectStatus(head, 404);
  }

  /** `GET tags/list`: 200 with a JSON body that decodes, or 404 (then no tags). */
  async tagList(repo: string, params: [string, string][] = []): Promise<string[]> {
    let u = this.url(`/v2/${repo}/tags/list`);
    for (const [key, value] of params) u = withParam(u, key, value, 'add');
    const r = await this.send('GET', u);
    expectStatus(r, 200, 404);
    if (r.status === 404) return [];
    const parsed = JSON.parse(r.body.toString()) as { tags?: unknown };
    expect(parsed.tags === null || Array.isArray(parsed.tags), `${show(r)}: tags`).toBe(true);
    return Array.isArray(parsed.tags) ? parsed.tags.map(String) : [];
  }

  /** `GET referrers/<d>`: 200, exact index Content-Type, a valid index. */
  async referrers(
    repo: string,
    subject: string,
    params: [string, string][] = [],
  ): Promise<{ reply: Reply; index: Index; manifests: Descriptor[] }> {
    let u = this.url(`/v2/${repo}/referrers/${subject}`);
    for (const [key, value] of params) u = withParam(u, key, value, 'add');
    const reply = await this.send('GET', u);
    expectStatus(reply, 200);
    expectHeader(reply, 'content-type', MT.ociIndex);
    const index = JSON.parse(reply.body.toString()) as Index;
    expect(index.mediaType, `${show(reply)}: index mediaType`).toBe(MT.ociIndex);
    expect(index.schemaVersion, `${show(reply)}: index schemaVersion`).toBe(2);
    return { reply, index, manifests: index.manifests ?? [] };
  }
}

export function detectMediaType(body: Buffer): string {
  try {
    const parsed = JSON.parse(body.toString()) as { mediaType?: unknown };
    return typeof parsed.mediaType === 'string' ? parsed.mediaType : MT.ociImage;
  } catch {
    return MT.ociImage;
  }
}

export function detectSubject(body: Buffer): string | undefined {
  try {
    const parsed = JSON.parse(body.toString()) as { subject?: { digest?: unknown } | null };
    const digest = parsed.subject?.digest;
    return typeof digest === 'string' ? digest : undefined;
  } catch {
    return undefined;
  }
}

// ── the suite's test data ───────────────────────────────────────────────────────────────────

export interface Platform {
  architecture: string;
  os: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  data?: string;
  platform?: Platform;
  artifactType?: string;
}

export const AMD64: Platform = { architecture: 'amd64', os: 'linux' };
export const ARM64: Platform = { architecture: 'arm64', os: 'linux' };

export interface GenOptions {
  algo?: Algo;
  annotations?: Record<string, string>;
  annotationUniq?: boolean;
  artifactType?: string;
  blobSize?: number;
  compress?: boolean;
  configBytes?: Buffer;
  configMediaType?: string;
  descriptorMediaType?: string;
  extraField?: boolean;
  layerBytes?: Buffer;
  layerCount?: number;
  layerMediaType?: string;
  platform?: Platform;
  /** `null` entries give descriptors without a platform (the nested index). */
  platforms?: (Platform | null)[];
  setData?: boolean;
  subject?: Descriptor;
  tag?: string;
}

/** A descriptor with its fields in Go's marshalling order. */
function ordered(d: Descriptor): Descriptor {
  return {
    mediaType: d.mediaType,
    digest: d.digest,
    size: d.size,
    ...(d.urls ? { urls: d.urls } : {}),
    ...(d.annotations ? { annotations: sortedRecord(d.annotations) } : {}),
    ...(d.data !== undefined ? { data: d.data } : {}),
    ...(d.platform ? { platform: d.platform } : {}),
    ...(d.artifactType ? { artifactType: d.artifactType } : {}),
  };
}

/** Go marshals maps with sorted keys. */
function sortedRecord(record: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  );
}

function withExtraField(value: Record<string, unknown>): Record<string, unknown> {
  return { ...value, [`org.${randText()}`]: randText() };
}

/** One data set: what is pushed, in which order, and what is expected back. */
export class TestData {
  readonly tags = new Map<string, string>();
  readonly tagPushed = new Set<string>();
  readonly desc = new Map<string, Descriptor>();
  readonly blobs = new Map<string, Buffer>();
  readonly manifests = new Map<string, Buffer>();
  readonly manOrder: string[] = [];
  readonly referrers = new Map<string, Descriptor[]>();
  /** Manifests pushed with `?tag=` (the tag-param sets). */
  readonly tagParam = new Set<string>();
  /** Manifests whose PUT must fail with 400 and which are never pulled (bad-digest-image). */
  readonly badDigest = new Set<string>();

  constructor(readonly name: string) {}

  blob(dig: string): Buffer {
    const body = this.blobs.get(dig);
    if (!body) throw new Error(`no blob ${dig} in ${this.name}`);
    return body;
  }

  manifest(dig: string): Buffer {
    const body = this.manifests.get(dig);
    if (!body) throw new Error(`no manifest ${dig} in ${this.name}`);
    return body;
  }

  descriptor(dig: string): Descriptor {
    const d = this.desc.get(dig);
    if (!d) throw new Error(`no descriptor ${dig} in ${this.name}`);
    return d;
  }

  addBlob(body: Buffer, opts: GenOptions = {}): string {
    const algo = opts.algo ?? 'sha256';
    const dig = digestOf(body, algo);
    this.blobs.set(dig, body);
    this.desc.set(dig, {
      mediaType: opts.descriptorMediaType ?? MT.octetStream,
      digest: dig,
      size: body.length,
      ...(opts.setData ? { data: body.toString('base64') } : {}),
    });
    return dig;
  }

  genBlob(opts: GenOptions = {}): string {
    return this.addBlob(randomBytes(opts.blobSize ?? 2048), opts);
  }

  /** A layer: a tar holding `./conformance-N.txt`, gzipped unless `compress: false`. */
  genLayer(fileNum: number, opts: GenOptions = {}): { digest: string; diffId: string } {
    const algo = opts.algo ?? 'sha256';
    const compress = opts.compress ?? true;
    const file = `Conformance test file contents for file number ${fileNum}.\nTodays lucky number is ${randomInt(2 ** 47)}\n`;
    const tar = tarFile(`./conformance-${fileNum}.txt`, Buffer.from(file));
    const body = compress ? gzipSync(tar) : tar;
    const dig = digestOf(body, algo);
    this.blobs.set(dig, body);
    this.desc.set(dig, {
      mediaType: compress ? MT.ociLayerGz : MT.ociLayer,
      digest: dig,
      size: body.length,
      ...(opts.setData ? { data: body.toString('base64') } : {}),
    });
    return { digest: dig, diffId: digestOf(tar, algo) };
  }

  genConfig(platform: Platform, diffIds: string[], opts: GenOptions = {}): string {
    const algo = opts.algo ?? 'sha256';
    const config: Record<string, unknown> = {
      author: 'OCI Conformance Test',
      architecture: platform.architecture,
      os: platform.os,
      config: {},
      rootfs: { type: 'layers', diff_ids: diffIds },
    };
    const body = Buffer.from(JSON.stringify(opts.extraField ? withExtraField(config) : config));
    const dig = digestOf(body, algo);
    this.blobs.set(dig, body);
    this.desc.set(dig, {
      mediaType: opts.configMediaType ?? MT.ociConfig,
      digest: dig,
      size: body.length,
      ...(opts.setData ? { data: body.toString('base64') } : {}),
    });
    return dig;
  }

  /** Records a manifest or index: push order, descriptor, expected referrer entry, tag. */
  private addManifest(
    doc: Record<string, unknown>,
    mediaType: string,
    referrerType: string | undefined,
    annotations: Record<string, string> | undefined,
    opts: GenOptions,
  ): string {
    const body = Buffer.from(JSON.stringify(opts.extraField ? withExtraField(doc) : doc));
    const dig = digestOf(body, opts.algo ?? 'sha256');
    this.manifests.set(dig, body);
    this.manOrder.push(dig);
    this.desc.set(dig, {
      mediaType,
      digest: dig,
      size: body.length,
      ...(opts.setData ? { data: body.toString('base64') } : {}),
    });
    if (opts.subject) {
      const list = this.referrers.get(opts.subject.digest) ?? [];
      list.push({
        mediaType,
        digest: dig,
        size: body.length,
        ...(annotations ? { annotations } : {}),
        ...(referrerType ? { artifactType: referrerType } : {}),
      });
      this.referrers.set(opts.subject.digest, list);
    }
    if (opts.tag !== undefined) this.tags.set(opts.tag, dig);
    return dig;
  }

  private annotationsFor(opts: GenOptions): Record<string, string> | undefined {
    if (!opts.annotationUniq) return opts.annotations ? { ...opts.annotations } : undefined;
    return { ...opts.annotations, [`org.example.${randText()}`]: randText() };
  }

  genManifest(conf: Descriptor, layers: Descriptor[], opts: GenOptions = {}): string {
    const annotations = this.annotationsFor(opts);
    const doc: Record<string, unknown> = {
      schemaVersion: 2,
      mediaType: MT.ociImage,
      ...(opts.artifactType ? { artifactType: opts.artifactType } : {}),
      config: ordered(conf),
      layers: layers.map(ordered),
      ...(opts.subject ? { subject: ordered(opts.subject) } : {}),
      ...(annotations ? { annotations: sortedRecord(annotations) } : {}),
    };
    // For an image manifest the expected referrer type falls back to the config's media type.
    const referrerType = opts.artifactType ?? conf.mediaType;
    return this.addManifest(doc, MT.ociImage, referrerType, annotations, opts);
  }

  /** An image (or artifact) with its layers and config. */
  genManifestFull(options: GenOptions = {}): string {
    const opts: GenOptions = { layerCount: 2, platform: AMD64, ...options };
    const layerDigests: string[] = [];
    const diffIds: string[] = [];
    for (let l = 0; l < (opts.layerCount ?? 2); l++) {
      if (opts.layerMediaType === undefined || opts.layerMediaType.startsWith(LAYER_PREFIX)) {
        const layer = this.genLayer(l, opts);
        layerDigests.push(layer.digest);
        diffIds.push(layer.diffId);
      } else {
        const artifactOpts: GenOptions = { ...opts, descriptorMediaType: opts.layerMediaType };
        const dig = opts.layerBytes
          ? this.addBlob(opts.layerBytes, artifactOpts)
          : this.genBlob({ ...artifactOpts, blobSize: 2048 });
        layerDigests.push(dig);
        diffIds.push(dig);
      }
    }
    let configDigest: string;
    if (opts.configMediaType === undefined || opts.configMediaType === MT.ociConfig) {
      configDigest = this.genConfig(opts.platform ?? AMD64, diffIds, opts);
    } else {
      configDigest = this.addBlob(opts.configBytes ?? Buffer.from('{}'), {
        ...opts,
        descriptorMediaType: opts.configMediaType,
      });
    }
    const layers = layerDigests.map((d) => this.descriptor(d));
    return this.genManifest(this.descriptor(configDigest), layers, opts);
  }

  genIndex(platforms: (Platform | null)[], manifests: string[], opts: GenOptions = {}): string {
    const annotations = this.annotationsFor(opts);
    const doc: Record<string, unknown> = {
      schemaVersion: 2,
      mediaType: MT.ociIndex,
      ...(opts.artifactType ? { artifactType: opts.artifactType } : {}),
      manifests: manifests.map((dig, i) => {
        const platform = platforms[i];
        return ordered({ ...this.descriptor(dig), ...(platform ? { platform } : {}) });
      }),
      ...(opts.subject ? { subject: ordered(opts.subject) } : {}),
      ...(annotations ? { annotations: sortedRecord(annotations) } : {}),
    };
    // An index referrer has only its own artifactType.
    return this.addManifest(doc, MT.ociIndex, opts.artifactType, annotations, opts);
  }

  /** An index of images; every option (tag, subject, artifactType…) also reaches the children. */
  genIndexFull(options: GenOptions = {}): string {
    const platforms = options.platforms ?? [AMD64, ARM64];
    const children = platforms.map((p) =>
      this.genManifestFull({ ...(p ? { platform: p } : {}), ...options }),
    );
    return this.genIndex(platforms, children, options);
  }
}

/**
 * The data sets of the newest suite, in run order. Not the sparse one: it needs
 * `manifests.indexChildren: none`, so conformance-sparse.test.ts runs it on such a server.
 */
export function buildDataSets(): TestData[] {
  const sets: TestData[] = [];
  const add = (name: string, build: (td: TestData) => void): void => {
    const td = new TestData(name);
    build(td);
    sets.push(td);
  };
  add('image', (td) => td.genManifestFull({ tag: 'image' }));
  add('image-uncompressed', (td) =>
    td.genManifestFull({ tag: 'image-uncompressed', compress: false }),
  );
  add('large-manifest', (td) => {
    const annotations: Record<string, string> = {};
    for (let i = 0; i < 390; i++) annotations[`large-annotation-${i}`] = 'A'.repeat(10000);
    td.genManifestFull({ tag: 'large-manifest', annotations });
  });
  add('index', (td) => td.genIndexFull({ tag: 'index', platforms: [AMD64, ARM64] }));
  add('nested-index', (td) => {
    const first = td.genIndexFull({ platforms: [AMD64, ARM64] });
    const second = td.genIndexFull({ platforms: [AMD64, ARM64] });
    td.genIndex([null, null], [first, second], { tag: 'index-of-index' });
  });
  add('empty-index', (td) => td.genIndexFull({ tag: 'index', platforms: [] }));
  const artifact: GenOptions = {
    artifactType: MT.exampleConf1,
    configMediaType: MT.ociEmptyJSON,
    configBytes: Buffer.from('{}'),
    layerCount: 1,
    layerMediaType: MT.exampleConf1,
  };
  add('artifact', (td) => td.genManifestFull({ tag: 'artifact', ...artifact }));
  add('artifact-index', (td) =>
    td.genIndexFull({ tag: 'artifact-index', platforms: [AMD64, ARM64], ...artifact }),
  );
  add('artifact-without-layers', (td) =>
    td.genManifestFull({
      tag: 'artifact-without-layers',
      ...artifact,
      layerBytes: Buffer.from('{}'),
      layerMediaType: MT.ociEmptyJSON,
    }),
  );
  const hello = { 'org.opencontainers.conformance': 'hello conformance test' };
  add('artifacts-with-subject', (td) => {
    const subject = td.descriptor(td.genManifestFull({ tag: 'image' }));
    td.genManifestFull({ subject });
    td.genManifestFull({
      ...artifact,
      annotations: hello,
      annotationUniq: true,
      subject,
      tag: 'tagged-artifact1',
    });
    td.genManifestFull({
      ...artifact,
      artifactType: MT.exampleConf2,
      layerMediaType: MT.octetStream,
      annotations: hello,
      annotationUniq: true,
      subject,
      tag: 'tagged-artifact2',
    });
  });
  add('index-with-subject', (td) => {
    const subject = td.descriptor(td.genIndexFull({ tag: 'index' }));
    td.genIndexFull({
      ...artifact,
      annotations: hello,
      annotationUniq: true,
      subject,
      tag: 'tagged-artifact',
    });
  });
  add('missing-subject', (td) => {
    const subject: Descriptor = {
      mediaType: MT.ociImage,
      digest: digestOf('missing content'),
      size: 123,
    };
    td.genManifestFull({
      ...artifact,
      annotations: hello,
      annotationUniq: true,
      subject,
      tag: 'tagged-artifact',
    });
  });
  add('data-field', (td) => td.genManifestFull({ tag: 'data-field', setData: true }));
  add('non-distributable-layers', (td) => {
    // Layers 0 and 1 are foreign: described, never pushed.
    const foreign = (mediaType: string, size: number): Descriptor => {
      const dig = digestOf(randomBytes(256));
      const d: Descriptor = {
        mediaType,
        digest: dig,
        size,
        urls: [`https://store.example.com/blobs/sha256/${dig.slice('sha256:'.length)}`],
      };
      td.desc.set(dig, d);
      return d;
    };
    const layer0 = foreign(MT.ociLayerNdGz, 123456);
    const layer1 = foreign(MT.ociLayerNd, 12345);
    const layer2 = td.genLayer(1);
    const config = td.genConfig(AMD64, [digestOf(randomBytes(256)), layer1.digest, layer2.diffId]);
    td.genManifest(td.descriptor(config), [layer0, layer1, td.descriptor(layer2.digest)], {
      tag: 'non-distributable-image',
    });
  });
  add('custom-fields', (td) =>
    td.genIndexFull({ tag: 'custom-fields', platforms: [AMD64, ARM64], extraField: true }),
  );
  add('no-layers', (td) => td.genManifestFull({ tag: 'no-layers', layerCount: 0 }));
  // sha512 digests need tag parameters to be tagged, so this set is pushed by digest only.
  add('sha512', (td) => td.genIndexFull({ algo: 'sha512' }));
  for (const algo of ['sha256', 'sha512'] as const) {
    add(`tag-param-${algo}`, (td) => {
      // The top index gets two tags: this one and "<name>-2".
      td.genIndexFull({ tag: `tag-param-${algo}`, ...(algo === 'sha512' ? { algo } : {}) });
      td.manOrder.forEach((dig, i) => {
        td.tags.set(`tag-param-${algo}-${i}`, dig);
        td.tagParam.add(dig);
      });
    });
  }
  add('bad-digest-image', (td) => {
    const dig = td.genManifestFull();
    // Two spaces make the body differ from the digest in the URL.
    td.manifests.set(dig, Buffer.concat([td.manifest(dig), Buffer.from('  ')]));
    td.badDigest.add(dig);
  });
  return sets;
}

// ── the suite's per-data-set steps ──────────────────────────────────────────────────────────

/** push: blobs (first working upload API), manifests by digest in order, then the tags. */
export async function pushDataSet(
  client: Client,
  td: TestData,
  repo: string,
  f: Failures,
): Promise<void> {
  for (const [dig, body] of td.blobs) await client.pushBlobAny(f, repo, dig, body);
  for (const [i, dig] of td.manOrder.entries()) {
    const tags = td.tagParam.has(dig)
      ? [...td.tags].filter(([, d]) => d === dig).map(([t]) => t)
      : [];
    await f.check(`manifest-by-digest #${i} ${dig}`, async () => {
      const r = await client.manifestPut(repo, dig, dig, td.manifest(dig), {
        tags,
        badDigest: td.badDigest.has(dig),
      });
      if (tags.length === 0) return;
      const echoed = (r.headers.get('oci-tag') ?? '').split(',').map((s) => s.trim());
      for (const tag of tags) {
        // SKIP in the real suite: a tag missing from OCI-Tag (it then pushes the tag by name).
        expect(echoed, `${show(r)}: OCI-Tag must list "${tag}"`).toContain(tag);
        td.tagPushed.add(tag);
      }
    });
  }
  for (const [tag, dig] of td.tags) {
    if (td.tagPushed.has(tag)) continue;
    await f.check(`manifest-by-tag ${tag}`, async () => {
      await client.manifestPut(repo, tag, dig, td.manifest(dig));
      td.tagPushed.add(tag);
    });
  }
}

/** tag-list: every tag listed without pagination, and `?last=` splits the sorted list. */
export async function tagListDataSet(
  client: Client,
  td: TestData,
  repo: string,
  f: Failures,
): Promise<void> {
  await f.check('tag-list', async () => {
    const tags = await client.tagList(repo);
    for (const tag of td.tags.keys()) {
      expect(tags, `missing tag "${tag}" from listing`).toContain(tag);
    }
    if (tags.length < 2) return;
    // Go's slices.Sort: byte-wise order.
    const sorted = [...tags].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const end = Math.floor(sorted.length / 2);
    const last = sorted[end - 1] ?? '';
    const partial = await client.tagList(repo, [['last', last]]);
    for (const tag of sorted.slice(0, end)) {
      expect(partial, `tag "${tag}" returned when last set to "${last}"`).not.toContain(tag);
    }
    for (const tag of sorted.slice(end)) {
      expect(partial, `tag "${tag}" missing when last set to "${last}"`).toContain(tag);
    }
  });
}

/** head or pull: every tag, every manifest by digest, every blob. */
export async function readDataSet(
  method: 'HEAD' | 'GET',
  client: Client,
  td: TestData,
  repo: string,
  f: Failures,
): Promise<void> {
  for (const [tag, dig] of td.tags) {
    if (td.badDigest.has(dig)) continue;
    await f.check(`manifest ${method} by tag ${tag}`, () =>
      client.manifestExists(method, repo, tag, dig, td.manifest(dig)),
    );
  }
  for (const dig of td.manOrder) {
    if (td.badDigest.has(dig)) continue;
    await f.check(`manifest ${method} by digest ${dig}`, () =>
      client.manifestExists(method, repo, dig, dig, td.manifest(dig)),
    );
  }
  for (const [dig, body] of td.blobs) {
    await f.check(`blob ${method} ${dig}`, () =>
      method === 'HEAD'
        ? client.blobHeadExists(repo, dig, body)
        : client.blobGetExistsFull(repo, dig, body),
    );
  }
}

function containsAll(
  have: Record<string, string> | undefined,
  want: Record<string, string> | undefined,
): boolean {
  return Object.entries(want ?? {}).every(([k, v]) => have?.[k] === v);
}

export function matchesReferrer(resp: Descriptor, goal: Descriptor): boolean {
  return (
    resp.digest === goal.digest &&
    resp.mediaType === goal.mediaType &&
    resp.size === goal.size &&
    (resp.artifactType ?? '') === (goal.artifactType ?? '') &&
    containsAll(resp.annotations, goal.annotations)
  );
}

/** referrers: every expected entry, then each artifactType filter. */
export async function referrersDataSet(
  client: Client,
  td: TestData,
  repo: string,
  f: Failures,
): Promise<void> {
  for (const [subject, goals] of td.referrers) {
    await f.check(`referrers of ${subject}`, async () => {
      const { manifests } = await client.referrers(repo, subject);
      for (const goal of goals) {
        expect(
          manifests.some((m) => matchesReferrer(m, goal)),
          `entry missing from referrers list: ${JSON.stringify(goal)} in ${JSON.stringify(manifests)}`,
        ).toBe(true);
      }
    });
    const types = new Set(goals.map((g) => g.artifactType ?? ''));
    for (const type of types) {
      await f.check(`referrers of ${subject} with artifactType=${type}`, async () => {
        const { reply, manifests } = await client.referrers(repo, subject, [
          ['artifactType', type],
        ]);
        const applied = (reply.headers.get('oci-filters-applied') ?? '')
          .split(',')
          .some((s) => s.trim() === 'artifactType');
        // SKIP in the real suite: no OCI-Filters-Applied: artifactType.
        expect(applied, `${show(reply)}: OCI-Filters-Applied must list artifactType`).toBe(true);
        for (const goal of goals.filter((g) => (g.artifactType ?? '') === type)) {
          expect(
            manifests.some((m) => matchesReferrer(m, goal)),
            `entry missing from filtered list: ${JSON.stringify(goal)}`,
          ).toBe(true);
        }
        // Error in the real suite: an entry of another artifactType after filtering.
        for (const m of manifests) {
          expect(m.artifactType ?? '', `${show(reply)}: filtered entry ${m.digest}`).toBe(type);
        }
      });
    }
  }
}

/** delete: pushed tags, then manifests in reverse push order, then blobs; each then HEAD → 404. */
export async function deleteDataSet(
  client: Client,
  td: TestData,
  repo: string,
  f: Failures,
): Promise<void> {
  for (const tag of td.tags.keys()) {
    if (!td.tagPushed.has(tag)) continue;
    await f.check(`tag-delete ${tag}`, () => client.manifestDeleteAndCheck(repo, tag));
  }
  for (const dig of [...td.manOrder].reverse()) {
    await f.check(`manifest-delete ${dig}`, () => client.manifestDeleteAndCheck(repo, dig));
  }
  for (const dig of td.blobs.keys()) {
    await f.check(`blob-delete ${dig}`, () => client.blobDeleteAndCheck(repo, dig));
  }
}
