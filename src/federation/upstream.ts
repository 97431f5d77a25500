/**
 * @module federation/upstream
 * A client of one upstream registry (Docker Hub, a CNCF Distribution, another Berth): the reads a
 * pull-through cache needs, over undici with pooled keep-alive connections.
 *
 * Authentication follows the upstream's challenge, as docker does: a request goes out with what
 * worked last time; a 401 with `Bearer realm=…,service=…` gets a token for the request's scope
 * (sent Basic credentials when configured, anonymous otherwise) and is retried once; a 401 with
 * `Basic` is retried with the credentials. Tokens are cached per scope until shortly before they
 * expire. Blob GETs follow the upstream's redirects (Hub sends layers to a CDN); undici drops the
 * Authorization header when a redirect leaves the origin, so credentials never reach another host.
 *
 * Every failure is an {@link UpstreamError} that says what the upstream answered (or that it did
 * not), because the cache must tell "not there" (404) from "could not ask" (429, 5xx, down).
 */
import { Agent, interceptors, type Dispatcher } from 'undici';
import {
  UpstreamError,
  type UpstreamClient,
  type UpstreamHealth,
  type UpstreamSettings,
  type UpstreamTimeouts,
} from './upstream-types.js';

/** A token is renewed this long before it expires, so a request never goes out with a dead one. */
const TOKEN_MARGIN_MS = 10_000;
/** Bodies read whole (manifests, token answers, tag lists) are capped here at most. */
const MAX_SMALL_BODY = 16 * 1024 * 1024;
const USER_AGENT = 'berth-proxy';

type Challenge = { scheme: 'bearer'; realm: string; service: string | null } | { scheme: 'basic' };

