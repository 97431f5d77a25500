/**
 * Real clients (skopeo, podman, docker through dockerd) pulling through a Berth proxy namespace:
 * the built server (`dist/`) with authentication on, one proxy namespace in front of a CNCF
 * Distribution behind htpasswd (Basic) and one in front of a second Berth behind its token realm,
 * each with the credentials of an upstream user who may only pull. Every pull is compared by
 * digest with what was pushed to the upstream; then the upstreams are stopped, and what was pulled
 * once still pulls (by tag and by digest) while a tag never pulled fails with the upstream's
 * failure in the message. A push into a proxy namespace is refused.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  startDistribution,
  stopAllDistributions,
  type Distribution,
} from '../helpers/distribution.js';
import { ADMIN_PASSWORD, CLI, startServerProcess, type ServerProcess } from '../helpers/server.js';
import { clientSandbox } from './client-sandbox.js';
import {
  describeResult,
  runWithTimeout,
  startDockerd,
  type CommandResult,
  type Dockerd,
} from './dockerd.js';
import {
  addIndex,
  blobPath,
  buildImage,
  dirBlobPath,
  fileSha256,
  hostArchitecture,
  initLayout,
  readDirImage,
  readLayoutManifest,
  type ImageIndex,
  type ImageManifest,
  type StoredManifest,
} from './images.js';
import { createProxyNamespace } from './proxy-helpers.js';

const COMMAND_TIMEOUT = 180_000;
/** The upstreams' user for the proxy: it may pull, nothing more. */
const MIRROR = { name: 'mirror', password: `mirror-${randomBytes(6).toString('hex')}` };
/** The proxy's view of an upstream tag after the upstream is gone: confirmed once, then stale. */
const TTL = '1s';

/** A proxy namespace of the Berth under test and the upstream behind it. */
interface UpstreamSpec {
  /** For test names. */
  label: string;
  /** The proxy namespace in Berth. */
  namespace: string;
  /** The repository in the upstream, as pushed there. */
  repository: string;
}

const DIST: UpstreamSpec = {
  label: 'Distribution behind htpasswd',
  namespace: 'dist',
  repository: 'team/app',
};
const PEER: UpstreamSpec = {
  label: 'Berth behind its token realm',
  namespace: 'peer',
  repository: 'library/app',
};
const SPECS = [DIST, PEER];

interface Upstream extends UpstreamSpec {
  /** `127.0.0.1:PORT` of the upstream. */
  host: string;
  url: string;
  /** skopeo's credentials for pushing to the upstream. */
  pushCreds: string;
  stop(): Promise<unknown>;
}

let work = '';
let layout = '';
let clientEnv: NodeJS.ProcessEnv = {};
let podmanGlobal: string[] = [];
let distribution: Distribution | undefined;
let peer: ServerProcess | undefined;
let berth: ServerProcess | undefined;
let dockerd: Dockerd | undefined;
/** By namespace, once started. */
const upstreams = new Map<string, Upstream>();
/** What was pushed to every upstream: an image of three layers and a two-platform index. */
let image: StoredManifest<ImageManifest>;
let index: StoredManifest<ImageIndex>;
/** Pushed as `never`: no client pulls it while the upstreams are up. */
let unpulled: StoredManifest<ImageManifest>;

function server(): ServerProcess {
  if (!berth) throw new Error('Berth not started');
  return berth;
}

function daemon(): Dockerd {
  if (!dockerd) throw new Error('dockerd not started');
  return dockerd;
}

function tail(text: string, lines = 30): string {
  return text.split('\n').slice(-lines).join('\n');
}

async function command(
  name: string,
  args: readonly string[],
  input?: string,
): Promise<CommandResult> {
  return runWithTimeout(name, args, clientEnv, COMMAND_TIMEOUT, input);
}

/** A command that must succeed; its failure shows its output and the tail of Berth's log. */
async function ok(name: string, args: readonly string[], input?: string): Promise<CommandResult> {
  const result = await command(name, args, input);
  if (result.code !== 0 || result.timedOut) {
    throw new Error(`${describeResult(result)}\n--- Berth (tail) ---\n${tail(server().output())}`);
  }
  return result;
}

/** A command that must fail, without hanging, and say what `pattern` describes. */
function expectRefused(result: CommandResult, pattern: RegExp): void {
  expect(result.timedOut, describeResult(result)).toBe(false);
  expect(result.code, describeResult(result)).not.toBe(0);
  expect(result.output, describeResult(result)).toMatch(pattern);
}

const skopeo = (args: readonly string[]): Promise<CommandResult> => ok('skopeo', args);
const podman = (args: readonly string[]): Promise<CommandResult> =>
  ok('podman', [...podmanGlobal, ...args]);

