/**
 * @module federation/proxy
 * The pull-through cache of a proxy namespace: `hub/library/alpine` is `library/alpine` of the
 * namespace's upstream, stored in Berth's own repositories as it is pulled, so GC, retention,
 * quotas and the UI treat cached content like any other.
 *
 * - Content by digest (blobs, manifests) never changes: once cached it is served without asking
 *   the upstream again.
 * - A tag is served from the cache for the namespace's TTL after the upstream last confirmed it;
 *   then one HEAD (which Docker Hub does not count against its pull limit) tells whether it moved.
 * - The cache never makes a pull fail that it could serve: when the upstream answers 429 or 5xx,
 *   times out or is down, a cached tag is served stale with a `Warning: 299` and a log line.
 * - What the upstream sends is verified while it streams (federation/verify.ts): wrong bytes are
 *   neither served whole nor stored.
 * - One upstream fetch per blob however many clients ask at once (federation/fills.ts).
 * - A 404 is remembered briefly, so a client probing for a missing tag does not reach the upstream
 *   on every try.
 *
 * Which tags were confirmed when, and the 404s, are kept in this process's memory: after a restart
 * (or on another replica) a cached tag is confirmed once more with one HEAD, which costs little
 * and keeps the database free of a write per pull.
 */
import { PassThrough, type Readable } from 'node:stream';
import { digestAlgorithm, digestOf, tryParseDigest, type Digest } from '../core/digest.js';
import {
  RegistryError,
  blobUnknown,
  isRegistryError,
  manifestUnknown,
  nameUnknown,
} from '../core/errors.js';
import { upstreamRepository, type ProxySettings } from '../core/federation.js';
import { MediaType, SUPPORTED_MANIFEST_TYPES } from '../core/media-types.js';
import type { ReferrersIndex } from '../registry/discovery.js';
import type { Registry, Reference, RepositoryRef } from '../registry/index.js';
import type { StoredManifest } from '../registry/manifests.js';
import { ClientFeed } from './client-feed.js';
import { createFills } from './fills.js';
import { UpstreamError, type UpstreamClient, type UpstreamHealth } from './upstream-types.js';
import { verifying } from './verify.js';

export interface ProxyOptions {
  /** To connect and for response headers; also the longest pause inside a body. */
  upstreamTimeoutMs: number;
  /** How long a 404 from an upstream is believed. */
  notFoundTtlMs: number;
  maxManifestBytes: number;
}

export interface ProxyLog {
  warn(obj: Record<string, unknown>, msg: string): void;
  info(obj: Record<string, unknown>, msg: string): void;
}

/** A result served from the cache although the upstream could not confirm it. */
export interface Served<T> {
  value: T;
  /** The `Warning` header's value when served stale, else null. */
  warning: string | null;
}

/** Where a blob's bytes come from. */
export type BlobSource =
  /** Linked in this repository (cached, or found cached elsewhere and linked now). */
  | { kind: 'stored'; repo: RepositoryRef }
  /** Streamed from the upstream while it is cached (`body` is null for a HEAD). */
  | { kind: 'upstream'; size: number | null; body: Readable | null };

export interface ProxyCache {
  manifest(
    ns: string,
    settings: ProxySettings,
    repo: RepositoryRef,
    ref: Reference,
  ): Promise<Served<StoredManifest>>;
  /**
   * `mode`: a HEAD needs only the size; a whole GET may stream from the upstream; a ranged GET
   * waits until the blob is cached and is then served from it.
   */
  blob(
    ns: string,
    settings: ProxySettings,
    repo: RepositoryRef,
    digest: Digest,
    mode: 'head' | 'get' | 'range',
  ): Promise<BlobSource>;
  tags(
    settings: ProxySettings,
    repo: RepositoryRef,
    page: { n?: number; last?: string },
  ): Promise<Served<{ tags: string[]; next: { n?: number; last: string } | null }>>;
  referrers(
    settings: ProxySettings,
    repo: RepositoryRef,
    subject: Digest,
    artifactType: string | undefined,
  ): Promise<Served<ReferrersIndex>>;
  health(namespace: string, settings: ProxySettings): UpstreamHealth;
  close(): Promise<void>;
}

