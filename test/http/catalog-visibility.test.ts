/**
 * Listings show only what the caller may pull, filtered before paging: a developer bound to one
 * namespace walks `GET /v2/_catalog?n=1` page by page and every page is full, holds only their
 * names, and no `Link` names a private repository. The admin API's listings are checked for the
 * same leak.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, startServer, type TestServer } from '../helpers/server.js';
import { addUser, basic, bearer, outcome, pushImageAs, send, tokenFor } from './auth-helpers.js';

let server: TestServer;
let developer = '';
const admin = basic('admin', ADMIN_PASSWORD);

/** Sorted byte-wise, as the catalog is. */
const PRIVATE = ['aaa/early', 'library/secret-a', 'library/secret-b', 'zzz/late'];
const VISIBLE = ['pub/open', 'zteam/mine', 'zteam/other', 'zteam/third'];

interface CatalogWalk {
  pages: string[][];
  links: string[];
}

/** Follows the catalog's Link headers from `?n=…` to the end. */
async function walk(authorization: string, n: number): Promise<CatalogWalk> {
  const result: CatalogWalk = { pages: [], links: [] };
  let query = `?n=${n}`;
  for (let i = 0; i < 50; i++) {
    const res = await send(server, 'GET', `/v2/_catalog${query}`, authorization);
    expect(res.status).toBe(200);
    result.pages.push(((await res.json()) as { repositories: string[] }).repositories);
    const link = res.headers.get('link');
    if (link === null) return result;
    result.links.push(link);
    const next = /<\/v2\/_catalog(\?[^>]*)>; rel="next"/.exec(link)?.[1];
    expect(next).toBeDefined();
    query = next ?? '';
  }
  throw new Error('the catalog never ended');
}

/** Every repository name a Link header or body could leak, decoded. */
function named(link: string): string {
  return decodeURIComponent(/last=([^&>]*)/.exec(link)?.[1] ?? '');
}

beforeAll(async () => {
  server = await startServer({ auth: true });
  for (const ns of ['aaa', 'zteam', 'zzz']) await server.app.registry.namespaces.create(ns);
  await server.app.registry.namespaces.create('pub', { public: true });
  for (const repository of [...PRIVATE, ...VISIBLE]) {
    expect((await pushImageAs(server, repository, 'v1', admin)).outcome).toBe('201');
  }
  developer = await addUser(server, 'zdev', [{ role: 'developer', namespace: 'zteam' }]);
});

afterAll(async () => {
  await server.close();
});

describe('GET /v2/_catalog', () => {
  it('pages of one: each full, only visible names, no Link naming a private one', async () => {
    const { pages, links } = await walk(developer, 1);
    expect(pages).toEqual(VISIBLE.map((name) => [name]));
    expect(links.map(named)).toEqual(VISIBLE.slice(0, -1));
  });

  it('pages of three with a bearer token: the same names, full pages', async () => {
    const token = await tokenFor(server, developer, ['registry:catalog:*']);
    const { pages, links } = await walk(bearer(token), 3);
    expect(pages).toEqual([VISIBLE.slice(0, 3), VISIBLE.slice(3)]);
    for (const link of links) expect(VISIBLE).toContain(named(link));
  });

  it('a `last` that is a private name leads on to the next visible one', async () => {
    const res = await send(server, 'GET', '/v2/_catalog?n=1&last=library%2Fsecret-a', developer);
    expect(((await res.json()) as { repositories: string[] }).repositories).toEqual(['pub/open']);
    expect(named(res.headers.get('link') ?? '')).toBe('pub/open');
  });

  it('the administrator pages through everything', async () => {
    const { pages } = await walk(admin, 2);
    expect(pages.flat()).toEqual([...PRIVATE, ...VISIBLE].sort());
    for (const page of pages.slice(0, -1)) expect(page).toHaveLength(2);
  });
});

describe('other listings for the same developer', () => {
  it('tags and referrers of a private repository are refused, of their own answered', async () => {
    expect(
      await outcome(await send(server, 'GET', '/v2/library/secret-a/tags/list', developer)),
    ).toBe('403 DENIED');
    expect(await outcome(await send(server, 'GET', '/v2/zteam/mine/tags/list', developer))).toBe(
      '200',
    );
    const digest = `sha256:${'0'.repeat(64)}`;
    for (const [repository, expected] of [
      ['library/secret-a', '403 DENIED'],
      ['zteam/mine', '200'],
    ] as const) {
      const res = await send(server, 'GET', `/v2/${repository}/referrers/${digest}`, developer);
      expect(await outcome(res)).toBe(expected);
    }
  });

  it('the admin API lists only visible repositories, pages full, totals counted after filtering', async () => {
    const seen: string[] = [];
    for (let offset = 0; offset < VISIBLE.length + 2; offset++) {
      const res = await send(
        server,
        'GET',
        `/api/v1/repositories?limit=1&offset=${offset}`,
        developer,
      );
      expect(res.status).toBe(200);
      const page = (await res.json()) as { items: { name: string }[]; total: number };
      expect(page.total).toBe(VISIBLE.length);
      expect(page.items.length).toBe(offset < VISIBLE.length ? 1 : 0);
      seen.push(...page.items.map((r) => r.name));
    }
    expect(seen).toEqual(VISIBLE);

    const overview = (await (await send(server, 'GET', '/api/v1/overview', developer)).json()) as {
      repositories: number;
      recentPushes: { repository: string }[];
      byNamespace: { namespace: string }[];
    };
    expect(overview.repositories).toBe(VISIBLE.length);
    for (const push of overview.recentPushes) expect(VISIBLE).toContain(push.repository);
    expect(overview.byNamespace.map((n) => n.namespace).sort()).toEqual(['pub', 'zteam']);

    const namespaces = (await (
      await send(server, 'GET', '/api/v1/namespaces', developer)
    ).json()) as {
      items: { name: string }[];
    };
    expect(namespaces.items.map((n) => n.name).sort()).toEqual(['pub', 'zteam']);
  });
});
