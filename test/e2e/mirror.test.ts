/**
 * Berth as the registry mirror of real clients, with a CNCF Distribution standing in for Docker
 * Hub behind a proxy namespace `hub`:
 * - dockerd with `registry-mirrors` pointing at `berth serve --mirror 127.0.0.1:PORT=hub`, pulling
 *   `berth-mirror-e2e:v1` by its Docker Hub name;
 * - containerd (the one that dockerd runs) through `ctr content fetch --hosts-dir` with the
 *   hosts.toml that `serve` prints (the main listener, `/v2/hub`, override_path, `?ns=docker.io`).
 * The image exists only in the local Distribution (built offline), and this machine has no route
 * to Docker Hub: a pull that succeeds got its bytes through Berth, and Distribution's access log
 * says Berth fetched them.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { withDataDir } from '../../src/cli/data.js';
import { startDistribution, type Distribution } from '../helpers/distribution.js';
import { startServerProcess, type ServerProcess } from '../helpers/server.js';
import {
  describeResult,
  runWithTimeout,
  startDockerd,
  type CommandResult,
  type Dockerd,
} from './dockerd.js';
import {
  buildImage,
  hostArchitecture,
  initLayout,
  runOk,
  type ImageManifest,
  type StoredManifest,
} from './images.js';

const NAME = 'berth-mirror-e2e';
const STEP_TIMEOUT = 180_000;

let work = '';
let upstream: Distribution | undefined;
let server: ServerProcess | undefined;
let dockerd: Dockerd | undefined;
let image: StoredManifest<ImageManifest>;
/** `http://127.0.0.1:PORT` of the mirror listener, as `serve` printed it. */
let mirrorUrl = '';
/** What `serve` printed for the mirror. */
let setupText = '';

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'berth-mirror-'));
  const layout = path.join(work, 'layout');
  await initLayout(layout);
  image = await buildImage(layout, {
    tag: 'v1',
    platform: { os: 'linux', architecture: hostArchitecture() },
    layers: [['hello.txt', 'pulled through the Berth mirror\n']],
  });
  upstream = await startDistribution({ label: 'berth-mirror-upstream' });
  await runOk('skopeo', [
    'copy',
    '--dest-tls-verify=false',
    `oci:${layout}:v1`,
    `docker://127.0.0.1:${upstream.port}/library/${NAME}:v1`,
  ]);
  await runOk('skopeo', [
    'copy',
    '--dest-tls-verify=false',
    `oci:${layout}:v1`,
    `docker://127.0.0.1:${upstream.port}/team/${NAME}:v1`,
  ]);

  // Authentication on: docker's anonymous pull of a public namespace goes through the token realm.
  server = await startServerProcess({ auth: true, args: ['--mirror', '127.0.0.1:0=hub'] });
  const printed = await server.waitFor(/Docker mirror of namespace "hub" on (http:\/\/\S+)/);
  mirrorUrl = printed[1] ?? '';
  await server.waitFor(/override_path = true/);
  setupText = server.output();
  // As `berth namespace create hub --proxy URL --public` does, beside the running server.
  const upstreamUrl = upstream.url;
  await withDataDir({ data: server.dataDir }, async ({ registry }) => {
    await registry.namespaces.create('hub', { public: true, proxy: { url: upstreamUrl } });
  });
  dockerd = await startDockerd({ daemonConfig: { 'registry-mirrors': [mirrorUrl] } });
}, 300_000);

