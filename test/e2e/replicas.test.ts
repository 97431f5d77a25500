/**
 * Scale-out with real clients (issue 17): three `berth serve` processes (the built CLI) on one
 * PostgreSQL database and one S3 bucket on Ceph RGW, the replicas alternating between its two
 * gateways, behind nginx round robin, authentication on. Clients log in as admin through the load
 * balancer and never talk to a replica directly; nginx's `X-Upstream` says which replica served
 * each request. Replicas listen on fixed ports, so one restarted comes back where nginx sends.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startLoadBalancer, type LoadBalancer } from '../helpers/load-balancer.js';
import { freePort } from '../helpers/net.js';
import { createTestDatabase } from '../helpers/postgres.js';
import {
  createTestBucket,
  removeBucket,
  s3Cluster,
  s3Env,
  type TestBucket,
} from '../helpers/s3.js';
import {
  ADMIN_PASSWORD,
  CLI,
  makeTempDir,
  startServerProcess,
  type ServerProcess,
} from '../helpers/server.js';
import { clientSandbox } from './client-sandbox.js';
import { describeResult, startDockerd, type Dockerd } from './dockerd.js';
import {
  DOCKER_MANIFEST,
  OCI_MANIFEST,
  buildImage,
  dirBlobPath,
  fileSha256,
  hostArchitecture,
  initLayout,
  readDirImage,
  run,
  runOk,
  sha256,
  writeRandomFile,
  type ImageManifest,
  type RunResult,
} from './images.js';

const MiB = 1024 * 1024;
const MANIFEST_ACCEPT = [OCI_MANIFEST, DOCKER_MANIFEST].join(', ');
const ADMIN = `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`;
const basic = (user: string, password: string): string =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

interface Replica {
  port: number;
  storageUrl: string;
  dataDir: string;
  process: ServerProcess;
}

let database: { url: string; drop(): Promise<void> } | undefined;
let bucket: TestBucket | undefined;
let balancer: LoadBalancer | undefined;
let dockerd: Dockerd | undefined;
const replicas: Replica[] = [];
let work = '';
let lb = '';
let lbHost = '';
let clientEnv: NodeJS.ProcessEnv = {};
let podmanGlobal: string[] = [];

function metaUrl(): string {
  if (!database) throw new Error('no database');
  return database.url;
}

async function startReplica(replica: Omit<Replica, 'process'>): Promise<ServerProcess> {
  return startServerProcess({
    auth: true,
    listen: `127.0.0.1:${String(replica.port)}`,
    dataDir: replica.dataDir,
    env: s3Env(),
    args: [
      ...['--meta', metaUrl(), '--storage', replica.storageUrl],
      // The token realm must send clients back through nginx, not to the replica that answered.
      ...['--external-url', lb],
    ],
  });
}

/** The replica behind an `X-Upstream` value (`127.0.0.1:PORT`). */
function replicaAt(upstream: string | null): Replica {
  const found = replicas.find((r) => upstream === `127.0.0.1:${String(r.port)}`);
  if (!found) throw new Error(`no replica serves ${String(upstream)}`);
  return found;
}

function skopeo(args: string[]): Promise<RunResult> {
  return runOk('skopeo', args, clientEnv);
}

function podman(args: string[]): Promise<RunResult> {
  return runOk('podman', [...podmanGlobal, ...args], clientEnv);
}

function platform(): { architecture: string; os: string } {
  return { architecture: hostArchitecture(), os: 'linux' };
}

/** Streams a response body through SHA-256: layers of 150 MiB are never held in memory. */
async function hashBody(res: Response): Promise<{ digest: string; size: number }> {
  if (!res.body) throw new Error('no body');
  const hash = createHash('sha256');
  let size = 0;
  await pipeline(
    Readable.fromWeb(res.body as unknown as NodeReadableStream<Uint8Array>),
    async function* (source: AsyncIterable<Buffer>) {
      for await (const chunk of source) {
        size += chunk.length;
        hash.update(chunk);
      }
      yield* [];
    },
  );
  return { digest: `sha256:${hash.digest('hex')}`, size };
}

