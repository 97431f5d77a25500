/**
 * @module http/v2/handlers
 * Thin handlers for the distribution API: parse the request, call the registry, set headers.
 * They never touch SQL or files, and every error is thrown to `http/errors.ts`.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AuditLog } from '../../auth/audit.js';
import {
  digestAlgorithm,
  digestOf,
  isDigestAlgorithm,
  parseDigest,
  type Digest,
  type DigestAlgorithm,
} from '../../core/digest.js';
import { RegistryError, manifestUnknown } from '../../core/errors.js';
import { MediaType, SUPPORTED_MANIFEST_TYPES } from '../../core/media-types.js';
import { parseTag, type Tag } from '../../core/names.js';
import type { NamespaceRouter } from '../../federation/router.js';
import type { Registry, RepositoryRef } from '../../registry/index.js';
import { parseReadReference, parseReference } from '../../registry/manifests.js';
import type { PullLog } from '../../registry/pull-log.js';
import type { UploadState } from '../../registry/uploads.js';
import {
  acceptsManifest,
  hasBody,
  ifRangeAllows,
  parseContentRange,
  parsePageSize,
  parseRange,
  queryValue,
  queryValues,
} from './headers.js';
import { readBounded } from './body.js';
import { isAllowed, mayPullByPolicy, unauthorizedChallenge, type AccessContext } from './access.js';

export interface V2Context extends AccessContext {
  registry: Registry;
  request: FastifyRequest;
  reply: FastifyReply;
  /** Manifest bodies above this are refused with 413. */
  maxManifestBytes: number;
  /** Who upload sessions started by this request belong to ('' without authentication). */
  owner: string;
  audit: AuditLog;
  /** Manifest GETs are noted here for retention (written in batches). */
  pulls: PullLog;
  /** Where content lives by the namespace's kind: hosted, a proxy's cache, a group's members. */
  router: NamespaceRouter;
}

/** Pushes and deletes go to the audit log with who, what and from where. */
function record(
  ctx: V2Context,
  action: 'push' | 'delete',
  target: string,
  detail?: Record<string, unknown>,
): void {
  ctx.audit.record({
    actor: ctx.authn.principal.name || 'anonymous',
    action,
    target,
    outcome: 'success',
    client: ctx.request.ip,
    ...(detail ? { detail } : {}),
  });
}

/** Tags lists are not paginated unless asked (`n`); this only bounds one response. */
const MAX_TAGS_PAGE = 100_000;
const CATALOG_DEFAULT_PAGE = 1000;
const MAX_PAGE = 10_000;
const MAX_TAGS_PER_PUT = 100;
const EMPTY_DIGESTS = new Set<string>([
  digestOf(new Uint8Array(0), 'sha256'),
  digestOf(new Uint8Array(0), 'sha512'),
]);

// ── manifests ────────────────────────────────────────────────────────────────

export async function getManifest(
  ctx: V2Context,
  repo: RepositoryRef,
  reference: string,
): Promise<void> {
  const { request, reply } = ctx;
  const served = await ctx.router.manifest(repo, parseReadReference(reference));
  const manifest = served.value;
  if (served.warning !== null) reply.header('warning', served.warning);
  if (!acceptsManifest(request.headers.accept, manifest.mediaType, SUPPORTED_MANIFEST_TYPES)) {
    throw manifestUnknown(
      reference,
      `manifest is stored as ${manifest.mediaType}, which the request's Accept header does not include`,
    );
  }
  reply
    .code(200)
    .header('content-type', manifest.mediaType)
    .header('content-length', manifest.size)
    .header('docker-content-digest', manifest.digest)
    .header('etag', `"${manifest.digest}"`);
  if (request.method === 'HEAD') return sendEmpty(reply);
  // A GET is a pull; a HEAD is how clients check whether they need one (and how pushes probe).
  ctx.pulls.record(repo.name, manifest.digest);
  return sendBuffer(reply, manifest.payload);
}

