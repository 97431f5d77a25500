/**
 * Repository names are checked after the mapping into the default namespace (`nginx` →
 * `library/nginx`) on the first request of every route, so a name too long once mapped is refused
 * before anything is stored; and a bad name that is stored anyway (by hand, or by an older
 * version) never makes a listing fail: the catalog skips it, the admin API reports it and can
 * delete it.
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.js';
import { OCI_CONFIG, OCI_MANIFEST, pushImage, sha256 } from '../helpers/oci.js';
import { outcome, send } from './auth-helpers.js';

let server: TestServer;
const enc = encodeURIComponent;

/** 255 characters once `library/` is in front: the longest single-segment name. */
const LONGEST = 'a'.repeat(255 - 'library/'.length);
/** Valid as sent (248 ≤ 255), 256 characters once mapped. */
const TOO_LONG = `${LONGEST}b`;

async function catalog(query = ''): Promise<{ names: string[]; link: string | null }> {
  const res = await send(server, 'GET', `/v2/_catalog${query}`);
  expect(res.status).toBe(200);
  const body = (await res.json()) as { repositories: string[] };
  return { names: body.repositories, link: res.headers.get('link') };
}

/** Every name of the catalog, walked with `n` per page; each page but the last must be full. */
async function walkCatalog(n: number): Promise<string[]> {
  const names: string[] = [];
  let query = `?n=${n}`;
  for (let pages = 0; pages < 100; pages++) {
    const page = await catalog(query);
    names.push(...page.names);
    if (page.link === null) return names;
    expect(page.names).toHaveLength(n);
    const next = /<\/v2\/_catalog(\?[^>]*)>/.exec(page.link)?.[1];
    expect(next).toBeDefined();
    query = next ?? '';
  }
  throw new Error('the catalog never ended');
}

beforeAll(async () => {
  server = await startServer();
});

afterAll(async () => {
  await server.close();
});

describe('a single-segment name too long once mapped into library/', () => {
  it.each([
    ['POST', '/blobs/uploads/'],
    ['POST', `/blobs/uploads/?digest=${sha256('')}`],
    ['PUT', '/manifests/v1'],
    ['GET', '/manifests/v1'],
    ['DELETE', `/manifests/${sha256('x')}`],
    ['HEAD', `/blobs/${sha256('x')}`],
    ['GET', '/tags/list'],
    ['GET', `/referrers/${sha256('x')}`],
  ])('%s /v2/<name>%s → 400 NAME_INVALID', async (method, route) => {
    const url = `/v2/${TOO_LONG}${route}`;
    const res = await send(server, method, url, undefined, {
      ...(method === 'PUT'
        ? {
            body: JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST }),
            headers: { 'content-type': OCI_MANIFEST },
          }
        : {}),
    });
    expect(res.status).toBe(400);
    if (method !== 'HEAD') {
      const body = (await res.json()) as { errors: { code: string; message: string }[] };
      expect(body.errors[0]?.code).toBe('NAME_INVALID');
      expect(body.errors[0]?.message).toMatch(/longer than 255/);
    }
  });

  it('the admin API refuses it too, and nothing was stored', async () => {
    const res = await send(server, 'GET', `/api/v1/repositories/${TOO_LONG}`);
    expect(await outcome(res)).toBe('400 INVALID_REQUEST');
    expect((await catalog()).names.some((n) => n.includes(TOO_LONG))).toBe(false);
  });

  it('a name exactly 255 characters long once mapped is pushed and listed', async () => {
    await pushImage(server.url, LONGEST, 'v1');
    expect((await catalog()).names).toContain(`library/${LONGEST}`);
    expect(await outcome(await send(server, 'GET', `/v2/${LONGEST}/tags/list`))).toBe('200');
  });
});

describe('bad rows in the database', () => {
  const good = ['library/good-a', 'library/good-b', 'library/good-c'];
  const badNames = [`library/${'x'.repeat(260)}`, 'library/Upper-Case', 'library/a..b'];
  let subject = '';

  beforeAll(async () => {
    for (const name of good) subject = (await pushImage(server.url, name, 'v1')).digest;
    // What an older version (or a hand) could have stored: names today's checks refuse, and a
    // referrer whose annotations are not JSON.
    const db = new Database(path.join(server.dataDir, 'meta.sqlite'));
    try {
      db.pragma('busy_timeout = 5000');
      const at = new Date().toISOString();
      const insertRepo = db.prepare(
        "INSERT INTO repositories (name, namespace, created_at) VALUES (?, 'library', ?)",
      );
      for (const name of badNames) insertRepo.run(name, at);
      const payload = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          config: { mediaType: OCI_CONFIG, digest: 'sha256:../../../etc/passwd', size: 10 },
          layers: [],
        }),
      );
      db.prepare(
        `INSERT INTO manifests (repository, digest, media_type, size, payload, artifact_type,
           subject, annotations, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(
        'library/good-c',
        sha256(payload),
        OCI_MANIFEST,
        payload.length,
        payload,
        'application/x-test',
        subject,
        '{not json',
        at,
      );
    } finally {
      db.close();
    }
  });

  it('the catalog skips them: 200, full pages, every good name once', async () => {
    const all = (await catalog()).names;
    for (const name of badNames) expect(all).not.toContain(name);
    expect(all).toEqual(expect.arrayContaining(good));
    const walked = await walkCatalog(1);
    expect(walked).toEqual(all);
  });

  it('the referrers listing and the detail survive a row with broken annotations and digest', async () => {
    const res = await send(server, 'GET', `/v2/library/good-c/referrers/${subject}`);
    expect(res.status).toBe(200);
    const index = (await res.json()) as { manifests: { artifactType: string; digest: string }[] };
    expect(index.manifests.map((m) => m.artifactType)).toEqual(['application/x-test']);
    const detail = await send(
      server,
      'GET',
      `/api/v1/repositories/${enc('library/good-c')}/manifests/${index.manifests[0]?.digest ?? ''}`,
    );
    expect(detail.status).toBe(200);
    const body = (await detail.json()) as { config: unknown; annotations: unknown };
    expect(body.config).toBeNull();
    const tags = await send(server, 'GET', `/api/v1/repositories/${enc('library/good-c')}/tags`);
    expect(tags.status).toBe(200);
  });

  it('the admin API lists them, shows their page and deletes them', async () => {
    const list = await send(server, 'GET', '/api/v1/repositories?limit=200');
    expect(list.status).toBe(200);
    const listed = ((await list.json()) as { items: { name: string }[] }).items.map((r) => r.name);
    expect(listed).toEqual(expect.arrayContaining([...good, ...badNames]));
    for (const route of ['/api/v1/overview', '/api/v1/namespaces']) {
      expect(await outcome(await send(server, 'GET', route))).toBe('200');
    }

    for (const name of badNames) {
      // The web UI's repository page: the repository and its (empty) tag list.
      const page = await send(server, 'GET', `/api/v1/repositories/${enc(name)}`);
      expect(page.status).toBe(200);
      expect(((await page.json()) as { name: string }).name).toBe(name);
      expect(
        await outcome(await send(server, 'GET', `/api/v1/repositories/${enc(name)}/tags`)),
      ).toBe('200');
      expect(await outcome(await send(server, 'DELETE', `/api/v1/repositories/${enc(name)}`))).toBe(
        '204',
      );
    }
    const after = await send(server, 'GET', '/api/v1/repositories?limit=200');
    const left = ((await after.json()) as { items: { name: string }[] }).items.map((r) => r.name);
    for (const name of badNames) expect(left).not.toContain(name);
    expect(left).toEqual(expect.arrayContaining(good));
  });
});