/** `HOST:PORT/NAMESPACE/REPOSITORY` in the proxy. */
function proxied(upstream: Upstream): string {
  return `${server().host}/${upstream.namespace}/${upstream.repository}`;
}

/** `berth …` on a data directory, as an operator runs it. */
async function berthCli(dataDir: string, args: readonly string[], input?: string): Promise<void> {
  const result = await runWithTimeout(
    process.execPath,
    [CLI, ...args, '--data', dataDir],
    process.env,
    COMMAND_TIMEOUT,
    input,
  );
  if (result.code !== 0) throw new Error(describeResult(result));
}

/** Copies the test images from the OCI layout to an upstream: `v1`, `multi` (--all) and `never`. */
async function pushToUpstream(upstream: Upstream): Promise<void> {
  const dest = (tag: string): string => `docker://${upstream.host}/${upstream.repository}:${tag}`;
  const common = ['copy', '--dest-tls-verify=false', '--dest-creds', upstream.pushCreds];
  await skopeo([...common, `oci:${layout}:v1`, dest('v1')]);
  await skopeo([...common, '--all', `oci:${layout}:multi`, dest('multi')]);
  await skopeo([...common, `oci:${layout}:never`, dest('never')]);
}

/** Checks an image copied to a skopeo `dir:` destination against what was pushed. */
async function expectDirImage(dir: string, expected: StoredManifest<ImageManifest>): Promise<void> {
  const copied = await readDirImage(dir);
  expect(copied.digest).toBe(expected.digest);
  for (const d of [expected.parsed.config, ...expected.parsed.layers])
    expect(await fileSha256(dirBlobPath(dir, d.digest))).toBe(d.digest);
}

/** Copies `multi` with --all to an OCI layout and checks the index and every child's blobs. */
async function expectIndexCopy(upstream: Upstream, out: string): Promise<void> {
  await skopeo([
    'copy',
    '--all',
    '--src-tls-verify=false',
    `docker://${proxied(upstream)}:multi`,
    `oci:${out}:multi`,
  ]);
  const copied = await readLayoutManifest<ImageIndex>(out, 'multi');
  expect(copied.digest).toBe(index.digest);
  for (const child of index.parsed.manifests) {
    const manifest = await readLayoutManifest<ImageManifest>(
      layout,
      child.platform?.architecture ?? '',
    );
    expect(manifest.digest).toBe(child.digest);
    for (const d of [manifest.parsed.config, ...manifest.parsed.layers])
      expect(await fileSha256(blobPath(out, d.digest))).toBe(d.digest);
  }
}

interface PodmanImage {
  Id: string;
  RepoDigests: string[];
}

/** `podman pull` the reference into an empty store; the image as podman then has it. */
async function podmanPull(reference: string): Promise<PodmanImage> {
  await podman(['rmi', '--all', '--force']);
  await podman(['pull', '--tls-verify=false', reference]);
  const [pulled] = JSON.parse((await podman(['image', 'inspect', reference])).stdout) as
    PodmanImage[] | [];
  if (!pulled) throw new Error(`podman has no ${reference} after pulling it`);
  return pulled;
}

interface DockerImage {
  Id: string;
  RepoDigests: string[];
}

/**
 * `docker pull` the reference into an empty daemon, so every layer comes from Berth; the image as
 * dockerd then has it.
 */