export async function putManifest(
  ctx: V2Context,
  repo: RepositoryRef,
  reference: string,
): Promise<void> {
  const { request, reply } = ctx;
  const ref = parseReference(reference);
  const extraTags = queryValues(request.query, 'tag').map((t): Tag => parseTag(t));
  if (extraTags.length > MAX_TAGS_PER_PUT) {
    throw new RegistryError(
      'TAG_INVALID',
      `at most ${MAX_TAGS_PER_PUT} tag parameters per request`,
    );
  }
  const payload = await readBounded(request.raw, ctx.maxManifestBytes, 'manifest');
  const result = await ctx.registry.manifests.put(
    repo,
    ref,
    payload,
    request.headers['content-type'],
    extraTags,
    ctx.authn.principal.name || null,
  );
  reply
    .code(201)
    .header('location', `/v2/${repo.requested}/manifests/${result.digest}`)
    .header('docker-content-digest', result.digest);
  record(ctx, 'push', `${repo.name}@${result.digest}`, { tags: result.tags });
  if (result.subject) reply.header('oci-subject', result.subject);
  if (extraTags.length > 0) reply.header('oci-tag', extraTags.join(', '));
  return sendEmpty(reply);
}

export async function deleteManifest(
  ctx: V2Context,
  repo: RepositoryRef,
  reference: string,
): Promise<void> {
  await ctx.registry.manifests.delete(repo, parseReadReference(reference));
  record(ctx, 'delete', `${repo.name}:${reference}`);
  ctx.reply.code(202);
  return sendEmpty(ctx.reply);
}

// ── blobs ────────────────────────────────────────────────────────────────────

export async function getBlob(
  ctx: V2Context,
  requested: RepositoryRef,
  rawDigest: string,
): Promise<void> {
  const { request, reply, registry } = ctx;
  const digest = parseDigest(rawDigest);
  const etag = `"${digest}"`;
  const ranged =
    request.headers.range !== undefined && ifRangeAllows(request.headers['if-range'], etag);
  const source = await ctx.router.blob(
    requested,
    digest,
    request.method === 'HEAD' ? 'head' : ranged ? 'range' : 'get',
  );
  reply.header('docker-content-digest', digest).header('content-type', MediaType.octetStream);
  if (source.kind === 'upstream') {
    // Not cached yet: the bytes stream from a proxy's upstream as they are cached.
    reply.code(200);
    if (source.size !== null) reply.header('content-length', source.size);
    if (source.body === null) return sendEmpty(reply);
    return reply.send(source.body);
  }
  // Where it is stored: the repository itself, or the member of a group that has it.
  const repo = source.repo;
  const info =
    request.method === 'HEAD'
      ? await registry.blobs.check(repo, digest)
      : await registry.blobs.stat(repo, digest);
  reply.header('accept-ranges', 'bytes').header('etag', etag);
  const wanted =
    request.method === 'GET' && ifRangeAllows(request.headers['if-range'], etag)
      ? parseRange(request.headers.range, info.size)
      : ({ kind: 'full' } as const);
  if (wanted.kind === 'unsatisfiable') {
    throw new RegistryError(
      'RANGE_INVALID',
      'requested range not satisfiable',
      { size: info.size },
      {
        'Content-Range': `bytes */${info.size}`,
      },
    );
  }
  if (request.method === 'HEAD') {
    reply.code(200).header('content-length', info.size);
    return sendEmpty(reply);
  }
  // Redirected only without If-Range: the store would compare it with its own ETag, not Berth's
  // digest, and answer a resuming client the whole blob. A Range header goes along with the
  // client to the URL, and the store honours it.
  const location =
    request.headers['if-range'] === undefined ? await registry.blobs.readUrl(digest) : null;
  if (location !== null) {
    // What describes a body Berth sends does not describe this empty answer.
    for (const name of ['accept-ranges', 'etag', 'content-type']) reply.removeHeader(name);
    reply.code(307).header('location', location);
    return sendEmpty(reply);
  }
  const range = wanted.kind === 'partial' ? wanted.range : undefined;
  const { body } = await registry.blobs.open(repo, digest, range);
  if (range) {
    reply
      .code(206)
      .header('content-range', `bytes ${range.start}-${range.end}/${info.size}`)
      .header('content-length', range.end - range.start + 1);
  } else {
    reply.code(200).header('content-length', info.size);
  }
  return reply.send(body);
}

export async function deleteBlob(
  ctx: V2Context,
  repo: RepositoryRef,
  rawDigest: string,
): Promise<void> {
  await ctx.registry.blobs.delete(repo, parseDigest(rawDigest));
  record(ctx, 'delete', `${repo.name}@${rawDigest}`);
  ctx.reply.code(202);
  return sendEmpty(ctx.reply);
}

// ── uploads ──────────────────────────────────────────────────────────────────

