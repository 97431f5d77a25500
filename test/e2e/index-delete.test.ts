/**
 * A multi-arch index pushed by a real client (`skopeo copy --all`) cannot lose a child: deleting
 * the child by digest is refused (409) and `skopeo copy --all` of the tag still works, byte for
 * byte; after the index is deleted, the child can go. Runs the built server (`dist/`).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { CLI, startServerProcess, type ServerProcess } from '../helpers/server.js';
import {
  addIndex,
  buildImage,
  initLayout,
  readLayoutManifest,
  run,
  runOk,
  type ImageIndex,
} from './images.js';
import { clientSandbox } from './client-sandbox.js';

let server: ServerProcess | undefined;
let work = '';
let clientEnv: NodeJS.ProcessEnv = {};

function docker(reference: string): string {
  if (!server) throw new Error('server not started');
  return `docker://${server.host}/${reference}`;
}

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
  work = path.join(tmpdir(), `berth-e2e-index-delete-${randomBytes(6).toString('hex')}`);
  await mkdir(work);
  ({ env: clientEnv } = await clientSandbox(work, { isolateCredentials: true }));
  server = await startServerProcess({ dataDir: path.join(work, 'data') });
});

afterAll(async () => {
  await server?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

test('deleting a child of a pushed index is refused and the tag stays pullable', async () => {
  if (!server) throw new Error('server not started');
  const layout = path.join(work, 'multi');
  await initLayout(layout);
  for (const architecture of ['amd64', 'arm64']) {
    await buildImage(layout, {
      tag: architecture,
      platform: { architecture, os: 'linux' },
      layers: [['/platform.txt', `${architecture}\n${randomBytes(16).toString('hex')}\n`]],
    });
  }
  const index = await addIndex(layout, 'multi', [
    { tag: 'amd64', platform: { architecture: 'amd64', os: 'linux' } },
    { tag: 'arm64', platform: { architecture: 'arm64', os: 'linux' } },
  ]);
  const child = index.parsed.manifests[0]?.digest ?? '';
  const repository = 'library/e2e-index-delete';
  await runOk(
    'skopeo',
    ['copy', '--all', '--dest-tls-verify=false', `oci:${layout}:multi`, docker(`${repository}:v1`)],
    clientEnv,
  );

  const refused = await fetch(`${server.url}/v2/${repository}/manifests/${child}`, {
    method: 'DELETE',
  });
  expect(refused.status).toBe(409);
  const body = (await refused.json()) as { errors: { code: string; message: string }[] };
  expect(body.errors[0]?.code).toBe('DENIED');
  expect(body.errors[0]?.message).toContain(index.digest);

  // skopeo's own delete is refused too, with the server's message.
  const viaSkopeo = await run(
    'skopeo',
    ['delete', '--tls-verify=false', docker(`${repository}@${child}`)],
    clientEnv,
  );
  expect(viaSkopeo.code).not.toBe(0);
  expect(viaSkopeo.stderr).toContain(index.digest);

  // The tag still pulls with every platform, unchanged.
  const out = path.join(work, 'pulled');
  await runOk(
    'skopeo',
    ['copy', '--all', '--src-tls-verify=false', docker(`${repository}:v1`), `oci:${out}:back`],
    clientEnv,
  );
  const back = await readLayoutManifest<ImageIndex>(out, 'back');
  expect(back.digest).toBe(index.digest);
  expect(back.parsed.manifests.map((m) => m.digest)).toEqual(
    index.parsed.manifests.map((m) => m.digest),
  );

  // Index first, then the child.
  await runOk(
    'skopeo',
    ['delete', '--tls-verify=false', docker(`${repository}@${index.digest}`)],
    clientEnv,
  );
  await runOk(
    'skopeo',
    ['delete', '--tls-verify=false', docker(`${repository}@${child}`)],
    clientEnv,
  );
  const gone = await fetch(`${server.url}/v2/${repository}/manifests/${child}`, { method: 'HEAD' });
  expect(gone.status).toBe(404);
});