async function dockerPull(reference: string): Promise<DockerImage> {
  const ids = (await daemon().dockerOk(['images', '--all', '--quiet'])).stdout.split('\n');
  const present = [...new Set(ids.filter((id) => id !== ''))];
  if (present.length > 0) await daemon().dockerOk(['rmi', '--force', ...present]);
  await daemon().dockerOk(['pull', reference], { timeoutMs: COMMAND_TIMEOUT });
  const [pulled] = JSON.parse((await daemon().dockerOk(['image', 'inspect', reference])).stdout) as
    DockerImage[] | [];
  if (!pulled) throw new Error(`docker has no ${reference} after pulling it`);
  return pulled;
}

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
  // Lower case only: podman names images after directories.
  work = path.join(tmpdir(), `berth-e2e-proxy-${randomBytes(6).toString('hex')}`);
  await mkdir(work);
  ({ env: clientEnv, podmanArgs: podmanGlobal } = await clientSandbox(work, {
    isolateCredentials: true,
  }));

  // The images, offline: three layers for the host's platform, and a two-platform index.
  layout = path.join(work, 'layout');
  await initLayout(layout);
  const platform = (architecture: string): { architecture: string; os: string } => ({
    architecture,
    os: 'linux',
  });
  image = await buildImage(layout, {
    tag: 'v1',
    platform: platform(hostArchitecture()),
    layers: [
      ['/etc/motd', 'through the proxy\n'],
      ['/data/a.bin', randomBytes(256 * 1024)],
      ['/data/b.bin', randomBytes(64 * 1024)],
    ],
  });
  for (const arch of ['amd64', 'arm64']) {
    await buildImage(layout, {
      tag: arch,
      platform: platform(arch),
      layers: [['/platform.txt', `${arch} ${randomBytes(8).toString('hex')}\n`]],
    });
  }
  index = await addIndex(layout, 'multi', [
    { tag: 'amd64', platform: platform('amd64') },
    { tag: 'arm64', platform: platform('arm64') },
  ]);
  unpulled = await buildImage(layout, {
    tag: 'never',
    platform: platform(hostArchitecture()),
    layers: [['/never.txt', randomBytes(1024)]],
  });

  // Upstream 1: Distribution with htpasswd; the proxy's user is the pushing user too (htpasswd
  // has no roles).
  distribution = await startDistribution({ label: 'berth-proxy-dist', auth: { users: [MIRROR] } });
  const dist = distribution;
  upstreams.set(DIST.namespace, {
    ...DIST,
    host: dist.url.slice('http://'.length),
    url: dist.url,
    pushCreds: `${MIRROR.name}:${MIRROR.password}`,
    stop: () => dist.stop(),
  });

  // Upstream 2: another Berth with its token realm; the proxy's user may only pull there.
  peer = await startServerProcess({ dataDir: path.join(work, 'peer'), auth: true });
  const other = peer;
  await berthCli(
    other.dataDir,
    ['user', 'add', MIRROR.name, '--role', 'viewer', '--password-stdin'],
    `${MIRROR.password}\n`,
  );
  upstreams.set(PEER.namespace, {
    ...PEER,
    host: other.host,
    url: other.url,
    pushCreds: `admin:${ADMIN_PASSWORD}`,
    stop: () => other.stop(),
  });

  berth = await startServerProcess({ dataDir: path.join(work, 'berth'), auth: true });
  for (const upstream of upstreams.values()) {
    await pushToUpstream(upstream);
    await createProxyNamespace(berth.dataDir, upstream.namespace, {
      url: upstream.url,
      credentials: { username: MIRROR.name, password: MIRROR.password },
      ttl: TTL,
      public: true,
    });
  }
  dockerd = await startDockerd();
});

afterAll(async () => {
  await dockerd?.stop();
  await berth?.stop();
  await peer?.stop();
  await stopAllDistributions();
  if (work) await rm(work, { recursive: true, force: true });
});

describe.each(SPECS)('through $label', (spec) => {
  const upstream = (): Upstream => {
    const u = upstreams.get(spec.namespace);
    if (!u) throw new Error(`upstream of ${spec.namespace} not started`);
    return u;
  };

  test('the upstream refuses anonymous pulls: the proxy must use its credentials', async () => {
    const res = await fetch(`${upstream().url}/v2/${upstream().repository}/manifests/v1`);
    expect(res.status).toBe(401);
  });

  test('skopeo copies the image and the index through the proxy, digests unchanged', async () => {
    const u = upstream();
    const raw = await skopeo([
      'inspect',
      '--raw',
      '--tls-verify=false',
      `docker://${proxied(u)}:v1`,
    ]);
    expect(raw.stdout).toBe(image.raw.toString());
    const out = path.join(work, `skopeo-${u.namespace}-v1`);
    await skopeo(['copy', '--src-tls-verify=false', `docker://${proxied(u)}:v1`, `dir:${out}`]);
    await expectDirImage(out, image);
    await expectIndexCopy(u, path.join(work, `skopeo-${u.namespace}-multi`));
  });

  test('podman pulls through the proxy', async () => {
    const u = upstream();
    const pulled = await podmanPull(`${proxied(u)}:v1`);
    expect(`sha256:${pulled.Id}`).toBe(image.parsed.config.digest);
    expect(pulled.RepoDigests).toContain(`${proxied(u)}@${image.digest}`);
  });

  test('docker pulls the image and the index through the proxy', async () => {
    const u = upstream();
    const pulled = await dockerPull(`${proxied(u)}:v1`);
    expect(pulled.Id).toBe(image.parsed.config.digest);
    expect(pulled.RepoDigests).toContain(`${proxied(u)}@${image.digest}`);
    const multi = await dockerPull(`${proxied(u)}:multi`);
    expect(multi.RepoDigests).toContain(`${proxied(u)}@${index.digest}`);
  });
});