/**
 * Reads an image back through the load balancer: the manifest's bytes hash to `digest`, and every
 * blob it lists (config and layers) hashes to its own digest at its stated size. Round robin
 * spreads these GETs over the replicas.
 */
async function expectIntactThroughLb(repo: string, tag: string, digest: string) {
  const res = await fetch(`${lb}/v2/${repo}/manifests/${tag}`, {
    headers: { accept: MANIFEST_ACCEPT, authorization: ADMIN },
  });
  expect(res.status).toBe(200);
  const raw = Buffer.from(await res.arrayBuffer());
  expect(sha256(raw)).toBe(digest);
  const manifest = JSON.parse(raw.toString()) as ImageManifest;
  for (const d of [manifest.config, ...manifest.layers]) {
    const blob = await fetch(`${lb}/v2/${repo}/blobs/${d.digest}`, {
      headers: { authorization: ADMIN },
    });
    expect(blob.status).toBe(200);
    expect(await hashBody(blob)).toEqual({ digest: d.digest, size: d.size });
  }
  return manifest;
}

/** An OCI layout of three layers (small, `bigSize` random bytes, small), for skopeo and podman. */
async function buildLayout(name: string, bigSize: number) {
  const layout = path.join(work, name);
  await initLayout(layout);
  const big = path.join(work, `${name}.bin`);
  await writeRandomFile(big, bigSize);
  const image = await buildImage(layout, {
    tag: 'v1',
    platform: platform(),
    layers: [
      ['/etc/motd', `${name} ${randomBytes(8).toString('hex')}\n`],
      ['/data/big.bin', { file: big }],
      ['/etc/settings.json', JSON.stringify({ name, run: randomBytes(8).toString('hex') })],
    ],
  });
  await rm(big);
  return { layout, image };
}

/** Bytes the process has read (`rchar` of /proc/PID/io: files, pipes and sockets alike). */
async function bytesRead(pid: number): Promise<number> {
  const io = await readFile(`/proc/${String(pid)}/io`, 'utf8');
  return Number(/^rchar: (\d+)$/m.exec(io)?.[1] ?? NaN);
}

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
  // Lower case only: podman names images after paths, and image names must be lower case.
  work = path.join(tmpdir(), `berth-e2e-replicas-${randomBytes(6).toString('hex')}`);
  await mkdir(work);
  ({ env: clientEnv, podmanArgs: podmanGlobal } = await clientSandbox(work, {
    isolateCredentials: true,
  }));
  const dockerdStarted = startDockerd();
  dockerdStarted.catch(() => undefined);
  database = await createTestDatabase(inject('postgresUrl'), 'e2e_replicas');
  bucket = await createTestBucket();
  const ports = new Set<number>();
  while (ports.size < 3) ports.add(await freePort());
  // nginx first: the replicas need its address for their token realm (--external-url).
  balancer = await startLoadBalancer([...ports].map((p) => `127.0.0.1:${String(p)}`));
  lb = balancer.url;
  lbHost = balancer.host;
  const { endpoints } = s3Cluster();
  const planned = await Promise.all(
    [...ports].map(async (port, i) => ({
      port,
      storageUrl: bucket?.storageUrl(undefined, endpoints[i % endpoints.length]) ?? '',
      dataDir: await makeTempDir('berth-replica-'),
    })),
  );
  // All at once, as a rollout starts them: one migrates the new database, the others wait for it.
  const started = await Promise.all(planned.map(startReplica));
  for (const [i, replica] of planned.entries())
    replicas.push({ ...replica, process: started[i] as ServerProcess });
  dockerd = await dockerdStarted;
}, 180_000);

