/**
 * Per-namespace rules (issue 11, items 4 and 5), over HTTP to a real server:
 * - immutable tags: set with `PATCH /api/v1/namespaces/:name`; a matching tag may be created and
 *   re-pushed with the same digest (201), but moving it (PUT by tag or `?tag=`) and deleting it
 *   (by tag, by the digest it points at, through the admin API, with its repository) is 403 DENIED
 *   with a message naming the rule; clearing the rules allows it again;
 * - index children: `all` (default) refuses an index with a missing child, a platform list only
 *   for the listed platforms, `none` never; null goes back to the configured default.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  OCI_INDEX,
  OCI_MANIFEST,
  pushImage,
  putManifest,
  sha256,
  type PushedImage,
} from '../helpers/oci.js';
import { startServer, type TestServer } from '../helpers/server.js';

let server: TestServer;

beforeAll(async () => {
  server = await startServer();
  await server.app.registry.namespaces.create('team');
});

afterAll(async () => {
  await server.close();
});

interface ErrorBody {
  errors: { code: string; message: string; detail?: Record<string, unknown> }[];
}

/** Status, first error code and message of a response. */
async function outcome(
  res: Response,
): Promise<{ status: number; code?: string | undefined; message?: string | undefined }> {
  if (res.status < 400) {
    await res.arrayBuffer();
    return { status: res.status };
  }
  const body = (await res.json()) as ErrorBody;
  return { status: res.status, code: body.errors[0]?.code, message: body.errors[0]?.message };
}