/** Cached content is written by this owner: no client can continue or see its upload sessions. */
const CACHE_OWNER = 'berth:proxy-cache';
const ACCEPT = [...SUPPORTED_MANIFEST_TYPES].join(', ');
/** After an upstream failure a stale tag is served this long before the upstream is tried again. */
const FAILURE_BACKOFF_MS = 10_000;
/** How far the first client of a fill may fall behind the cache before it reads from the cache. */
const MAX_CLIENT_LAG = 8 * 1024 * 1024;
/** Entries kept in the confirmation and 404 maps; the oldest go first. */
const MAX_REMEMBERED = 50_000;

export function createProxyCache(deps: {
  registry: Registry;
  options: ProxyOptions;
  log: ProxyLog;
}): ProxyCache {
  const { registry, options, log } = deps;
  /** Per proxy namespace: its client and the settings it was made with. */
  const clients = new Map<string, { key: string; client: UpstreamClient }>();
  /** `repository:tag` → when the upstream last confirmed which digest it names (or failed to). */
  const confirmed = new Map<string, { at: number; digest: Digest; failure: string | null }>();
  /** `upstream-url repository reference` → until when a 404 is believed. */
  const notFound = new Map<string, number>();
  const fills = createFills();
  /** Concurrent pulls of one uncached manifest make one upstream request. */
  const manifestFetches = new Map<string, Promise<Served<StoredManifest>>>();

  const clientKey = (settings: ProxySettings): string =>
    JSON.stringify([settings.url, settings.username, settings.password]);

  /**
   * The namespace's client of its upstream. New settings (another URL or credentials) get a new
   * client; the old one's connections are closed (its requests in flight end with it).
   */
  async function clientFor(namespace: string, settings: ProxySettings): Promise<UpstreamClient> {
    const key = clientKey(settings);
    const current = clients.get(namespace);
    if (current?.key === key) return current.client;
    // Loaded on first use (see upstream-types.ts).
    const { createUpstreamClient } = await import('./upstream.js');
    const again = clients.get(namespace);
    if (again?.key === key) return again.client;
    const client = createUpstreamClient(settings, {
      connectMs: options.upstreamTimeoutMs,
      idleMs: options.upstreamTimeoutMs,
    });
    clients.set(namespace, { key, client });
    if (again) void again.client.close();
    return client;
  }

  function remember<V>(map: Map<string, V>, key: string, value: V): void {
    map.delete(key);
    map.set(key, value);
    if (map.size > MAX_REMEMBERED) {
      const oldest = map.keys().next();
      if (!oldest.done) map.delete(oldest.value);
    }
  }

  function isNotFound(key: string): boolean {
    const until = notFound.get(key);
    if (until === undefined) return false;
    if (until > Date.now()) return true;
    notFound.delete(key);
    return false;
  }

  async function cachedManifest(
    repo: RepositoryRef,
    ref: Reference,
  ): Promise<StoredManifest | null> {
    try {
      return await registry.manifests.get(repo, ref);
    } catch (e) {
      if (isRegistryError(e) && e.code === 'MANIFEST_UNKNOWN') return null;
      throw e;
    }
  }

  /** Fetches a manifest the upstream has, verifies it and caches it (tagged when by tag). */
  async function fetchManifest(
    client: UpstreamClient,
    upstreamRepo: string,
    repo: RepositoryRef,
    ref: Reference,
    byDigest: Digest | null,
  ): Promise<StoredManifest | null> {
    const reference = byDigest ?? (ref.kind === 'tag' ? ref.tag : ref.digest);
    const got = await client.getManifest(upstreamRepo, reference, ACCEPT, options.maxManifestBytes);
    if (got === null) return null;
    const expected =
      byDigest ?? (ref.kind === 'digest' ? ref.digest : tryParseDigest(got.digest ?? ''));
    const digest = digestOf(got.payload, expected ? digestAlgorithm(expected) : 'sha256');
    if (expected !== null && digest !== expected) {
      throw new UpstreamError(
        `${client.url} sent a manifest of digest ${digest} for ${expected}; it was neither served nor cached`,
      );
    }
    const manifest: StoredManifest = {
      digest,
      mediaType: got.mediaType,
      size: got.payload.byteLength,
      payload: got.payload,
    };
    try {
      await registry.manifests.put(
        repo,
        ref.kind === 'tag' ? ref : { kind: 'digest', digest },
        got.payload,
        got.mediaType,
        [],
        null,
        // Blobs and an index's children are fetched when they are pulled, not before.
        { verifyReferences: false },
      );
    } catch (e) {
      // A refusal to cache (the namespace's quota, a manifest Berth does not store) does not
      // refuse the pull: the verified bytes are served all the same.
      if (!isRegistryError(e) || e.code === 'UNKNOWN') throw e;
      log.warn(
        { repository: repo.name, digest, code: e.code, reason: e.message },
        'proxy serves a manifest it could not cache',
      );
    }
    return manifest;
  }

  async function manifestByTag(
    settings: ProxySettings,
    repo: RepositoryRef,
    ref: Extract<Reference, { kind: 'tag' }>,
    upstreamRepo: string,
  ): Promise<Served<StoredManifest>> {
    const client = await clientFor(repo.namespace, settings);
    const key = `${repo.name}:${ref.tag}`;
    const cached = await cachedManifest(repo, ref);
    const check = confirmed.get(key);
    const now = Date.now();
    if (cached && check && check.digest === cached.digest) {
      if (check.failure === null && now - check.at < settings.ttlSeconds * 1000)
        return { value: cached, warning: null };
      if (check.failure !== null && now - check.at < FAILURE_BACKOFF_MS)
        return { value: cached, warning: staleWarning(check.failure) };
    }
    const missingKey = `${settings.url} ${upstreamRepo} ${ref.tag}`;
    if (!cached && isNotFound(missingKey)) throw manifestUnknown(ref.tag);
    try {
      const head = await client.headManifest(upstreamRepo, ref.tag, ACCEPT);
      if (head === null) {
        remember(notFound, missingKey, Date.now() + options.notFoundTtlMs);
        throw manifestUnknown(
          ref.tag,
          `manifest unknown: ${client.url} has no ${upstreamRepo}:${ref.tag}`,
        );
      }
      const upstreamDigest = tryParseDigest(head.digest ?? '');
      if (cached && upstreamDigest === cached.digest) {
        remember(confirmed, key, { at: Date.now(), digest: cached.digest, failure: null });
        return { value: cached, warning: null };
      }
      const fetched = await fetchManifest(client, upstreamRepo, repo, ref, upstreamDigest);
      if (fetched === null) {
        remember(notFound, missingKey, Date.now() + options.notFoundTtlMs);
        throw manifestUnknown(
          ref.tag,
          `manifest unknown: ${client.url} has no ${upstreamRepo}:${ref.tag}`,
        );
      }
      remember(confirmed, key, { at: Date.now(), digest: fetched.digest, failure: null });
      return { value: fetched, warning: null };
    } catch (e) {
      if (!(e instanceof UpstreamError)) throw e;
      if (!cached) throw upstreamFailed(e, `${repo.requested}:${ref.tag}`, 'MANIFEST_UNKNOWN');
      log.warn(
        { repository: repo.name, tag: ref.tag, upstream: client.url, reason: e.message },
        'proxy serves a cached tag the upstream could not confirm',
      );
      remember(confirmed, key, { at: Date.now(), digest: cached.digest, failure: e.message });
      return { value: cached, warning: staleWarning(e.message) };
    }
  }

  async function manifestByDigest(
    settings: ProxySettings,
    repo: RepositoryRef,
    ref: Extract<Reference, { kind: 'digest' }>,
    upstreamRepo: string,
  ): Promise<Served<StoredManifest>> {
    const cached = await cachedManifest(repo, ref);
    if (cached) return { value: cached, warning: null };
    const client = await clientFor(repo.namespace, settings);
    const missingKey = `${settings.url} ${upstreamRepo} ${ref.digest}`;
    if (isNotFound(missingKey)) throw manifestUnknown(ref.digest);
    try {
      const fetched = await fetchManifest(client, upstreamRepo, repo, ref, ref.digest);
      if (fetched === null) {
        remember(notFound, missingKey, Date.now() + options.notFoundTtlMs);
        throw manifestUnknown(
          ref.digest,
          `manifest unknown: ${client.url} has no ${upstreamRepo}@${ref.digest}`,
        );
      }
      return { value: fetched, warning: null };
    } catch (e) {
      if (e instanceof UpstreamError)
        throw upstreamFailed(e, `${repo.requested}@${ref.digest}`, 'MANIFEST_UNKNOWN');
      throw e;
    }
  }

  /** Linked here, or cached in another repository and linked now. */
  async function linkedSource(
    settings: ProxySettings,
    repo: RepositoryRef,
    digest: Digest,
    upstreamRepo: string,
  ): Promise<RepositoryRef | null> {
    try {
      await registry.blobs.stat(repo, digest);
      return repo;
    } catch (e) {
      if (!isRegistryError(e) || e.code !== 'BLOB_UNKNOWN') throw e;
    }
    // Cached by another repository of this namespace: whoever may pull here may pull there too
    // (privileges are per namespace), so linking it tells nobody anything new.
    const sameNamespace = await mountQuietly(repo, digest, (source) =>
      Promise.resolve(source.namespace === repo.namespace),
    );
    if (sameNamespace) return repo;
    // Stored for another namespace (a hosted image, another proxy): linked only when the upstream
    // confirms this repository has the blob, so a digest alone never opens content of another
    // namespace; the confirmation is a HEAD, which costs no download.
    if (!(await registry.blobs.exists(digest))) return null;
    try {
      const client = await clientFor(repo.namespace, settings);
      if ((await client.headBlob(upstreamRepo, digest)) === null) return null;
    } catch (e) {
      if (e instanceof UpstreamError) return null;
      throw e;
    }
    return (await mountQuietly(repo, digest, () => Promise.resolve(true))) ? repo : null;
  }

  async function mountQuietly(
    repo: RepositoryRef,
    digest: Digest,
    canRead: (source: RepositoryRef) => Promise<boolean>,
  ): Promise<boolean> {
    try {
      return (await registry.blobs.mount(repo, digest, null, canRead)) !== null;
    } catch (e) {
      // Over the namespace's quota: served from the upstream instead, uncached.
      if (isRegistryError(e) && e.code !== 'UNKNOWN') return false;
      throw e;
    }
  }

  /**
   * Starts streaming the blob from the upstream into the cache; the returned stream carries the
   * same verified bytes to the client, paced by the cache (federation/client-feed.ts): a slow or
   * stalled client holds up neither the fill nor the pulls waiting for it. The fill goes on when
   * the client leaves; a failure to cache (a full disk, the quota) leaves the client's stream
   * going, paced by the client from then on.
   */
  async function startFill(
    settings: ProxySettings,
    repo: RepositoryRef,
    digest: Digest,
    upstreamRepo: string,
  ): Promise<{ size: number | null; body: Readable; done: Promise<void> } | null> {
    const client = await clientFor(repo.namespace, settings);
    const got = await client.getBlob(upstreamRepo, digest);
    if (got === null) return null;
    const verified = verifying(digest, got.size);
    got.body.on('error', (e) => verified.destroy(e));
    got.body.pipe(verified);
    const toClient = new ClientFeed(MAX_CLIENT_LAG);
    const toCache = new PassThrough();
    verified.on('data', (chunk: Buffer) => toClient.offer(chunk));
    verified.on('end', () => toClient.finishLive());
    verified.pipe(toCache);
    verified.on('error', (e) => {
      toClient.destroy(e);
      toCache.destroy(e);
    });
    // Their consumers (the response, the upload) see the failure as a cut body; the error itself
    // is reported once, by the fill.
    toClient.on('error', () => undefined);
    toCache.on('error', () => undefined);
    const done = (async () => {
      let uploadId: string | null = null;
      try {
        const upload = await registry.uploads.start(repo, CACHE_OWNER, digestAlgorithm(digest));
        uploadId = upload.id;
        await registry.uploads.complete(repo, upload.id, CACHE_OWNER, digest, {
          body: toCache,
          range: null,
        });
      } catch (e) {
        verified.unpipe(toCache);
        toCache.destroy();
        if (!verified.destroyed) toClient.paceWith(verified, asError(e));
        if (uploadId !== null)
          await registry.uploads.cancel(repo, uploadId, CACHE_OWNER).catch(() => undefined);
        log.warn(
          { repository: repo.name, digest, upstream: client.url, reason: describe(e) },
          'proxy could not cache a blob',
        );
        throw e;
      }
    })();
    // A client left behind goes on from the cache, where the rest now is.
    done.then(
      () =>
        toClient.continueFrom(async (offset) => {
          const { size } = await registry.blobs.stat(repo, digest);
          if (offset >= size) return null;
          return (await registry.blobs.open(repo, digest, { start: offset, end: size - 1 })).body;
        }),
      () => undefined,
    );
    return { size: got.size, body: toClient, done };
  }

  async function blob(
    settings: ProxySettings,
    ns: string,
    repo: RepositoryRef,
    digest: Digest,
    mode: 'head' | 'get' | 'range',
  ): Promise<BlobSource> {
    const upstreamRepo = upstreamRepository(settings.url, repo.name.slice(ns.length + 1));
    const missingKey = `${settings.url} ${upstreamRepo} ${digest}`;
    // A pull that found a fill under way waits for it and looks again; a failed fill is taken
    // over once by a waiting pull (the upstream may have recovered), then the pull fails.
    for (let round = 0; round < 3; round++) {
      const stored = await linkedSource(settings, repo, digest, upstreamRepo);
      if (stored) return { kind: 'stored', repo: stored };
      if (isNotFound(missingKey)) throw blobUnknown(digest);
      const key = `${ns} ${digest}`;
      const running = fills.get(key);
      if (running) {
        await running.catch(() => undefined);
        continue;
      }
      try {
        if (mode === 'head') {
          const head = await (
            await clientFor(repo.namespace, settings)
          ).headBlob(upstreamRepo, digest);
          if (head === null) {
            remember(notFound, missingKey, Date.now() + options.notFoundTtlMs);
            throw blobUnknown(digest);
          }
          return { kind: 'upstream', size: head.size, body: null };
        }
        const started = await fills.lead(key, () =>
          startFill(settings, repo, digest, upstreamRepo),
        );
        if (started === 'taken') continue;
        if (started === null) {
          remember(notFound, missingKey, Date.now() + options.notFoundTtlMs);
          throw blobUnknown(digest);
        }
        if (mode === 'range') {
          // The fill consumes the stream it does not hand out.
          started.body.resume();
          await started.done;
          continue;
        }
        started.done.catch(() => undefined);
        return { kind: 'upstream', size: started.size, body: started.body };
      } catch (e) {
        if (e instanceof UpstreamError)
          throw upstreamFailed(e, `${repo.requested}@${digest}`, 'BLOB_UNKNOWN');
        throw e;
      }
    }
    throw new RegistryError('UNAVAILABLE', `blob ${digest} could not be fetched into the cache`, {
      digest,
    });
  }

  return {
    manifest(ns, settings, repo, ref) {
      const upstreamRepo = upstreamRepository(settings.url, repo.name.slice(ns.length + 1));
      if (ref.kind === 'digest') return manifestByDigest(settings, repo, ref, upstreamRepo);
      const key = `${repo.name}:${ref.tag}`;
      const running = manifestFetches.get(key);
      if (running) return running;
      const fetching = manifestByTag(settings, repo, ref, upstreamRepo).finally(() =>
        manifestFetches.delete(key),
      );
      manifestFetches.set(key, fetching);
      return fetching;
    },

    blob: (ns, settings, repo, digest, mode) => blob(settings, ns, repo, digest, mode),

    async tags(settings, repo, page) {
      const ns = repo.namespace;
      const upstreamRepo = upstreamRepository(settings.url, repo.name.slice(ns.length + 1));
      const client = await clientFor(repo.namespace, settings);
      try {
        const listed = await client.listTags(upstreamRepo, page);
        if (listed === null) throw nameUnknown(repo.requested);
        return { value: listed, warning: null };
      } catch (e) {
        if (!(e instanceof UpstreamError)) throw e;
        // The tags cached so far, said to be only those.
        const local = await registry.discovery
          .listTags(repo, {
            limit: page.n ?? 100_000,
            ...(page.last !== undefined ? { after: page.last } : {}),
          })
          .catch(() => null);
        if (local === null) throw upstreamFailed(e, repo.requested, 'NAME_UNKNOWN');
        const last = local.items.at(-1);
        return {
          value: {
            tags: local.items,
            next:
              local.more && last !== undefined
                ? { last, ...(page.n !== undefined ? { n: page.n } : {}) }
                : null,
          },
          warning: staleWarning(`${e.message}; only the cached tags are listed`),
        };
      }
    },

    async referrers(settings, repo, subject, artifactType) {
      const ns = repo.namespace;
      const upstreamRepo = upstreamRepository(settings.url, repo.name.slice(ns.length + 1));
      const local = (): Promise<ReferrersIndex> =>
        registry.discovery.referrers(repo, subject, artifactType);
      try {
        const body = await (
          await clientFor(repo.namespace, settings)
        ).referrers(upstreamRepo, subject, artifactType);
        // An upstream without the referrers API: what was cached here is all there is.
        if (body === null) return { value: await local(), warning: null };
        return { value: parseReferrers(body), warning: null };
      } catch (e) {
        if (!(e instanceof UpstreamError)) throw e;
        return { value: await local(), warning: staleWarning(e.message) };
      }
    },

    health: (namespace, settings) => {
      const current = clients.get(namespace);
      return current?.key === clientKey(settings)
        ? current.client.health()
        : { lastSuccessAt: null, lastFailureAt: null, lastFailure: null };
    },

    async close() {
      await Promise.all([...clients.values()].map((c) => c.client.close()));
      clients.clear();
    },
  };
}