export function createUpstreamClient(
  settings: UpstreamSettings,
  timeouts: UpstreamTimeouts,
): UpstreamClient {
  const origin = settings.url;
  const agent = new Agent({
    connectTimeout: timeouts.connectMs,
    headersTimeout: timeouts.connectMs,
    bodyTimeout: timeouts.idleMs,
    keepAliveTimeout: 30_000,
  });
  const dispatcher: Dispatcher = agent.compose(interceptors.redirect({ maxRedirections: 5 }));
  const basic =
    settings.username !== null
      ? `Basic ${Buffer.from(`${settings.username}:${settings.password ?? ''}`).toString('base64')}`
      : null;
  const health: UpstreamHealth = { lastSuccessAt: null, lastFailureAt: null, lastFailure: null };
  /** An answer other than 429 or 5xx is a working upstream, a 404 included. */
  function noteAnswer(status: number, headers: Dispatcher.ResponseData['headers']): void {
    if (status === 429 || status >= 500) noteFailure(statusError(origin, status, headers).message);
    else health.lastSuccessAt = new Date().toISOString();
  }
  function noteFailure(message: string): void {
    health.lastFailureAt = new Date().toISOString();
    health.lastFailure = message;
  }
  /** What the upstream asked for last: requests then carry it from the start. */
  let challenge: Challenge | null = null;
  const tokens = new Map<string, { value: string; expiresAt: number }>();
  /** Concurrent requests of one scope wait for one token request. */
  const pendingTokens = new Map<string, Promise<string>>();

  async function token(realm: string, service: string | null, scope: string): Promise<string> {
    const key = `${realm} ${service ?? ''} ${scope}`;
    const cached = tokens.get(key);
    if (cached && cached.expiresAt - TOKEN_MARGIN_MS > Date.now()) return cached.value;
    const pending = pendingTokens.get(key);
    if (pending) return pending;
    const fetching = fetchToken(realm, service, scope).then(
      (t) => {
        tokens.set(key, t);
        pendingTokens.delete(key);
        return t.value;
      },
      (e: unknown) => {
        pendingTokens.delete(key);
        throw e;
      },
    );
    pendingTokens.set(key, fetching);
    return fetching;
  }

  async function fetchToken(
    realm: string,
    service: string | null,
    scope: string,
  ): Promise<{ value: string; expiresAt: number }> {
    const url = new URL(realm);
    if (service !== null) url.searchParams.set('service', service);
    url.searchParams.set('scope', scope);
    const res = await send(url.href, 'GET', basic !== null ? { authorization: basic } : {});
    const text = await readSmall(res, MAX_SMALL_BODY);
    if (res.statusCode !== 200)
      throw statusError(`the upstream's token realm ${url.origin}`, res.statusCode, res.headers);
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      body = JSON.parse(text.toString('utf8')) as typeof body;
    } catch {
      throw new UpstreamError(`the upstream's token realm ${url.origin} answered no JSON`);
    }
    const value =
      typeof body.access_token === 'string'
        ? body.access_token
        : typeof body.token === 'string'
          ? body.token
          : null;
    if (value === null)
      throw new UpstreamError(`the upstream's token realm ${url.origin} sent no token`);
    // The spec's default is 60 s and clients never use less.
    const seconds = typeof body.expires_in === 'number' ? Math.max(body.expires_in, 60) : 60;
    return { value, expiresAt: Date.now() + seconds * 1000 };
  }

  async function authorization(scope: string): Promise<string | null> {
    if (challenge === null) return null;
    if (challenge.scheme === 'basic') return basic;
    return `Bearer ${await token(challenge.realm, challenge.service, scope)}`;
  }

  async function send(
    url: string,
    method: 'GET' | 'HEAD',
    headers: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<Dispatcher.ResponseData> {
    try {
      return await dispatcher.request({
        origin: new URL(url).origin,
        path: url.slice(new URL(url).origin.length) || '/',
        method,
        headers: { 'user-agent': USER_AGENT, ...headers },
        ...(signal ? { signal } : {}),
      });
    } catch (e) {
      noteFailure(`${new URL(url).origin} did not answer: ${describe(e)}`);
      throw new UpstreamError(
        `${new URL(url).origin} did not answer: ${describe(e)}`,
        undefined,
        undefined,
        {
          cause: e,
        },
      );
    }
  }

  /**
   * One request to the upstream's `/v2/…`, authenticated as its challenge asks (once more after
   * a 401 that names a new challenge). Any status is returned; the caller reads or dumps the body.
   */
  async function call(
    path: string,
    method: 'GET' | 'HEAD',
    scope: string,
    headers: Record<string, string> = {},
    signal?: AbortSignal,
  ): Promise<Dispatcher.ResponseData> {
    for (let attempt = 0; ; attempt++) {
      const auth = await authorization(scope);
      const res = await send(
        `${origin}${path}`,
        method,
        { ...headers, ...(auth !== null ? { authorization: auth } : {}) },
        signal,
      );
      noteAnswer(res.statusCode, res.headers);
      if (res.statusCode !== 401 || attempt > 0) return res;
      const next = parseChallenge(header(res.headers, 'www-authenticate'));
      if (next === null || (next.scheme === 'basic' && basic === null)) return res;
      await res.body.dump();
      // A token refused although fresh: ask for another.
      if (next.scheme === 'bearer') tokens.clear();
      challenge = next;
    }
  }

  /**
   * A read of `path` with pull on `repository`: the 200 answer (a HEAD's body already drained),
   * null for a 404, an {@link UpstreamError} for anything else.
   */
  async function read(
    path: string,
    method: 'GET' | 'HEAD',
    repository: string,
    headers: Record<string, string> = {},
    signal?: AbortSignal,
  ): Promise<Dispatcher.ResponseData | null> {
    const res = await call(path, method, `repository:${repository}:pull`, headers, signal);
    if (res.statusCode !== 200 || method === 'HEAD') await res.body.dump();
    if (res.statusCode === 404) return null;
    if (res.statusCode !== 200) throw statusError(origin, res.statusCode, res.headers);
    return res;
  }

  // Repository names, tags and digests are validated before they get here and need no escaping.
  return {
    url: origin,
    health: () => ({ ...health }),

    async headManifest(repository, reference, accept) {
      const res = await read(`/v2/${repository}/manifests/${reference}`, 'HEAD', repository, {
        accept,
      });
      if (res === null) return null;
      return {
        digest: header(res.headers, 'docker-content-digest'),
        mediaType: mediaTypeOf(res.headers),
        size: sizeOf(res.headers),
      };
    },

    async getManifest(repository, reference, accept, maxBytes) {
      const res = await read(`/v2/${repository}/manifests/${reference}`, 'GET', repository, {
        accept,
      });
      if (res === null) return null;
      return {
        payload: await readSmall(res, maxBytes),
        mediaType: mediaTypeOf(res.headers) ?? '',
        digest: header(res.headers, 'docker-content-digest'),
      };
    },

    async headBlob(repository, digest) {
      const res = await read(`/v2/${repository}/blobs/${digest}`, 'HEAD', repository);
      if (res === null) return null;
      const size = sizeOf(res.headers);
      if (size === null) throw new UpstreamError(`${origin} sent no size for blob ${digest}`);
      return { size };
    },

    async getBlob(repository, digest, signal) {
      const res = await read(`/v2/${repository}/blobs/${digest}`, 'GET', repository, {}, signal);
      return res === null ? null : { size: sizeOf(res.headers), body: res.body };
    },

    async listTags(repository, query) {
      const params = new URLSearchParams();
      if (query.n !== undefined) params.set('n', String(query.n));
      if (query.last !== undefined) params.set('last', query.last);
      const q = params.size > 0 ? `?${params.toString()}` : '';
      const res = await read(`/v2/${repository}/tags/list${q}`, 'GET', repository);
      if (res === null) return null;
      const text = await readSmall(res, MAX_SMALL_BODY);
      let body: { tags?: unknown };
      try {
        body = JSON.parse(text.toString('utf8')) as typeof body;
      } catch {
        throw new UpstreamError(`${origin} answered a tags list that is not JSON`);
      }
      const tags = Array.isArray(body.tags)
        ? body.tags.filter((t): t is string => typeof t === 'string')
        : [];
      return { tags, next: nextPage(header(res.headers, 'link')) };
    },

    async referrers(repository, digest, artifactType) {
      const q =
        artifactType !== undefined ? `?artifactType=${encodeURIComponent(artifactType)}` : '';
      const res = await read(`/v2/${repository}/referrers/${digest}${q}`, 'GET', repository);
      return res === null ? null : readSmall(res, MAX_SMALL_BODY);
    },

    // At shutdown: a fill still running in the background is cut, not waited for.
    close: () => agent.destroy(),
  };
}

