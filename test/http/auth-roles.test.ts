/**
 * The role matrix over HTTP with authentication on: what each built-in role, a namespace-bound
 * binding, a custom role and anonymous callers may do on /v2, with Basic credentials and with
 * Bearer tokens from the realm, and what the refusals look like (401 challenge vs 403 DENIED).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, startServer, type TestServer } from '../helpers/server.js';
import { randomBlob } from '../helpers/oci.js';
import {
  ACTOR,
  actionsFor,
  addUser,
  basic,
  bearer,
  codeOf,
  deleteAs,
  outcome,
  parseChallenge,
  pullAs,
  pushBlobAs,
  pushImageAs,
  send,
  tokenFor,
} from './auth-helpers.js';

let server: TestServer;
let admin: string;
let viewer: string;
let developer: string;
let maintainer: string;
let globalAdmin: string;
let teamDeveloper: string;
let teamStar: string;
let nobody: string;
let tagCount = 0;
const freshTag = (): string => `t${++tagCount}`;

beforeAll(async () => {
  server = await startServer({ auth: true });
  const ns = server.app.registry.namespaces;
  for (const name of ['team', 'other', 'team-a', 'team-b']) await ns.create(name);
  await ns.create('pub', { public: true });
  await server.app.identity.putRole(ACTOR, {
    name: 'team-star-pusher',
    privileges: [{ pattern: 'team-*', actions: ['pull', 'push'] }],
  });
  admin = basic('admin', ADMIN_PASSWORD);
  viewer = await addUser(server, 'viewer', [{ role: 'viewer' }]);
  developer = await addUser(server, 'developer', [{ role: 'developer' }]);
  maintainer = await addUser(server, 'maintainer', [{ role: 'maintainer' }]);
  globalAdmin = await addUser(server, 'second-admin', [{ role: 'admin' }]);
  teamDeveloper = await addUser(server, 'team-dev', [{ role: 'developer', namespace: 'team' }]);
  teamStar = await addUser(server, 'star', [{ role: 'team-star-pusher' }]);
  nobody = await addUser(server, 'nobody');
  for (const repo of ['team/app', 'other/app', 'pub/app', 'team-a/app']) {
    expect((await pushImageAs(server, repo, 'v1', admin)).outcome).toBe('201');
  }
});
afterAll(async () => server.close());

const realm = (): string => `http://${server.host}/v2/token`;

describe('anonymous callers', () => {
  it('get a 401 Bearer challenge naming the absolute realm, the service and the scope on a pull', async () => {
    const res = await send(server, 'GET', '/v2/team/app/manifests/v1');
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe(
      `Bearer realm="${realm()}",service="berth",scope="repository:team/app:pull"`,
    );
    expect(await codeOf(res)).toBe('UNAUTHORIZED');
  });

  it('get the challenge on HEAD too (docker resolves tags with HEAD)', async () => {
    const res = await send(server, 'HEAD', '/v2/team/app/manifests/v1');
    expect(res.status).toBe(401);
    expect(parseChallenge(res.headers.get('www-authenticate')).scope).toBe(
      'repository:team/app:pull',
    );
  });

  it('are asked for pull and push when they try to push', async () => {
    const res = await send(server, 'POST', '/v2/team/app/blobs/uploads/');
    expect(res.status).toBe(401);
    expect(parseChallenge(res.headers.get('www-authenticate'))).toEqual({
      realm: realm(),
      service: 'berth',
      scope: 'repository:team/app:pull,push',
    });
  });

  it('get the challenge without a scope on GET /v2/, and 200 once signed in', async () => {
    const res = await send(server, 'GET', '/v2/');
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe(`Bearer realm="${realm()}",service="berth"`);
    expect(res.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
    expect((await send(server, 'GET', '/v2/', viewer)).status).toBe(200);
    const token = await tokenFor(server, viewer, []);
    expect((await send(server, 'GET', '/v2/', bearer(token))).status).toBe(200);
  });

  it('are refused the tags list and the catalog', async () => {
    expect(await outcome(await send(server, 'GET', '/v2/team/app/tags/list'))).toBe(
      '401 UNAUTHORIZED',
    );
    const catalog = await send(server, 'GET', '/v2/_catalog');
    expect(catalog.status).toBe(401);
    expect(parseChallenge(catalog.headers.get('www-authenticate')).scope).toBe(
      'registry:catalog:*',
    );
  });

  it('pull from a public namespace without any credentials, but never push there', async () => {
    expect(await pullAs(server, 'pub/app', 'v1', undefined)).toBe('200');
    expect(await outcome(await send(server, 'GET', '/v2/pub/app/tags/list'))).toBe('200');
    const push = await pushBlobAs(server, 'pub/app', 'anon', undefined);
    expect(push.outcome).toBe('401 UNAUTHORIZED');
    expect(await deleteAs(server, 'pub/app', 'v1', undefined)).toBe('401 UNAUTHORIZED');
  });

  it('get an anonymous token with pull (and only pull) on a public namespace', async () => {
    const token = await tokenFor(server, undefined, ['repository:pub/app:pull,push,delete']);
    expect(actionsFor(token, 'pub/app')).toEqual(['pull']);
    expect(await pullAs(server, 'pub/app', 'v1', bearer(token))).toBe('200');
    const post = await send(server, 'POST', '/v2/pub/app/blobs/uploads/', bearer(token));
    expect(post.status).toBe(401);
    // No error code for an unauthenticated caller (RFC 6750 §3.1): clients then report
    // "authentication required", not "denied".
    const challenge = parseChallenge(post.headers.get('www-authenticate'));
    expect(challenge).toMatchObject({ scope: 'repository:pub/app:pull,push' });
    expect(challenge).not.toHaveProperty('error');
  });

  it('get an anonymous token with nothing for a private namespace, and it does not pull', async () => {
    const token = await tokenFor(server, undefined, ['repository:team/app:pull']);
    expect(actionsFor(token, 'team/app')).toEqual([]);
    const res = await send(server, 'GET', '/v2/team/app/manifests/v1', bearer(token));
    expect(res.status).toBe(401);
    expect(parseChallenge(res.headers.get('www-authenticate')).scope).toBe(
      'repository:team/app:pull',
    );
  });
});

describe('built-in roles with Basic credentials', () => {
  it('viewer pulls but cannot push or delete (403 DENIED)', async () => {
    expect(await pullAs(server, 'team/app', 'v1', viewer)).toBe('200');
    expect(await outcome(await send(server, 'GET', '/v2/team/app/tags/list', viewer))).toBe('200');
    expect((await pushBlobAs(server, 'team/app', 'v', viewer)).outcome).toBe('403 DENIED');
    expect(await deleteAs(server, 'team/app', 'v1', viewer)).toBe('403 DENIED');
  });

  it('developer pushes but cannot delete a manifest or a blob', async () => {
    const tag = freshTag();
    const pushed = await pushImageAs(server, 'team/app', tag, developer);
    expect(pushed.outcome).toBe('201');
    expect(await pullAs(server, 'team/app', tag, developer)).toBe('200');
    expect(await deleteAs(server, 'team/app', pushed.digest, developer)).toBe('403 DENIED');
    const blob = await pushBlobAs(server, 'team/app', 'developer blob', developer);
    const del = await send(server, 'DELETE', `/v2/team/app/blobs/${blob.digest}`, developer);
    expect(await outcome(del)).toBe('403 DENIED');
  });

  it('maintainer pushes and deletes', async () => {
    const tag = freshTag();
    const pushed = await pushImageAs(server, 'other/app', tag, maintainer);
    expect(pushed.outcome).toBe('201');
    expect(await deleteAs(server, 'other/app', pushed.digest, maintainer)).toBe('202');
    expect(await pullAs(server, 'other/app', pushed.digest, maintainer)).toBe(
      '404 MANIFEST_UNKNOWN',
    );
  });

  it('admin (the first user and any user bound to admin) does everything everywhere', async () => {
    for (const who of [admin, globalAdmin]) {
      const tag = freshTag();
      const pushed = await pushImageAs(server, 'team-b/app', tag, who);
      expect(pushed.outcome).toBe('201');
      expect(await pullAs(server, 'team-b/app', tag, who)).toBe('200');
      expect(await deleteAs(server, 'team-b/app', pushed.digest, who)).toBe('202');
    }
  });

  it('a user without roles pulls only from public namespaces', async () => {
    expect(await pullAs(server, 'pub/app', 'v1', nobody)).toBe('200');
    expect(await pullAs(server, 'team/app', 'v1', nobody)).toBe('403 DENIED');
    expect((await pushBlobAs(server, 'pub/app', 'x', nobody)).outcome).toBe('403 DENIED');
  });

  it('bad credentials are a 401 with the challenge, not a 403', async () => {
    const res = await send(server, 'GET', '/v2/team/app/manifests/v1', basic('viewer', 'wrong-pw'));
    expect(res.status).toBe(401);
    expect(parseChallenge(res.headers.get('www-authenticate')).realm).toBe(realm());
    expect(await codeOf(res)).toBe('UNAUTHORIZED');
  });
});

describe('bindings and custom roles', () => {
  it('a role bound to one namespace works there and nowhere else', async () => {
    expect((await pushImageAs(server, 'team/app', freshTag(), teamDeveloper)).outcome).toBe('201');
    expect(await pullAs(server, 'team/app', 'v1', teamDeveloper)).toBe('200');
    expect((await pushImageAs(server, 'other/app', freshTag(), teamDeveloper)).outcome).toBe(
      '403 DENIED',
    );
    expect(await pullAs(server, 'other/app', 'v1', teamDeveloper)).toBe('403 DENIED');
    // `team-*` is not `team`: the prefix of another namespace grants nothing.
    expect(await pullAs(server, 'team-a/app', 'v1', teamDeveloper)).toBe('403 DENIED');
  });

  it('a custom role with the pattern team-* works in team-a and team-b only', async () => {
    expect((await pushImageAs(server, 'team-a/app', freshTag(), teamStar)).outcome).toBe('201');
    expect((await pushImageAs(server, 'team-b/app', freshTag(), teamStar)).outcome).toBe('201');
    expect(await pullAs(server, 'team-a/app', 'v1', teamStar)).toBe('200');
    expect(await deleteAs(server, 'team-a/app', 'v1', teamStar)).toBe('403 DENIED');
    expect(await pullAs(server, 'team/app', 'v1', teamStar)).toBe('403 DENIED');
    expect((await pushImageAs(server, 'other/app', freshTag(), teamStar)).outcome).toBe(
      '403 DENIED',
    );
  });

  it('a mount needs pull on its source: without it the client gets an upload session', async () => {
    const blob = randomBlob(300);
    const pushed = await pushBlobAs(server, 'other/app', blob, admin);
    expect(pushed.outcome).toBe('201');
    const denied = await send(
      server,
      'POST',
      `/v2/team/app/blobs/uploads/?mount=${pushed.digest}&from=other/app`,
      teamDeveloper,
    );
    expect(denied.status).toBe(202);
    expect(denied.headers.get('location')).toMatch(/\/v2\/team\/app\/blobs\/uploads\//);
    const allowed = await send(
      server,
      'POST',
      `/v2/team/app/blobs/uploads/?mount=${pushed.digest}&from=other/app`,
      developer,
    );
    expect(allowed.status).toBe(201);
  });
});

describe('built-in roles with Bearer tokens', () => {
  it('a viewer asking for push gets a pull token; pushing with it is a 403 DENIED', async () => {
    const token = await tokenFor(server, viewer, ['repository:team/app:pull,push']);
    expect(actionsFor(token, 'team/app')).toEqual(['pull']);
    expect(await pullAs(server, 'team/app', 'v1', bearer(token))).toBe('200');
    expect((await pushBlobAs(server, 'team/app', 'x', bearer(token))).outcome).toBe('403 DENIED');
  });

  it('a developer with a pull-only token is asked for a push token (401 insufficient_scope)', async () => {
    const token = await tokenFor(server, developer, ['repository:team/app:pull']);
    const res = await send(server, 'POST', '/v2/team/app/blobs/uploads/', bearer(token));
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe(
      `Bearer realm="${realm()}",service="berth",scope="repository:team/app:pull,push",error="insufficient_scope"`,
    );
    const push = await tokenFor(server, developer, ['repository:team/app:pull,push']);
    expect(actionsFor(push, 'team/app')).toEqual(['pull', 'push']);
    expect((await pushImageAs(server, 'team/app', freshTag(), bearer(push))).outcome).toBe('201');
  });

  it('a developer asking for delete gets no delete; deleting with the token is a 403 DENIED', async () => {
    const token = await tokenFor(server, developer, ['repository:team/app:pull,push,delete']);
    expect(actionsFor(token, 'team/app')).toEqual(['pull', 'push']);
    expect(await deleteAs(server, 'team/app', 'v1', bearer(token))).toBe('403 DENIED');
  });

  it('a maintainer deletes with a delete token, and is asked for delete with a pull token', async () => {
    const tag = freshTag();
    const pushed = await pushImageAs(server, 'team/app', tag, maintainer);
    expect(pushed.outcome).toBe('201');
    const pull = await tokenFor(server, maintainer, ['repository:team/app:pull']);
    const res = await send(
      server,
      'DELETE',
      `/v2/team/app/manifests/${pushed.digest}`,
      bearer(pull),
    );
    expect(res.status).toBe(401);
    expect(parseChallenge(res.headers.get('www-authenticate'))).toMatchObject({
      scope: 'repository:team/app:delete',
      error: 'insufficient_scope',
    });
    const del = await tokenFor(server, maintainer, ['repository:team/app:delete']);
    expect(await deleteAs(server, 'team/app', pushed.digest, bearer(del))).toBe('202');
  });

  it('a token names one repository: another repository asks for a new token', async () => {
    const token = await tokenFor(server, developer, ['repository:team/app:pull,push']);
    const res = await send(server, 'GET', '/v2/team/other-app/tags/list', bearer(token));
    expect(res.status).toBe(401);
    expect(parseChallenge(res.headers.get('www-authenticate'))).toMatchObject({
      scope: 'repository:team/other-app:pull',
      error: 'insufficient_scope',
    });
  });

  it('a namespace-bound developer gets nothing outside its namespace, and 403 there', async () => {
    const token = await tokenFor(server, teamDeveloper, [
      'repository:other/app:pull,push',
      'repository:team/app:pull,push',
    ]);
    expect(actionsFor(token, 'other/app')).toEqual([]);
    expect(actionsFor(token, 'team/app')).toEqual(['pull', 'push']);
    expect((await pushBlobAs(server, 'other/app', 'x', bearer(token))).outcome).toBe('403 DENIED');
    expect((await pushBlobAs(server, 'team/app', 'y', bearer(token))).outcome).toBe('201');
  });

  it('a mount with a token needs pull on the source in the same token, and the challenge asks for it', async () => {
    const blob = randomBlob(400);
    const pushed = await pushBlobAs(server, 'other/app', blob, admin);
    const mountUrl = `/v2/team/app/blobs/uploads/?mount=${pushed.digest}&from=other/app`;
    const both = await tokenFor(server, developer, [
      'repository:team/app:pull,push',
      'repository:other/app:pull',
    ]);
    expect((await send(server, 'POST', mountUrl, bearer(both))).status).toBe(201);
    // Policy lets the developer pull other/app, but this token does not carry it: the
    // challenge asks for both scopes (as distribution does) instead of silently uploading.
    const targetOnly = await tokenFor(server, developer, ['repository:team/app:pull,push']);
    const res = await send(server, 'POST', mountUrl, bearer(targetOnly));
    expect(res.status).toBe(401);
    expect(parseChallenge(res.headers.get('www-authenticate'))).toMatchObject({
      error: 'insufficient_scope',
      scope: 'repository:team/app:pull,push repository:other/app:pull',
    });
    // Without any right to the source (team-dev may only work in team), the mount is not
    // done and an upload starts instead.
    const teamOnly = await tokenFor(server, teamDeveloper, ['repository:team/app:pull,push']);
    const noRight = await send(server, 'POST', mountUrl, bearer(teamOnly));
    expect(noRight.status).toBe(202);
    expect(noRight.headers.get('location')).toMatch(/\/v2\/team\/app\/blobs\/uploads\//);
  });

  it('the custom team-* role gets pull and push in team-a and nothing in team', async () => {
    const token = await tokenFor(server, teamStar, [
      'repository:team-a/app:pull,push,delete',
      'repository:team/app:pull',
    ]);
    expect(actionsFor(token, 'team-a/app')).toEqual(['pull', 'push']);
    expect(actionsFor(token, 'team/app')).toEqual([]);
  });
});

describe('the catalog', () => {
  async function catalogOf(authorization: string): Promise<string[]> {
    const res = await send(server, 'GET', '/v2/_catalog', authorization);
    expect(res.status).toBe(200);
    return ((await res.json()) as { repositories: string[] }).repositories;
  }

  it('lists only the repositories the caller may pull (Basic)', async () => {
    expect(await catalogOf(admin)).toEqual(
      expect.arrayContaining(['other/app', 'pub/app', 'team-a/app', 'team/app']),
    );
    expect(await catalogOf(viewer)).toEqual(await catalogOf(admin));
    const team = await catalogOf(teamDeveloper);
    // Its own namespace, and the public one everybody may pull.
    expect(team.filter((r) => !r.startsWith('team/'))).toEqual(['pub/app']);
    expect(team).toContain('team/app');
    const star = await catalogOf(teamStar);
    expect(star.every((r) => r.startsWith('team-') || r.startsWith('pub/'))).toBe(true);
    expect(star).toEqual(expect.arrayContaining(['team-a/app', 'pub/app']));
    expect(await catalogOf(nobody)).toEqual(['pub/app']);
  });

  it('with a Bearer token, needs registry:catalog:* and then lists by policy', async () => {
    const without = await tokenFor(server, teamDeveloper, ['repository:team/app:pull']);
    const res = await send(server, 'GET', '/v2/_catalog', bearer(without));
    expect(res.status).toBe(401);
    expect(parseChallenge(res.headers.get('www-authenticate'))).toMatchObject({
      scope: 'registry:catalog:*',
      error: 'insufficient_scope',
    });
    const token = await tokenFor(server, teamDeveloper, ['registry:catalog:*']);
    const listed = await catalogOf(bearer(token));
    expect(listed).toContain('team/app');
    expect(listed.filter((r) => !r.startsWith('team/'))).toEqual(['pub/app']);
  });

  it('is never granted to anonymous callers, even with public namespaces', async () => {
    const token = await tokenFor(server, undefined, ['registry:catalog:*']);
    const res = await send(server, 'GET', '/v2/_catalog', bearer(token));
    expect(res.status).toBe(401);
  });
});