export async function startUpload(ctx: V2Context, repo: RepositoryRef): Promise<void> {
  const { request, reply, registry } = ctx;
  const mount = queryValue(request.query, 'mount');
  if (mount !== undefined) {
    const digest = parseDigest(mount);
    const fromName = queryValue(request.query, 'from');
    const from = fromName !== undefined ? registry.repository(fromName) : null;
    // Mounting reads the source, so it needs pull there. A token that lacks it while the
    // caller's roles allow it gets a challenge for both scopes (as distribution does); without
    // any right to the source the client simply uploads. Without `from`, any repository the
    // caller may pull from by its roles can be the source.
    if (from !== null && !(await isAllowed(ctx, from, ['pull'])) && ctx.authn.via === 'bearer') {
      if (await mayPullByPolicy(ctx, from)) {
        throw unauthorizedChallenge(
          ctx,
          'token lacks pull on the mount source',
          `repository:${repo.requested}:pull,push repository:${from.requested}:pull`,
          'insufficient_scope',
        );
      }
    }
    const mounted =
      from === null || (await isAllowed(ctx, from, ['pull']))
        ? await registry.blobs.mount(repo, digest, from, (source) => mayPullByPolicy(ctx, source))
        : null;
    if (mounted) return blobCreated(ctx, repo, mounted.digest);
    // Not mountable: the spec says to answer with a fresh upload session instead.
  }

  const digestParam = queryValue(request.query, 'digest');
  const digest = digestParam !== undefined ? parseDigest(digestParam) : undefined;
  const algorithm = digest ? digestAlgorithm(digest) : parseAlgorithm(request.query);
  if (digest && (hasBody(request.headers) || EMPTY_DIGESTS.has(digest))) {
    // Single-POST monolithic upload.
    const upload = await registry.uploads.start(repo, ctx.owner, algorithm);
    const chunk = hasBody(request.headers) ? { body: request.raw, range: null } : null;
    const blob = await registry.uploads.complete(repo, upload.id, ctx.owner, digest, chunk);
    return blobCreated(ctx, repo, blob.digest);
  }
  const upload = await registry.uploads.start(repo, ctx.owner, algorithm);
  reply.code(202);
  return uploadAccepted(ctx, repo, upload);
}

export async function patchUpload(ctx: V2Context, repo: RepositoryRef, id: string): Promise<void> {
  const { request, reply } = ctx;
  const range = parseContentRange(request.headers);
  const state = await ctx.registry.uploads.append(repo, id, ctx.owner, {
    body: request.raw,
    range,
  });
  reply.code(202);
  return uploadAccepted(ctx, repo, state);
}

export async function putUpload(ctx: V2Context, repo: RepositoryRef, id: string): Promise<void> {
  const { request } = ctx;
  const digestParam = queryValue(request.query, 'digest');
  if (digestParam === undefined)
    throw new RegistryError(
      'DIGEST_INVALID',
      'the digest query parameter is required to finish an upload',
    );
  const digest = parseDigest(digestParam);
  const range = parseContentRange(request.headers);
  const chunk = hasBody(request.headers) || range ? { body: request.raw, range } : null;
  const blob = await ctx.registry.uploads.complete(repo, id, ctx.owner, digest, chunk);
  return blobCreated(ctx, repo, blob.digest);
}

export async function getUpload(ctx: V2Context, repo: RepositoryRef, id: string): Promise<void> {
  const state = await ctx.registry.uploads.status(repo, id, ctx.owner);
  ctx.reply.code(204);
  return uploadAccepted(ctx, repo, state);
}

export async function cancelUpload(ctx: V2Context, repo: RepositoryRef, id: string): Promise<void> {
  await ctx.registry.uploads.cancel(repo, id, ctx.owner);
  ctx.reply.code(204);
  return sendEmpty(ctx.reply);
}

// ── discovery ────────────────────────────────────────────────────────────────

export async function listTags(ctx: V2Context, repo: RepositoryRef): Promise<void> {
  const { request, reply } = ctx;
  const n = parsePageSize(queryValue(request.query, 'n'));
  const last = queryValue(request.query, 'last');
  const limit = n === undefined ? MAX_TAGS_PAGE : Math.min(n, MAX_PAGE);
  const served = await ctx.router.tags(repo, {
    limit: n === 0 ? 0 : limit,
    ...(n !== undefined ? { n } : {}),
    ...(last !== undefined ? { last } : {}),
  });
  if (served.warning !== null) reply.header('warning', served.warning);
  const page = n === 0 ? { items: [], more: false } : served.value;
  const lastItem = page.items.at(-1);
  if (page.more && lastItem !== undefined) {
    reply.header(
      'link',
      `</v2/${repo.requested}/tags/list?n=${limit}&last=${encodeURIComponent(lastItem)}>; rel="next"`,
    );
  }
  return sendJson(reply, 200, { name: repo.requested, tags: page.items });
}