async function patchNamespace(name: string, body: unknown): Promise<Response> {
  return fetch(`${server.url}/api/v1/namespaces/${name}`, {
    method: 'PATCH',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

const del = (path: string): Promise<Response> =>
  fetch(`${server.url}${path}`, { method: 'DELETE' });

async function tagDigest(repository: string, tag: string): Promise<string | null> {
  const res = await fetch(`${server.url}/v2/${repository}/manifests/${tag}`, {
    method: 'HEAD',
    headers: { accept: OCI_MANIFEST },
  });
  return res.status === 200 ? res.headers.get('docker-content-digest') : null;
}

const denied = (tag: string, rule: string, change: 'moved' | 'deleted') => ({
  status: 403,
  code: 'DENIED',
  message: `tag ${tag} matches the immutable-tag rule ${rule} of namespace team: it cannot be ${change}`,
});

describe('immutable tags', () => {
  const repo = 'team/app';
  let v1: PushedImage;
  let other: PushedImage;

  beforeAll(async () => {
    const res = await patchNamespace('team', { immutableTags: ['v*', 'release-?'] });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      name: 'team',
      immutableTags: ['v*', 'release-?'],
      indexChildren: null,
    });
    v1 = await pushImage(server.url, repo, 'v1.0');
    other = await pushImage(server.url, repo, 'latest');
  });

  it('are listed by the admin API', async () => {
    const res = await fetch(`${server.url}/api/v1/namespaces/team`);
    expect(await res.json()).toMatchObject({ immutableTags: ['v*', 'release-?'] });
  });

  it('refuses a pattern that is not a tag glob, and changes nothing', async () => {
    expect(await outcome(await patchNamespace('team', { immutableTags: ['v*', 'a/b'] }))).toEqual({
      status: 400,
      code: 'INVALID_REQUEST',
      message:
        'immutable-tag pattern "a/b" is not a tag pattern: letters, digits, ".", "_", "-" and the wildcards "*" and "?"',
    });
    const res = await fetch(`${server.url}/api/v1/namespaces/team`);
    expect(await res.json()).toMatchObject({ immutableTags: ['v*', 'release-?'] });
  });

  it('pushing the same digest again to an immutable tag is a no-op 201', async () => {
    expect(await outcome(await putManifest(server.url, repo, 'v1.0', v1.manifest))).toEqual({
      status: 201,
    });
    const byDigest = await putManifest(server.url, repo, `${v1.digest}?tag=v1.0`, v1.manifest);
    expect(await outcome(byDigest)).toEqual({ status: 201 });
    expect(await tagDigest(repo, 'v1.0')).toBe(v1.digest);
  });

  it('refuses moving an immutable tag, by tag and with ?tag=', async () => {
    expect(await outcome(await putManifest(server.url, repo, 'v1.0', other.manifest))).toEqual(
      denied('v1.0', 'v*', 'moved'),
    );
    const withParam = await putManifest(
      server.url,
      repo,
      `${other.digest}?tag=latest&tag=v1.0`,
      other.manifest,
    );
    expect(await outcome(withParam)).toEqual(denied('v1.0', 'v*', 'moved'));
    expect(await tagDigest(repo, 'v1.0')).toBe(v1.digest);
  });

  it('matches ? as exactly one character', async () => {
    await pushImage(server.url, repo, 'release-1');
    expect(await outcome(await putManifest(server.url, repo, 'release-1', v1.manifest))).toEqual(
      denied('release-1', 'release-?', 'moved'),
    );
    await pushImage(server.url, repo, 'release-10');
    // release-10 is not covered: it moves freely.
    expect(await outcome(await putManifest(server.url, repo, 'release-10', v1.manifest))).toEqual({
      status: 201,
    });
  });

  it('lets other tags move', async () => {
    expect(await outcome(await putManifest(server.url, repo, 'latest', v1.manifest))).toEqual({
      status: 201,
    });
    expect(await tagDigest(repo, 'latest')).toBe(v1.digest);
  });

  it('refuses deleting an immutable tag on /v2, by tag and by the digest it points at', async () => {
    expect(await outcome(await del(`/v2/${repo}/manifests/v1.0`))).toEqual(
      denied('v1.0', 'v*', 'deleted'),
    );
    expect(await outcome(await del(`/v2/${repo}/manifests/${v1.digest}`))).toEqual(
      denied('v1.0', 'v*', 'deleted'),
    );
    expect(await tagDigest(repo, 'v1.0')).toBe(v1.digest);
  });

  it('refuses deleting it through the admin API: tag, manifest and repository', async () => {
    const name = encodeURIComponent(repo);
    expect(await outcome(await del(`/api/v1/repositories/${name}/tags/v1.0`))).toEqual(
      denied('v1.0', 'v*', 'deleted'),
    );
    expect(await outcome(await del(`/api/v1/repositories/${name}/manifests/${v1.digest}`))).toEqual(
      denied('v1.0', 'v*', 'deleted'),
    );
    const repoDelete = await outcome(await del(`/api/v1/repositories/${name}`));
    expect(repoDelete).toMatchObject({ status: 403, code: 'DENIED' });
    expect(repoDelete.message).toMatch(
      /^tag (v1\.0|release-1) matches the immutable-tag rule (v\*|release-\?) of namespace team: it cannot be deleted$/,
    );
    expect(await tagDigest(repo, 'v1.0')).toBe(v1.digest);
  });

  it('allows moving and deleting once the rules are cleared', async () => {
    const res = await patchNamespace('team', { immutableTags: [] });
    expect(await res.json()).toMatchObject({ immutableTags: [] });
    expect(await outcome(await putManifest(server.url, repo, 'v1.0', other.manifest))).toEqual({
      status: 201,
    });
    expect(await outcome(await del(`/v2/${repo}/manifests/v1.0`))).toEqual({ status: 202 });
    expect(await tagDigest(repo, 'v1.0')).toBeNull();
  });
});

describe('index children', () => {
  const repo = 'team/multi';
  let amd64: PushedImage;
  /** A digest nothing was pushed under. */
  const missing = sha256('never pushed');

  function index(children: { digest: string; architecture: string }[]): string {
    return JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: children.map((c) => ({
        mediaType: OCI_MANIFEST,
        digest: c.digest,
        size: 500,
        platform: { os: 'linux', architecture: c.architecture },
      })),
    });
  }
  const sparse = () =>
    index([
      { digest: amd64.digest, architecture: 'amd64' },
      { digest: missing, architecture: 'arm64' },
    ]);
  const put = async (tag: string, body: string) =>
    outcome(await putManifest(server.url, repo, tag, body, OCI_INDEX));

  beforeAll(async () => {
    amd64 = await pushImage(server.url, repo, 'amd64');
  });

  it('a platform list requires only the listed platforms (by default: every child)', async () => {
    expect(await put('sparse', sparse())).toMatchObject({
      status: 400,
      code: 'MANIFEST_BLOB_UNKNOWN',
    });
    const res = await patchNamespace('team', { indexChildren: 'linux/amd64' });
    expect(await res.json()).toMatchObject({ indexChildren: 'linux/amd64' });
    expect(await put('sparse', sparse())).toEqual({ status: 201 });
    const amd64Missing = index([
      { digest: missing, architecture: 'amd64' },
      { digest: amd64.digest, architecture: 'arm64' },
    ]);
    expect(await put('broken', amd64Missing)).toMatchObject({
      status: 400,
      code: 'MANIFEST_BLOB_UNKNOWN',
    });
  });

  it('none requires no child', async () => {
    await patchNamespace('team', { indexChildren: 'none' });
    const allMissing = index([
      { digest: missing, architecture: 'amd64' },
      { digest: sha256('also never pushed'), architecture: 'arm64' },
    ]);
    expect(await put('none', allMissing)).toEqual({ status: 201 });
  });

  it('null goes back to the configured default (all)', async () => {
    const res = await patchNamespace('team', { indexChildren: null });
    expect(await res.json()).toMatchObject({ indexChildren: null });
    expect(await put('again', sparse().replace('"size":500', '"size":501'))).toMatchObject({
      status: 400,
      code: 'MANIFEST_BLOB_UNKNOWN',
    });
  });

  it('refuses a value that is not all, none or platforms', async () => {
    expect(await outcome(await patchNamespace('team', { indexChildren: 'linux' }))).toEqual({
      status: 400,
      code: 'INVALID_REQUEST',
      message:
        'index-children "linux" is not "all", "none" or a comma-separated platform list such as linux/amd64,linux/arm64/v8',
    });
  });
});