describe('a push into a proxy namespace', () => {
  test('is refused: skopeo says the namespace is a read-only cache', async () => {
    const result = await command('skopeo', [
      'copy',
      '--dest-tls-verify=false',
      '--dest-creds',
      `admin:${ADMIN_PASSWORD}`,
      `oci:${layout}:v1`,
      `docker://${server().host}/${DIST.namespace}/team/pushed:v1`,
    ]);
    expectRefused(result, /read-only cache of http:\/\/127\.0\.0\.1:\d+/);
  });
});

describe.each(SPECS)('after stopping $label', (spec) => {
  const upstream = (): Upstream => {
    const u = upstreams.get(spec.namespace);
    if (!u) throw new Error(`upstream of ${spec.namespace} not started`);
    return u;
  };

  test('stopping the upstream', async () => {
    const u = upstream();
    await u.stop();
    const refused = await fetch(`${u.url}/v2/`).then(
      () => false,
      () => true,
    );
    expect(refused).toBe(true);
  });

  test('skopeo still copies what was pulled before, by tag and by digest', async () => {
    const u = upstream();
    // Until the tag's TTL (1 s) has run out Berth serves it without asking; from then on it asks
    // the upstream, fails, and serves its copy all the same, with a warning and a log line.
    const stale = new RegExp(
      `^(?=.*proxy serves a cached tag the upstream could not confirm)(?=.*"repository":"${u.namespace}/).*$`,
      'm',
    );
    for (const deadline = Date.now() + 60_000; !stale.test(server().output());) {
      if (Date.now() > deadline) throw new Error(`no stale serving logged:\n${server().output()}`);
      const raw = await skopeo([
        'inspect',
        '--raw',
        '--tls-verify=false',
        `docker://${proxied(u)}:v1`,
      ]);
      expect(raw.stdout).toBe(image.raw.toString());
    }
    const byTag = path.join(work, `stale-${u.namespace}-tag`);
    await skopeo(['copy', '--src-tls-verify=false', `docker://${proxied(u)}:v1`, `dir:${byTag}`]);
    await expectDirImage(byTag, image);
    const byDigest = path.join(work, `stale-${u.namespace}-digest`);
    await skopeo([
      'copy',
      '--src-tls-verify=false',
      `docker://${proxied(u)}@${image.digest}`,
      `dir:${byDigest}`,
    ]);
    await expectDirImage(byDigest, image);
    await expectIndexCopy(u, path.join(work, `stale-${u.namespace}-multi`));
  });

  test('podman and docker still pull it', async () => {
    const u = upstream();
    const fromPodman = await podmanPull(`${proxied(u)}:v1`);
    expect(`sha256:${fromPodman.Id}`).toBe(image.parsed.config.digest);
    expect(fromPodman.RepoDigests).toContain(`${proxied(u)}@${image.digest}`);
    const fromDocker = await dockerPull(`${proxied(u)}:v1`);
    expect(fromDocker.Id).toBe(image.parsed.config.digest);
    const byDigest = await dockerPull(`${proxied(u)}@${image.digest}`);
    expect(byDigest.Id).toBe(image.parsed.config.digest);
    const multi = await dockerPull(`${proxied(u)}:multi`);
    expect(multi.RepoDigests).toContain(`${proxied(u)}@${index.digest}`);
  });

  test('a tag never pulled fails at once, and Berth says why', async () => {
    const u = upstream();
    // The upstream has it (it was pushed there), but Berth never fetched it.
    expect(unpulled.digest).not.toBe(image.digest);
    const why = `${u.url} did not answer: ECONNREFUSED`;
    // skopeo and podman print the error body of a 4xx answer: the reason reaches the user.
    for (const attempt of [
      () => command('skopeo', ['inspect', '--tls-verify=false', `docker://${proxied(u)}:never`]),
      () =>
        command('podman', [...podmanGlobal, 'pull', '--tls-verify=false', `${proxied(u)}:never`]),
    ]) {
      expectRefused(await attempt(), /did not answer: ECONNREFUSED/);
    }
    expectRefused(
      await daemon().docker(['pull', `${proxied(u)}:never`], { timeoutMs: COMMAND_TIMEOUT }),
      /not found|did not answer/,
    );
    const res = await fetch(`${server().url}/v2/${u.namespace}/${u.repository}/manifests/never`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({
      errors: [
        {
          code: 'MANIFEST_UNKNOWN',
          message: expect.stringContaining(
            `${u.namespace}/${u.repository}:never is not cached and the upstream could not provide it: ${why}`,
          ) as unknown,
          detail: { upstreamUnavailable: true },
        },
      ],
    });
  });
});