export async function listCatalog(ctx: V2Context): Promise<void> {
  const { request, reply } = ctx;
  const n = parsePageSize(queryValue(request.query, 'n'));
  const last = queryValue(request.query, 'last');
  const limit = Math.min(n ?? CATALOG_DEFAULT_PAGE, MAX_PAGE);
  if (limit === 0) return sendJson(reply, 200, { repositories: [] });
  // Filtered before paging, in the query: a page is full, and neither it nor its Link can name a
  // repository the caller may not pull from.
  const page = await ctx.registry.discovery.listRepositories(
    { limit, ...(last !== undefined ? { after: last } : {}) },
    await pullableNamespaces(ctx),
  );
  for (const name of page.skipped) {
    request.log.warn(
      { repository: name.slice(0, 300) },
      'catalog skips a stored repository name that is not valid',
    );
  }
  const lastItem = page.items.at(-1);
  if (page.more && lastItem !== undefined) {
    reply.header(
      'link',
      `</v2/_catalog?n=${limit}&last=${encodeURIComponent(lastItem)}>; rel="next"`,
    );
  }
  return sendJson(reply, 200, { repositories: page.items });
}

/**
 * The namespaces whose repositories the caller's roles let it pull from ('all' without
 * authentication or for the administrator, so their catalog costs no more than before).
 * Namespaces are few; repositories are many and never parsed for this.
 */
async function pullableNamespaces(ctx: V2Context): Promise<readonly string[] | 'all'> {
  const { auth, authn } = ctx;
  if (!auth || (await auth.isAdmin(authn.principal))) return 'all';
  return auth.pullableAmong(authn.principal, await ctx.registry.namespaces.visibility());
}

export async function listReferrers(
  ctx: V2Context,
  repo: RepositoryRef,
  rawDigest: string,
): Promise<void> {
  const { request, reply } = ctx;
  const subject = parseDigest(rawDigest);
  const artifactType = queryValue(request.query, 'artifactType');
  const served = await ctx.router.referrers(repo, subject, artifactType);
  const index = served.value;
  if (served.warning !== null) reply.header('warning', served.warning);
  if (artifactType !== undefined) reply.header('oci-filters-applied', 'artifactType');
  reply.code(200).header('content-type', MediaType.ociIndex);
  return sendBuffer(reply, Buffer.from(JSON.stringify(index)));
}

// ── helpers ──────────────────────────────────────────────────────────────────

function parseAlgorithm(query: unknown): DigestAlgorithm {
  const value = queryValue(query, 'digest-algorithm');
  if (value === undefined) return 'sha256';
  if (!isDigestAlgorithm(value)) {
    throw new RegistryError(
      'DIGEST_INVALID',
      `unsupported digest algorithm "${value.slice(0, 50)}"; use sha256 or sha512`,
    );
  }
  return value;
}

function blobCreated(ctx: V2Context, repo: RepositoryRef, digest: Digest): Promise<void> {
  ctx.reply
    .code(201)
    .header('location', `/v2/${repo.requested}/blobs/${digest}`)
    .header('docker-content-digest', digest);
  return sendEmpty(ctx.reply);
}

function uploadAccepted(ctx: V2Context, repo: RepositoryRef, state: UploadState): Promise<void> {
  const { reply, registry } = ctx;
  reply
    .header('location', `/v2/${repo.requested}/blobs/uploads/${state.id}`)
    .header('range', `0-${Math.max(state.offset - 1, 0)}`)
    .header('docker-upload-uuid', state.id);
  if (registry.minChunkLength > 0) reply.header('oci-chunk-min-length', registry.minChunkLength);
  return sendEmpty(reply);
}

function sendJson(reply: FastifyReply, status: number, body: unknown): Promise<void> {
  reply.code(status).header('content-type', 'application/json');
  return sendBuffer(reply, Buffer.from(JSON.stringify(body)));
}

function sendBuffer(reply: FastifyReply, body: Buffer): Promise<void> {
  return reply.send(body) as unknown as Promise<void>;
}

function sendEmpty(reply: FastifyReply): Promise<void> {
  if (!reply.hasHeader('content-length')) reply.header('content-length', 0);
  return reply.send() as unknown as Promise<void>;
}
