/**
 * Nobody can lock the registry out of administration: the last enabled user with the global admin
 * role can be neither disabled, deleted nor stripped of the role, by the API or the CLI service.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ADMIN_PASSWORD, startServer, type TestServer } from '../helpers/server.js';

const actor = { name: 'test', client: 'local' };
let server: TestServer;
beforeAll(async () => {
  server = await startServer({ auth: true });
});
afterAll(async () => server.close());

it('refuses to disable, delete or unbind the only administrator', async () => {
  const identity = server.app.identity;
  await expect(identity.setDisabled(actor, 'admin', true)).rejects.toMatchObject({
    code: 'CONFLICT',
  });
  await expect(identity.deleteUser(actor, 'admin')).rejects.toMatchObject({ code: 'CONFLICT' });
  await expect(identity.unbind(actor, { user: 'admin', role: 'admin' })).rejects.toMatchObject({
    code: 'CONFLICT',
  });
  expect((await identity.getUser('admin'))?.disabled).toBe(false);
});

it('allows it once another enabled administrator exists, and the API says why when it refuses', async () => {
  const identity = server.app.identity;
  await identity.addUser(actor, {
    name: 'second',
    password: 'second-password',
    roles: [{ role: 'admin' }],
  });
  await identity.setDisabled(actor, 'second', true);
  // A disabled second admin does not count.
  await expect(identity.unbind(actor, { user: 'admin', role: 'admin' })).rejects.toMatchObject({
    code: 'CONFLICT',
  });
  await identity.setDisabled(actor, 'second', false);
  await identity.unbind(actor, { user: 'admin', role: 'admin' });
  const basic = `Basic ${Buffer.from(`second:second-password`).toString('base64')}`;
  const res = await fetch(`${server.url}/api/v1/users/second`, {
    method: 'DELETE',
    headers: { authorization: basic },
  });
  expect(res.status).toBe(409);
  const viaAdmin = await fetch(`${server.url}/api/v1/users/second`, {
    method: 'PATCH',
    headers: {
      authorization: `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`,
      'content-type': 'application/json',
    },
    body: JSON.stringify({ disabled: true }),
  });
  // admin no longer holds the admin role: the API refuses it outright.
  expect(viaAdmin.status).toBe(403);
});