afterAll(async () => {
  try {
    await Promise.all(replicas.map((r) => r.process.stop()));
    await balancer?.stop();
    await dockerd?.stop();
  } finally {
    await database?.drop();
    if (bucket) await removeBucket(bucket.name);
    if (work) await rm(work, { recursive: true, force: true });
    for (const r of replicas) await rm(r.dataDir, { recursive: true, force: true });
  }
});

describe('three replicas behind nginx, PostgreSQL and Ceph RGW', () => {
  it('asks clients to log in at the load balancer, and every client logs in there', async () => {
    const ping = await fetch(`${lb}/v2/`);
    expect(ping.status).toBe(401);
    expect(ping.headers.get('www-authenticate')).toContain(`realm="${lb}/v2/token"`);
    await runOk(
      'skopeo',
      ['login', '--tls-verify=false', '-u', 'admin', '-p', ADMIN_PASSWORD, lbHost],
      clientEnv,
    );
    // podman reads the same REGISTRY_AUTH_FILE skopeo just wrote, but logs in on its own anyway.
    await podman(['login', '--tls-verify=false', '-u', 'admin', '-p', ADMIN_PASSWORD, lbHost]);
    const docker = await dockerd?.dockerOk(
      ['login', lbHost, '--username', 'admin', '--password-stdin'],
      { input: ADMIN_PASSWORD },
    );
    expect(docker?.output).toContain('Login Succeeded');
  });

  it('continues one chunked upload on whichever replica each request lands on', async () => {
    const repo = 'library/r-chunked';
    const blob = randomBytes(20 * MiB + 12345);
    const digest = sha256(blob);
    const chunks = [blob.subarray(0, 7 * MiB), blob.subarray(7 * MiB, 14 * MiB)];
    const served: (string | null)[] = [];
    const post = await fetch(`${lb}/v2/${repo}/blobs/uploads/`, {
      method: 'POST',
      headers: { authorization: ADMIN },
    });
    expect(post.status).toBe(202);
    served.push(post.headers.get('x-upstream'));
    let location = new URL(post.headers.get('location') ?? '', lb);
    let offset = 0;
    for (const chunk of chunks) {
      const patch = await fetch(location, {
        method: 'PATCH',
        headers: {
          authorization: ADMIN,
          'content-type': 'application/octet-stream',
          'content-range': `${String(offset)}-${String(offset + chunk.length - 1)}`,
        },
        body: chunk,
      });
      expect(patch.status, await patch.clone().text()).toBe(202);
      offset += chunk.length;
      expect(patch.headers.get('range')).toBe(`0-${String(offset - 1)}`);
      served.push(patch.headers.get('x-upstream'));
      location = new URL(patch.headers.get('location') ?? '', lb);
    }
    location.searchParams.set('digest', digest);
    const put = await fetch(location, {
      method: 'PUT',
      headers: { authorization: ADMIN, 'content-type': 'application/octet-stream' },
      body: blob.subarray(offset),
    });
    expect(put.status, await put.clone().text()).toBe(201);
    expect(put.headers.get('docker-content-digest')).toBe(digest);
    served.push(put.headers.get('x-upstream'));

    console.log(`chunked upload: POST, PATCH, PATCH, PUT served by ${served.join(', ')}`);
    // Round robin: each request of the upload went to another replica than the one before it.
    for (const [i, upstream] of served.entries()) {
      replicaAt(upstream);
      if (i > 0) expect(upstream).not.toBe(served[i - 1]);
    }
    expect(new Set(served).size).toBe(3);
    // Every replica serves the whole blob.
    for (const r of replicas) {
      const res = await fetch(`http://127.0.0.1:${String(r.port)}/v2/${repo}/blobs/${digest}`, {
        headers: { authorization: ADMIN },
      });
      expect(await hashBody(res)).toEqual({ digest, size: blob.length });
    }
  });

  it('skopeo pushes an image through nginx and copies it back byte-identical', async () => {
    const { layout, image } = await buildLayout('layout-skopeo', 20 * MiB);
    const ref = `docker://${lbHost}/library/r-skopeo:v1`;
    await skopeo(['copy', '--dest-tls-verify=false', `oci:${layout}:v1`, ref]);
    await expectIntactThroughLb('library/r-skopeo', 'v1', image.digest);

    const out = path.join(work, 'skopeo-out');
    await skopeo(['copy', '--src-tls-verify=false', ref, `dir:${out}`]);
    const pulled = await readDirImage(out);
    expect(pulled.digest).toBe(image.digest);
    for (const d of [pulled.parsed.config, ...pulled.parsed.layers])
      expect(await fileSha256(dirBlobPath(out, d.digest))).toBe(d.digest);
    await rm(out, { recursive: true });
    await rm(layout, { recursive: true });
  });

  it('podman pushes an image through nginx and pulls the same digest back', async () => {
    const { layout, image } = await buildLayout('layout-podman', 20 * MiB);
    const loaded = await podman(['pull', `oci:${layout}:v1`]);
    const id = `sha256:${loaded.stdout.trim().split('\n').at(-1) ?? ''}`;
    expect(id).toBe(image.parsed.config.digest);
    const ref = `${lbHost}/library/r-podman:v1`;
    await podman(['tag', id, ref]);
    const digestFile = path.join(work, 'podman.digest');
    await podman(['push', '--tls-verify=false', '--digestfile', digestFile, ref]);
    const pushed = (await readFile(digestFile, 'utf8')).trim();
    const manifest = await expectIntactThroughLb('library/r-podman', 'v1', pushed);
    expect(manifest.config.digest).toBe(id);
    expect(Math.max(...manifest.layers.map((l) => l.size))).toBeGreaterThan(20 * MiB);

    await podman(['rmi', '--force', id]);
    const pulled = await podman(['pull', '--tls-verify=false', ref]);
    expect(`sha256:${pulled.stdout.trim().split('\n').at(-1) ?? ''}`).toBe(id);
    const [inspected] = JSON.parse((await podman(['image', 'inspect', ref])).stdout) as {
      Digest: string;
    }[];
    expect(inspected?.Digest).toBe(pushed);
    await podman(['rmi', '--force', id]);
    await rm(layout, { recursive: true });
  });

  it('docker pushes an image through nginx and pulls the same image back', async () => {
    if (!dockerd) throw new Error('dockerd not started');
    const context = path.join(work, 'docker-context');
    await mkdir(context);
    await writeFile(path.join(context, 'motd'), `docker ${randomBytes(8).toString('hex')}\n`);
    await writeRandomFile(path.join(context, 'big.bin'), 20 * MiB);
    await writeFile(
      path.join(context, 'settings.json'),
      `{"run":"${randomBytes(8).toString('hex')}"}\n`,
    );
    await writeFile(
      path.join(context, 'Dockerfile'),
      'FROM scratch\nCOPY motd /etc/motd\nCOPY big.bin /data/big.bin\nCOPY settings.json /etc/settings.json\n',
    );
    const ref = `${lbHost}/library/r-docker:v1`;
    await dockerd.dockerOk(['build', '--tag', ref, context], { timeoutMs: 120_000 });
    await rm(context, { recursive: true });
    const push = await dockerd.dockerOk(['push', ref], { timeoutMs: 120_000 });
    const pushed = /digest: (sha256:[0-9a-f]{64})/.exec(push.stdout)?.[1] ?? '';
    expect(pushed, describeResult(push)).not.toBe('');
    const manifest = await expectIntactThroughLb('library/r-docker', 'v1', pushed);
    expect(manifest.layers).toHaveLength(3);
    expect(Math.max(...manifest.layers.map((l) => l.size))).toBeGreaterThan(20 * MiB);

    await dockerd.dockerOk(['rmi', ref]);
    const pull = await dockerd.dockerOk(['pull', ref], { timeoutMs: 120_000 });
    expect(pull.stdout).toContain(`Digest: ${pushed}`);
    const [inspected] = JSON.parse((await dockerd.dockerOk(['image', 'inspect', ref])).stdout) as {
      Id: string;
    }[];
    expect(inspected?.Id).toBe(manifest.config.digest);
    await dockerd.dockerOk(['rmi', ref]);
  });

  // docker, not skopeo or podman: the replica's death reaches the client as nginx's 502 Bad
  // Gateway on the PATCH, and skopeo 1.9.3 (Debian 12) does not retry a 5xx (`--retry-times` only
  // covers network errors; c/common learned 502-504 later), nor has podman 4.3.1 `--retry`.
  // dockerd retries a failed layer upload on a 5xx, from a new POST.
  it('a replica killed with -9 mid-push: docker retries through the others, the image is intact', async () => {
    if (!dockerd) throw new Error('dockerd not started');
    const context = path.join(work, 'killed-context');
    await mkdir(context);
    await writeFile(path.join(context, 'motd'), `killed ${randomBytes(8).toString('hex')}\n`);
    await writeRandomFile(path.join(context, 'big.bin'), 150 * MiB);
    await writeFile(
      path.join(context, 'Dockerfile'),
      'FROM scratch\nCOPY motd /etc/motd\nCOPY big.bin /data/big.bin\n',
    );
    const ref = `${lbHost}/library/r-killed:v1`;
    await dockerd.dockerOk(['build', '--tag', ref, context], { timeoutMs: 180_000 });
    await rm(context, { recursive: true });

    // Which replica receives the layer? Only that upload carries megabytes, and the replica
    // receiving it reads them from nginx's socket: its rchar (/proc/PID/io, every byte read from
    // files, pipes and sockets) runs 32 MiB ahead of where it was before the push, while the
    // others read only small requests and PostgreSQL replies. Neither the upload row (it does not
    // say which process holds the connection) nor X-Upstream (the client sees it only at the end)
    // can tell this while the body is still streaming.
    const before = await Promise.all(replicas.map((r) => bytesRead(r.process.pid)));
    const started = Date.now();
    const pushing = dockerd.docker(['push', ref], { timeoutMs: 300_000 });
    const state = { done: false };
    void pushing.then(() => (state.done = true));

    let victim: Replica | undefined;
    let received = 0;
    for (const deadline = Date.now() + 180_000; !victim;) {
      if (state.done)
        throw new Error(
          `docker push ended before the layer was in flight:\n${describeResult(await pushing)}`,
        );
      if (Date.now() > deadline) throw new Error('no replica received the layer');
      const now = await Promise.all(replicas.map((r) => bytesRead(r.process.pid)));
      const index = now.findIndex((n, i) => n - (before[i] ?? 0) > 32 * MiB);
      if (index >= 0) {
        victim = replicas[index];
        received = (now[index] ?? 0) - (before[index] ?? 0);
      } else await new Promise((resolve) => setTimeout(resolve, 20));
    }
    let killedAt = 0;
    const push = await (async () => {
      try {
        await victim.process.kill();
        killedAt = Date.now() - started;
        return await pushing;
      } finally {
        // Back on its port whatever happened, so the next tests have three replicas.
        victim.process = await startReplica(victim);
      }
    })();
    // dockerd counts each retry down to "Retrying in 1 second" (non-TTY output: one line a second).
    const retries = push.output.match(/Retrying in 1 second\b/g)?.length ?? 0;
    // What the client was answered: nginx logs why the PATCH broke off (a 502 to the client).
    const nginxSaw = (await balancer?.errors())
      ?.split('\n')
      .filter((line) => line.includes('[error]') && line.includes(String(victim.port)))
      .map((line) => line.replace(/^.*\[error\] [^ ]+ /, ''));
    console.log(
      `kill -9: replica :${String(victim.port)} killed ${String(killedAt)} ms into the push, ` +
        `having read ${String(Math.round(received / MiB))} MiB; docker push exited ` +
        `${String(push.code)} after ${String(Date.now() - started)} ms after ${String(retries)} ` +
        `retries; nginx: ${nginxSaw?.join(' | ') ?? ''}\n${push.output}`,
    );
    expect(push.code, describeResult(push)).toBe(0);
    expect(retries, describeResult(push)).toBeGreaterThanOrEqual(1);
    const pushed = /digest: (sha256:[0-9a-f]{64})/.exec(push.stdout)?.[1] ?? '';
    expect(pushed, describeResult(push)).not.toBe('');

    // Through nginx, the restarted replica among the others: every blob hashes to its digest.
    const manifest = await expectIntactThroughLb('library/r-killed', 'v1', pushed);
    expect(Math.max(...manifest.layers.map((l) => l.size))).toBeGreaterThan(150 * MiB);
    const [built] = JSON.parse((await dockerd.dockerOk(['image', 'inspect', ref])).stdout) as {
      Id: string;
    }[];
    await dockerd.dockerOk(['rmi', ref]);
    const pull = await dockerd.dockerOk(['pull', ref], { timeoutMs: 180_000 });
    expect(pull.stdout).toContain(`Digest: ${pushed}`);
    const [pulled] = JSON.parse((await dockerd.dockerOk(['image', 'inspect', ref])).stdout) as {
      Id: string;
    }[];
    expect(pulled?.Id).toBe(built?.Id);
    await dockerd.dockerOk(['rmi', ref]);

    const fsck = await run(
      process.execPath,
      [
        ...[CLI, 'fsck', '--json', '--data', victim.dataDir],
        ...['--meta', metaUrl(), '--storage', victim.storageUrl],
      ],
      { ...process.env, ...s3Env() },
    );
    const report = JSON.parse(fsck.stdout) as { blobs: number; counts: Record<string, number> };
    console.log(
      `fsck after the kill (exit ${String(fsck.code)}): ${JSON.stringify(report.counts)}`,
    );
    expect(report.blobs).toBeGreaterThanOrEqual(manifest.layers.length + 1);
    expect(report.counts['corrupt-blob']).toBe(0);
    expect(report.counts['missing-blob']).toBe(0);
    expect(report.counts['broken-reference']).toBe(0);

    // GC from the command line on the same URLs, while the replicas serve, without grace: it
    // may take blobs no manifest names (the first test's hand-made upload), never this image's.
    const gc = await run(
      process.execPath,
      [
        ...[CLI, 'gc', '--json', '--grace', '0', '--data', victim.dataDir],
        ...['--meta', metaUrl(), '--storage', victim.storageUrl],
      ],
      { ...process.env, ...s3Env() },
    );
    expect(gc.code, gc.stderr).toBe(0);
    const collected = JSON.parse(gc.stdout) as { dryRun: boolean; removed: { blobs: string[] } };
    expect(collected.dryRun).toBe(false);
    const image = [manifest.config.digest, ...manifest.layers.map((l) => l.digest)];
    expect(collected.removed.blobs.filter((b) => image.includes(b))).toEqual([]);
    await dockerd.dockerOk(['pull', ref], { timeoutMs: 180_000 });
    await dockerd.dockerOk(['rmi', ref]);
  });

  it('a tag moved on replica 1 reads moved on replica 2 at once; so does a password change', async () => {
    const [one, two] = replicas.map((r) => `http://127.0.0.1:${String(r.port)}`);
    if (one === undefined || two === undefined) throw new Error('two replicas needed');
    const repo = 'library/r-moving';
    const put = async (base: string, url: string, body: string | Buffer, type: string) => {
      const res = await fetch(`${base}${url}`, {
        method: 'PUT',
        headers: { authorization: ADMIN, 'content-type': type },
        body,
      });
      expect(res.status, await res.clone().text()).toBe(201);
    };
    const config = Buffer.from('{"architecture":"amd64","os":"linux"}');
    const upload = await fetch(`${one}/v2/${repo}/blobs/uploads/`, {
      method: 'POST',
      headers: { authorization: ADMIN },
    });
    expect(upload.status).toBe(202);
    const location = new URL(upload.headers.get('location') ?? '', one);
    location.searchParams.set('digest', sha256(config));
    await put(one, `${location.pathname}${location.search}`, config, 'application/octet-stream');
    for (let i = 0; i < 5; i++) {
      const manifest = JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: {
          mediaType: 'application/vnd.oci.image.config.v1+json',
          digest: sha256(config),
          size: config.length,
        },
        layers: [],
        annotations: { move: String(i) },
      });
      await put(one, `/v2/${repo}/manifests/moving`, manifest, OCI_MANIFEST);
      const read = await fetch(`${two}/v2/${repo}/manifests/moving`, {
        headers: { authorization: ADMIN, accept: OCI_MANIFEST },
      });
      expect(read.status).toBe(200);
      expect(read.headers.get('docker-content-digest')).toBe(sha256(manifest));
    }

    const user = `mover${randomBytes(4).toString('hex')}`;
    const [oldPassword, newPassword] = ['first-password-of-mover', 'second-password-of-mover'];
    const created = await fetch(`${one}/api/v1/users`, {
      method: 'POST',
      headers: { authorization: ADMIN, 'content-type': 'application/json' },
      body: JSON.stringify({ name: user, password: oldPassword }),
    });
    expect(created.status).toBe(201);
    const ping = (password: string) =>
      fetch(`${two}/v2/`, { headers: { authorization: basic(user, password) } }).then(
        (r) => r.status,
      );
    // Replica 2 has checked (and cached) the old password before it changes.
    expect(await ping(oldPassword)).toBe(200);
    expect(await ping(oldPassword)).toBe(200);
    const changed = await fetch(`${one}/api/v1/users/${user}/password`, {
      method: 'PUT',
      headers: { authorization: ADMIN, 'content-type': 'application/json' },
      body: JSON.stringify({ password: newPassword }),
    });
    expect(changed.status).toBeLessThan(300);
    const changedAt = performance.now();
    let refusedAfter: number | undefined;
    while (performance.now() - changedAt < 2000) {
      if ((await ping(oldPassword)) === 401) {
        refusedAfter = performance.now() - changedAt;
        break;
      }
    }
    console.log(`old password refused on replica 2 after ${String(refusedAfter?.toFixed(1))} ms`);
    expect(
      refusedAfter,
      'replica 2 still took the old password 2 s after the change',
    ).toBeDefined();
    expect(await ping(newPassword)).toBe(200);
  });

  it('a web UI session made through nginx outlives a restart of the replica that made it', async () => {
    const login = await fetch(`${lb}/api/v1/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: ADMIN_PASSWORD }),
    });
    expect(login.status).toBe(200);
    const cookie = login.headers
      .getSetCookie()
      .find((c) => c.startsWith('berth_session='))
      ?.split(';')[0];
    expect(cookie).toBeDefined();
    const maker = replicaAt(login.headers.get('x-upstream'));
    const whoami = (base: string) =>
      fetch(`${base}/api/v1/session`, { headers: { cookie: cookie ?? '' } });

    expect((await maker.process.stop()) ?? 0).toBe(0);
    maker.process = await startReplica(maker);
    const direct = await whoami(`http://127.0.0.1:${String(maker.port)}`);
    expect(direct.status).toBe(200);
    expect(await direct.json()).toMatchObject({ user: 'admin' });
    // Through nginx on every replica: round robin reaches the restarted one again once nginx has
    // stopped counting it down (fail_timeout), so ask until each has answered.
    const served = new Set<string | null>();
    for (const deadline = Date.now() + 30_000; served.size < replicas.length;) {
      expect(Date.now(), `only ${[...served].join(', ')} answered`).toBeLessThan(deadline);
      const res = await whoami(lb);
      expect(res.status).toBe(200);
      served.add(res.headers.get('x-upstream'));
    }
    expect(served).toContain(`127.0.0.1:${String(maker.port)}`);
  });
});
