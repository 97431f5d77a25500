/**
 * @module federation/upstream-types
 * What the cache knows of an upstream client (federation/upstream.ts), apart from its
 * implementation: undici costs ~20 MB of memory once loaded, so it is loaded only when a proxy
 * namespace is first used, and a registry without proxies never pays for it.
 */
import type { Readable } from 'node:stream';

export interface UpstreamSettings {
  /** Origin, `https://registry-1.docker.io`. */
  url: string;
  username: string | null;
  password: string | null;
}

export interface UpstreamTimeouts {
  /** To connect, and then for the response's headers. */
  connectMs: number;
  /** The longest pause between two chunks of a body. */
  idleMs: number;
}

export class UpstreamError extends Error {
  override readonly name = 'UpstreamError';
  constructor(
    message: string,
    /** The upstream's HTTP status; undefined when it did not answer (down, timeout, cut). */
    readonly status?: number,
    /** Its Retry-After, passed on with a 429. */
    readonly retryAfter?: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export interface UpstreamManifest {
  payload: Buffer;
  mediaType: string;
  /** `Docker-Content-Digest` as the upstream sent it (unverified); null when absent. */
  digest: string | null;
}

export interface UpstreamHead {
  digest: string | null;
  mediaType: string | null;
  size: number | null;
}

/** What this process last heard from the upstream: for the admin API and the UI. */
export interface UpstreamHealth {
  lastSuccessAt: string | null;
  lastFailureAt: string | null;
  /** The last failure's description (a status such as 429, a timeout, a refused connection). */
  lastFailure: string | null;
}

export interface UpstreamClient {
  readonly url: string;
  health(): UpstreamHealth;
  /** Null on 404. */
  headManifest(repository: string, reference: string, accept: string): Promise<UpstreamHead | null>;
  /** Null on 404; a body over `maxBytes` is refused. */
  getManifest(
    repository: string,
    reference: string,
    accept: string,
    maxBytes: number,
  ): Promise<UpstreamManifest | null>;
  headBlob(repository: string, digest: string): Promise<{ size: number } | null>;
  /** Null on 404. The caller consumes or destroys the body. */
  getBlob(
    repository: string,
    digest: string,
    signal?: AbortSignal,
  ): Promise<{ size: number | null; body: Readable } | null>;
  /** The upstream's JSON for `tags/list` with the same `n`/`last`, and its Link; null on 404. */
  listTags(
    repository: string,
    query: { n?: number; last?: string },
  ): Promise<{ tags: string[]; next: { n?: number; last: string } | null } | null>;
  /** The referrers index as the upstream sent it; null on 404 (no referrers API there). */
  referrers(repository: string, digest: string, artifactType?: string): Promise<Buffer | null>;
  close(): Promise<void>;
}