function header(headers: Dispatcher.ResponseData['headers'], name: string): string | null {
  const value = headers[name];
  if (Array.isArray(value)) return value[0] ?? null;
  return value ?? null;
}

function sizeOf(headers: Dispatcher.ResponseData['headers']): number | null {
  const length = header(headers, 'content-length');
  return length !== null && /^\d+$/.test(length) ? Number(length) : null;
}

function mediaTypeOf(headers: Dispatcher.ResponseData['headers']): string | null {
  const type = header(headers, 'content-type');
  return type === null ? null : (type.split(';')[0] ?? '').trim();
}

async function readSmall(res: Dispatcher.ResponseData, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > maxBytes) {
      res.body.destroy();
      throw new UpstreamError(`the upstream's answer exceeds ${maxBytes} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function statusError(
  who: string,
  status: number,
  headers: Dispatcher.ResponseData['headers'],
): UpstreamError {
  const retryAfter = header(headers, 'retry-after') ?? undefined;
  const what =
    status === 429
      ? '429 Too Many Requests (its pull rate limit)'
      : status === 401 || status === 403
        ? `${status} (it refused Berth's credentials for it)`
        : String(status);
  return new UpstreamError(
    `${who} answered ${what}${retryAfter !== undefined ? `, retry after ${retryAfter}` : ''}`,
    status,
    retryAfter,
  );
}

function describe(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    return typeof code === 'string' ? `${code} (${e.message})` : e.message;
  }
  return String(e);
}

/** `WWW-Authenticate: Bearer realm="…",service="…"` or `Basic realm="…"`; null for anything else. */
export function parseChallenge(value: string | null): Challenge | null {
  if (value === null) return null;
  const m = /^\s*(\w+)\s*(.*)$/s.exec(value);
  if (!m) return null;
  const scheme = (m[1] ?? '').toLowerCase();
  if (scheme === 'basic') return { scheme: 'basic' };
  if (scheme !== 'bearer') return null;
  const params = new Map<string, string>();
  for (const p of (m[2] ?? '').matchAll(/(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/g))
    params.set((p[1] ?? '').toLowerCase(), p[2] ?? p[3] ?? '');
  const realm = params.get('realm');
  if (realm === undefined) return null;
  try {
    const url = new URL(realm);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') return null;
  } catch {
    return null;
  }
  return { scheme: 'bearer', realm, service: params.get('service') ?? null };
}

/** The `last` of a tags list's `Link: <…?n=…&last=…>; rel="next"`, if any. */
function nextPage(link: string | null): { n?: number; last: string } | null {
  if (link === null) return null;
  const m = /<([^>]*)>/.exec(link);
  if (!m) return null;
  const url = new URL(m[1] ?? '', 'http://upstream.invalid');
  const last = url.searchParams.get('last');
  if (last === null) return null;
  const n = url.searchParams.get('n');
  return { last, ...(n !== null && /^\d+$/.test(n) ? { n: Number(n) } : {}) };
}