/** RFC 7234's "miscellaneous persistent warning", as Harbor and zot are asked to send. */
function staleWarning(reason: string): string {
  return `299 - "served from the cache: the upstream could not be asked (${reason.replaceAll('"', "'").slice(0, 300)})"`;
}

/**
 * What a pull gets when the upstream failed and the cache has nothing to serve instead: a 429
 * stays a 429 (with the upstream's Retry-After); anything else is the 404 of what was asked for,
 * its message naming the upstream's answer, and `upstreamUnavailable` in its detail. Not a 503:
 * docker, containerd, skopeo and podman show the error body of 4xx answers only, so a 5xx would
 * reach the user as "unexpected HTTP status: 503" with the reason lost (Nexus answers 404 too).
 */
function upstreamFailed(
  e: UpstreamError,
  what: string,
  code: 'MANIFEST_UNKNOWN' | 'BLOB_UNKNOWN' | 'NAME_UNKNOWN',
): RegistryError {
  const message = `${what} is not cached and the upstream could not provide it: ${e.message}`;
  const detail = {
    upstreamUnavailable: true,
    ...(e.status !== undefined ? { upstreamStatus: e.status } : {}),
  };
  if (e.status === 429) {
    return new RegistryError(
      'TOOMANYREQUESTS',
      message,
      detail,
      e.retryAfter !== undefined ? { 'Retry-After': e.retryAfter } : undefined,
    );
  }
  return new RegistryError(code, message, detail);
}

/** A failure of the upstream (not a plain "not found") as {@link upstreamFailed} reports it. */
export function isUpstreamFailure(e: unknown): boolean {
  return isRegistryError(e) && e.detail?.['upstreamUnavailable'] === true;
}

function parseReferrers(body: Buffer): ReferrersIndex {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    throw new UpstreamError('the upstream answered a referrers index that is not JSON');
  }
  const manifests =
    typeof value === 'object' &&
    value !== null &&
    Array.isArray((value as { manifests?: unknown }).manifests)
      ? ((value as { manifests: unknown[] }).manifests.filter(
          (m) => typeof m === 'object' && m !== null,
        ) as ReferrersIndex['manifests'])
      : [];
  return { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests };
}

function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
