/**
 * Upload sessions are authorized when they start and stay bound to their principal and
 * repository: another user holding the upload URL (even one who may push there) cannot read,
 * extend, finish or cancel it, while the owner can carry on with any credentials of its own,
 * such as a fresh token that no longer names push (a push that outlives its token).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, startServer, type TestServer } from '../helpers/server.js';
import { randomBlob, sha256 } from '../helpers/oci.js';
import {
  addUser,
  basic,
  bearer,
  codeOf,
  outcome,
  parseChallenge,
  send,
  tokenFor,
} from './auth-helpers.js';

let server: TestServer;
let alice: string;
let bob: string;
let admin: string;

beforeAll(async () => {
  server = await startServer({ auth: true });
  await server.app.registry.namespaces.create('team');
  alice = await addUser(server, 'alice', [{ role: 'developer', namespace: 'team' }]);
  bob = await addUser(server, 'bob', [{ role: 'developer', namespace: 'team' }]);
  admin = basic('admin', ADMIN_PASSWORD);
});
afterAll(async () => server.close());

/** Starts an upload as `authorization` and returns its absolute Location. */
async function startUpload(repository: string, authorization: string): Promise<string> {
  const res = await send(server, 'POST', `/v2/${repository}/blobs/uploads/`, authorization);
  expect(res.status).toBe(202);
  return new URL(res.headers.get('location') ?? '', server.url).href;
}

function patch(location: string, authorization: string | undefined, data: Buffer) {
  return send(server, 'PATCH', location, authorization, {
    body: data,
    headers: { 'content-type': 'application/octet-stream' },
  });
}

function finish(location: string, authorization: string | undefined, digest: string) {
  const sep = location.includes('?') ? '&' : '?';
  return send(server, 'PUT', `${location}${sep}digest=${digest}`, authorization);
}

describe('a stolen upload URL', () => {
  it('is unknown (404 BLOB_UPLOAD_UNKNOWN) to every other user, and the owner finishes intact', async () => {
    const first = randomBlob(1000);
    const second = randomBlob(700);
    const location = await startUpload('team/app', alice);
    expect((await patch(location, alice, first)).status).toBe(202);

    const bobPush = await tokenFor(server, bob, ['repository:team/app:pull,push']);
    for (const thief of [bob, bearer(bobPush), admin]) {
      expect(await outcome(await send(server, 'GET', location, thief))).toBe(
        '404 BLOB_UPLOAD_UNKNOWN',
      );
      expect(await outcome(await patch(location, thief, randomBlob(50)))).toBe(
        '404 BLOB_UPLOAD_UNKNOWN',
      );
      expect(await outcome(await finish(location, thief, sha256(first)))).toBe(
        '404 BLOB_UPLOAD_UNKNOWN',
      );
      expect(await outcome(await send(server, 'DELETE', location, thief))).toBe(
        '404 BLOB_UPLOAD_UNKNOWN',
      );
    }

    // The owner's session is untouched: only its own bytes, and it is still open.
    const status = await send(server, 'GET', location, alice);
    expect(status.status).toBe(204);
    expect(status.headers.get('range')).toBe(`0-${first.length - 1}`);
    expect((await patch(location, alice, second)).status).toBe(202);
    const whole = Buffer.concat([first, second]);
    const done = await finish(location, alice, sha256(whole));
    expect(done.status).toBe(201);
    const head = await send(server, 'HEAD', `/v2/team/app/blobs/${sha256(whole)}`, alice);
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(whole.length));
  });

  it('without credentials gets the 401 challenge, and the session survives', async () => {
    const location = await startUpload('team/app', alice);
    const res = await patch(location, undefined, randomBlob(10));
    expect(res.status).toBe(401);
    expect(parseChallenge(res.headers.get('www-authenticate')).realm).toBe(
      `http://${server.host}/v2/token`,
    );
    expect((await send(server, 'GET', location, alice)).status).toBe(204);
  });

  it('with an anonymous token is refused, and the session survives', async () => {
    const location = await startUpload('team/app', alice);
    const anonymous = await tokenFor(server, undefined, ['repository:team/app:pull,push']);
    const res = await patch(location, bearer(anonymous), randomBlob(10));
    expect([401, 404]).toContain(res.status);
    const status = await send(server, 'GET', location, alice);
    expect(status.status).toBe(204);
    expect(status.headers.get('range')).toBe('0-0');
  });
});

describe('the owner of an upload session', () => {
  it('continues and finishes with a fresh token whose scope is only pull', async () => {
    const start = await tokenFor(server, alice, ['repository:team/app:pull,push']);
    const location = await startUpload('team/app', bearer(start));
    const data = randomBlob(2048);
    expect((await patch(location, bearer(start), data.subarray(0, 1024))).status).toBe(202);
    const pullOnly = await tokenFor(server, alice, ['repository:team/app:pull']);
    expect((await patch(location, bearer(pullOnly), data.subarray(1024))).status).toBe(202);
    expect((await send(server, 'GET', location, bearer(pullOnly))).status).toBe(204);
    expect((await finish(location, bearer(pullOnly), sha256(data))).status).toBe(201);
  });

  it('continues with a token that names no repository at all (the docker login token)', async () => {
    const location = await startUpload('team/app', alice);
    const bare = await tokenFor(server, alice, []);
    const data = randomBlob(512);
    expect((await patch(location, bearer(bare), data)).status).toBe(202);
    expect((await finish(location, bearer(bare), sha256(data))).status).toBe(201);
  });

  it('cannot move the session to another repository', async () => {
    const location = await startUpload('team/app', alice);
    const moved = location.replace('/v2/team/app/', '/v2/team/elsewhere/');
    expect(moved).not.toBe(location);
    const res = await patch(moved, alice, randomBlob(10));
    expect(res.status).toBe(404);
    expect(await codeOf(res)).toBe('BLOB_UPLOAD_UNKNOWN');
  });

  it('can cancel it, after which it is gone for the owner too', async () => {
    const location = await startUpload('team/app', alice);
    expect((await send(server, 'DELETE', location, bob)).status).toBe(404);
    expect((await send(server, 'DELETE', location, alice)).status).toBe(204);
    expect(await outcome(await send(server, 'GET', location, alice))).toBe(
      '404 BLOB_UPLOAD_UNKNOWN',
    );
  });
});