afterAll(async () => {
  await dockerd?.stop();
  await server?.stop();
  await upstream?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

function daemon(): Dockerd {
  if (!dockerd) throw new Error('dockerd not started');
  return dockerd;
}

function distribution(): Distribution {
  if (!upstream) throw new Error('Distribution not started');
  return upstream;
}

/** Blob GETs Distribution answered for the image in `library/` (or another repository), by digest. */
async function upstreamBlobGets(digest: string, repository = `library/${NAME}`): Promise<number> {
  return distribution().count('GET', new RegExp(`/v2/${repository}/blobs/${digest}$`));
}

/** `ctr` against the containerd of the test's dockerd, in a namespace of its own. */
function ctr(args: readonly string[]): Promise<CommandResult> {
  return runWithTimeout(
    'ctr',
    ['--address', daemon().containerdAddress, '--namespace', 'berth-mirror', ...args],
    process.env,
    STEP_TIMEOUT,
  );
}

/** A hosts.toml for `registryHost` in a new hosts dir; `server` is a closed port: no fallback. */
async function hostsDir(name: string, registryHost: string, hostLines: string): Promise<string> {
  const dir = path.join(work, name);
  await mkdir(path.join(dir, registryHost), { recursive: true });
  await writeFile(
    path.join(dir, registryHost, 'hosts.toml'),
    `server = "http://127.0.0.1:9"\n${hostLines}\n`,
  );
  return dir;
}

describe('docker registry mirror', () => {
  test('serve prints the daemon.json and hosts.toml for the mirror', () => {
    expect(setupText).toContain(`{"registry-mirrors":["${mirrorUrl}"]}`);
    expect(setupText).toContain('/etc/containerd/certs.d/docker.io/hosts.toml');
    expect(setupText).toMatch(/\[host\."http:\/\/127\.0\.0\.1:\d+\/v2\/hub"\]/);
  });

  test(
    'dockerd pulls a Docker Hub name through the mirror listener',
    async () => {
      const pulled = await daemon().dockerOk(['pull', `${NAME}:v1`], { timeoutMs: STEP_TIMEOUT });
      expect(pulled.stdout).toContain(`Downloaded newer image for ${NAME}:v1`);
      const inspected = await daemon().dockerOk(['image', 'inspect', `${NAME}:v1`]);
      const [info] = JSON.parse(inspected.stdout) as { Id: string; RepoDigests: string[] }[];
      expect(info?.Id).toBe(image.parsed.config.digest);
      expect(info?.RepoDigests).toContain(`${NAME}@${image.digest}`);
      // Berth fetched each blob from the upstream once, for dockerd: the bytes came this way.
      for (const d of [image.parsed.config, ...image.parsed.layers])
        expect(await upstreamBlobGets(d.digest)).toBe(1);
      // And dockerd asked the mirror by the Hub name, which Berth stored in hub.
      expect(server?.output()).not.toMatch(/"level":50/);
    },
    STEP_TIMEOUT,
  );

  test(
    'containerd fetches through the hosts.toml that serve printed (main listener, ?ns=docker.io)',
    async () => {
      const hostLines =
        /(\[host\."http:\/\/[^"]+"\]\n\s+capabilities = .*\n\s+override_path = true)/.exec(
          setupText,
        );
      expect(hostLines).not.toBeNull();
      const dir = await hostsDir('certs.d', 'docker.io', hostLines?.[1] ?? '');
      const fetched = await ctr([
        'content',
        'fetch',
        '--hosts-dir',
        dir,
        `docker.io/library/${NAME}:v1`,
      ]);
      expect(fetched.code, describeResult(fetched)).toBe(0);
      for (const d of [image.parsed.config, ...image.parsed.layers]) {
        const got = await ctr(['content', 'get', d.digest]);
        expect(got.code, describeResult(got)).toBe(0);
      }
      const listed = await ctr(['content', 'ls', '-q']);
      expect(listed.stdout).toContain(image.digest);
      // Served from Berth's cache: the upstream was not asked for the blobs again.
      for (const d of [image.parsed.config, ...image.parsed.layers])
        expect(await upstreamBlobGets(d.digest)).toBe(1);
    },
    STEP_TIMEOUT,
  );

  test(
    "containerd's ?ns= maps a plain host entry's names into the proxy of that upstream",
    async () => {
      const registryHost = `127.0.0.1:${String(distribution().port)}`;
      // The host is Berth's main listener itself: containerd asks /v2/team/…?ns=<upstream>.
      const dir = await hostsDir(
        'certs-ns.d',
        registryHost,
        `[host."${server?.url ?? ''}"]\n  capabilities = ["pull", "resolve"]`,
      );
      const fetched = await ctr([
        'content',
        'fetch',
        '--hosts-dir',
        dir,
        `${registryHost}/team/${NAME}:v1`,
      ]);
      expect(fetched.code, describeResult(fetched)).toBe(0);
      // Berth resolved the tag in hub (nothing else asked Berth for team/…)…
      const manifest = await fetch(`${server?.url ?? ''}/v2/hub/team/${NAME}/manifests/v1`, {
        method: 'HEAD',
        headers: { accept: image.parsed.mediaType ?? '' },
      });
      expect(manifest.status).toBe(200);
      expect(manifest.headers.get('docker-content-digest')).toBe(image.digest);
      // …and served every blob from what it already held (the same image under library/):
      // had containerd reached the upstream itself, these would have been fetched there.
      for (const d of [image.parsed.config, ...image.parsed.layers])
        expect(await upstreamBlobGets(d.digest, `team/${NAME}`)).toBe(0);
    },
    STEP_TIMEOUT,
  );
});
