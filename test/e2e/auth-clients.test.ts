/**
 * Real clients with credentials against the built server with authentication on (issue 3): docker
 * (through dockerd), podman and skopeo sign in through Berth's own token realm, push, pull and
 * sign out; afterwards, and for a viewer, the same pushes are refused. Users and access tokens
 * are made with the `berth user` / `berth token` commands on the running server's data
 * directory, as an operator would. Images are built offline (docker build FROM scratch, umoci).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ADMIN_PASSWORD, CLI, startServerProcess, type ServerProcess } from '../helpers/server.js';
import {
  describeResult,
  runWithTimeout,
  startDockerd,
  type CommandResult,
  type Dockerd,
} from './dockerd.js';
import {
  DOCKER_MANIFEST,
  OCI_MANIFEST,
  buildImage,
  hostArchitecture,
  initLayout,
  readLayoutManifest,
  sha256,
  writeRandomFile,
  type ImageManifest,
} from './images.js';
import { clientSandbox } from './client-sandbox.js';

const COMMAND_TIMEOUT = 120_000;
const STEP_TIMEOUT = 180_000;
const MANIFEST_ACCEPT = [DOCKER_MANIFEST, OCI_MANIFEST].join(', ');

/** Users made with `berth user add`: a developer per client and one viewer. */
const USERS = {
  udocker: { role: 'developer', password: `docker-${randomBytes(6).toString('hex')}` },
  upodman: { role: 'developer', password: `podman-${randomBytes(6).toString('hex')}` },
  uskopeo: { role: 'developer', password: `skopeo-${randomBytes(6).toString('hex')}` },
  uviewer: { role: 'viewer', password: `viewer-${randomBytes(6).toString('hex')}` },
} as const;
type UserName = keyof typeof USERS;

/** What a refused client prints: the registry's 401 error, or the token realm's refusal. */
const UNAUTHORIZED = /unauthorized|authentication required/i;
/** A signed-in user whom policy refuses: the registry's 403 DENIED. */
const DENIED = /denied/i;

let server: ServerProcess | undefined;
let work = '';
let host = '';
let url = '';
/** Environment for podman and skopeo: private temp dir, storage and (empty) credential stores. */
let clientEnv: NodeJS.ProcessEnv = {};
let podmanGlobal: string[] = [];

function serverProcess(): ServerProcess {
  if (!server) throw new Error('server not started');
  return server;
}

function password(user: UserName): string {
  return USERS[user].password;
}

/** Runs a client command with a deadline; never throws on failure. */
function runCommand(
  command: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {},
): Promise<CommandResult> {
  return runWithTimeout(
    command,
    args,
    options.env ?? clientEnv,
    options.timeoutMs ?? COMMAND_TIMEOUT,
    options.input,
  );
}

/** Like runCommand, but a failure or timeout is an error showing the command and its output. */
async function runOk(
  command: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {},
): Promise<CommandResult> {
  const result = await runCommand(command, args, options);
  if (result.code !== 0 || result.timedOut) {
    throw new Error(`${describeResult(result)}\n--- server output (tail) ---\n${serverTail()}`);
  }
  return result;
}

/** A command that must fail, without hanging, and print what `pattern` describes. */
function expectRefused(result: CommandResult, pattern: RegExp): void {
  expect(result.timedOut, describeResult(result)).toBe(false);
  expect(result.code, describeResult(result)).not.toBe(0);
  expect(result.output, describeResult(result)).toMatch(pattern);
}

function serverTail(): string {
  return serverProcess().output().split('\n').slice(-20).join('\n');
}

/** `berth …` on the running server's data directory. */
function berth(args: readonly string[], input?: string): Promise<CommandResult> {
  return runOk(
    process.execPath,
    [CLI, ...args, '--data', serverProcess().dataDir],
    input === undefined ? { env: process.env } : { env: process.env, input },
  );
}

const ADMIN_AUTHORIZATION = `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`;

/** A manifest as Berth serves it, read with the admin's Basic credentials. */
async function adminManifest(name: string, reference: string, method = 'GET'): Promise<Response> {
  return fetch(`${url}/v2/${name}/manifests/${reference}`, {
    method,
    headers: { accept: MANIFEST_ACCEPT, authorization: ADMIN_AUTHORIZATION },
  });
}

async function adminManifestDigest(name: string, reference: string): Promise<string> {
  const res = await adminManifest(name, reference);
  expect(res.status, `GET /v2/${name}/manifests/${reference} as admin`).toBe(200);
  return sha256(new Uint8Array(await res.arrayBuffer()));
}

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
  // Lower case only: podman names images after directories.
  work = path.join(tmpdir(), `berth-e2e-auth-${randomBytes(6).toString('hex')}`);
  await mkdir(work);
  server = await startServerProcess({ dataDir: path.join(work, 'data'), auth: true });
  host = server.host;
  url = server.url;

  // Without credentials the server answers the ping with a challenge naming its own realm.
  const ping = await fetch(`${url}/v2/`);
  expect(ping.status).toBe(401);
  expect(ping.headers.get('www-authenticate')).toContain(`realm="${url}/v2/token"`);

  for (const [name, user] of Object.entries(USERS)) {
    await berth(
      ['user', 'add', name, '--role', user.role, '--password-stdin'],
      `${user.password}\n`,
    );
  }

  ({ env: clientEnv, podmanArgs: podmanGlobal } = await clientSandbox(work, {
    isolateCredentials: true,
  }));
});

afterAll(async () => {
  await server?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

// ── docker ──────────────────────────────────────────────────────────────────────────────────

interface DockerConfig {
  auths?: Record<string, { auth?: string; identitytoken?: string }>;
}

describe('docker CLI and dockerd with Berth’s token realm', () => {
  const REPO = 'library/example-devops';
  let dockerd: Dockerd | undefined;
  let configFile = '';
  let pushedDigest = '';
  let imageId = '';

  function daemon(): Dockerd {
    if (!dockerd) throw new Error('dockerd not started');
    return dockerd;
  }

  const ref = (tag: string): string => `${host}/${REPO}:${tag}`;

  /** The private DOCKER_CONFIG's config.json, where `docker login` keeps credentials. */
  async function dockerConfig(): Promise<DockerConfig> {
    return JSON.parse(await readFile(configFile, 'utf8')) as DockerConfig;
  }

  /**
   * Builds and tags an image: FROM scratch with a note and 512 KiB of random data, or FROM `base`
   * with one more small layer.
   */
  async function build(tag: string, base?: string): Promise<void> {
    const context = path.join(work, `docker-context-${tag}`);
    await mkdir(context);
    await writeFile(path.join(context, 'note.txt'), `${tag} ${randomBytes(8).toString('hex')}\n`);
    const lines = [`FROM ${base ?? 'scratch'}`, `COPY note.txt /etc/${tag}.txt`];
    if (!base) {
      await writeRandomFile(path.join(context, 'payload.bin'), 512 * 1024);
      lines.push('COPY payload.bin /data/payload.bin');
    }
    await writeFile(path.join(context, 'Dockerfile'), `${lines.join('\n')}\n`);
    await daemon().dockerOk(['build', '--tag', ref(tag), context], { timeoutMs: COMMAND_TIMEOUT });
  }

  function login(user: UserName): Promise<CommandResult> {
    return daemon().docker(['login', host, '--username', user, '--password-stdin'], {
      input: `${password(user)}\n`,
      timeoutMs: COMMAND_TIMEOUT,
    });
  }

  beforeAll(async () => {
    dockerd = await startDockerd();
    configFile = path.join(dockerd.env['DOCKER_CONFIG'] ?? '', 'config.json');
    await build('v1');
    const [image] = JSON.parse(
      (await daemon().dockerOk(['image', 'inspect', ref('v1')])).stdout,
    ) as { Id: string }[];
    imageId = image?.Id ?? '';
  }, STEP_TIMEOUT);

  afterAll(async () => {
    await dockerd?.stop();
  }, STEP_TIMEOUT);

  test(
    'docker login as a developer succeeds and keeps a refresh token (identitytoken), not the password',
    async () => {
      const result = await login('udocker');
      expect(result.code, describeResult(result)).toBe(0);
      expect(result.output).toContain('Login Succeeded');
      const entry = (await dockerConfig()).auths?.[host];
      expect(entry, `config.json has no entry for ${host}`).toBeDefined();
      expect(entry?.identitytoken ?? '', JSON.stringify(entry)).toMatch(/^berth_rt_/);
      const raw = await readFile(configFile, 'utf8');
      expect(raw).not.toContain(password('udocker'));
      expect(raw).not.toContain(Buffer.from(`udocker:${password('udocker')}`).toString('base64'));
    },
    STEP_TIMEOUT,
  );

  test(
    'docker push uploads every layer and Berth serves the pushed digest',
    async () => {
      const push = await daemon().dockerOk(['push', ref('v1')]);
      expect(push.stdout).toMatch(/: Pushed$/m);
      expect(push.stdout).not.toMatch(/Layer already exists/);
      const m = /digest: (sha256:[0-9a-f]{64}) size: \d+/.exec(push.stdout);
      expect(m?.[1], describeResult(push)).toBeDefined();
      pushedDigest = m?.[1] ?? '';
      expect(await adminManifestDigest(REPO, 'v1')).toBe(pushedDigest);
    },
    STEP_TIMEOUT,
  );

  test(
    'docker rmi, then docker pull restores the same image under the pushed digest',
    async () => {
      expect(pushedDigest).not.toBe('');
      await daemon().dockerOk(['rmi', ref('v1')]);
      const gone = await daemon().docker(['image', 'inspect', ref('v1')]);
      expect(gone.code, describeResult(gone)).not.toBe(0);
      const pull = await daemon().dockerOk(['pull', ref('v1')]);
      expect(pull.stdout).toContain(`Digest: ${pushedDigest}`);
      const [image] = JSON.parse(
        (await daemon().dockerOk(['image', 'inspect', ref('v1')])).stdout,
      ) as { Id: string; RepoDigests: string[] }[];
      expect(image?.Id).toBe(imageId);
      expect(image?.RepoDigests).toContain(`${host}/${REPO}@${pushedDigest}`);
    },
    STEP_TIMEOUT,
  );

  test(
    'pushing again shows "Layer already exists" for every layer',
    async () => {
      const push = await daemon().dockerOk(['push', ref('v1')]);
      const statuses = push.stdout
        .split('\n')
        .map((line) => /^[0-9a-f]{12}: (.+)$/.exec(line.trim())?.[1])
        .filter((s): s is string => s !== undefined && s !== 'Preparing' && s !== 'Waiting');
      expect(statuses.length, describeResult(push)).toBeGreaterThan(0);
      for (const status of statuses)
        expect(status, describeResult(push)).toBe('Layer already exists');
      expect(push.stdout).toContain(`digest: ${pushedDigest}`);
    },
    STEP_TIMEOUT,
  );

  test(
    'docker logout removes the credentials from config.json',
    async () => {
      const logout = await daemon().dockerOk(['logout', host]);
      expect(logout.output).toContain(`Removing login credentials for ${host}`);
      expect((await dockerConfig()).auths?.[host]).toBeUndefined();
    },
    STEP_TIMEOUT,
  );

  test(
    'after logout, a push is refused as unauthorized (authentication required)',
    async () => {
      expect((await dockerConfig()).auths?.[host]).toBeUndefined();
      await build('anon', ref('v1'));
      const push = await daemon().docker(['push', ref('anon')]);
      expectRefused(push, UNAUTHORIZED);
      // Final at once: dockerd retries a layer push 5 times (50 s) after an error it does not
      // recognise as final, and says so in its output.
      expect(push.output, describeResult(push)).not.toMatch(/Retrying in/);
      expect((await adminManifest(REPO, 'anon', 'HEAD')).status).toBe(404);
    },
    STEP_TIMEOUT,
  );

  test(
    'after logout, a pull of the private namespace is refused',
    async () => {
      expect((await dockerConfig()).auths?.[host]).toBeUndefined();
      await daemon().dockerOk(['rmi', ref('v1')]);
      const pull = await daemon().docker(['pull', ref('v1')]);
      // Docker words every refused pull (401 or 403) as "pull access denied … may require
      // 'docker login'", followed by the registry's error.
      expectRefused(pull, /unauthorized|authentication required|may require 'docker login'/i);
      const absent = await daemon().docker(['image', 'inspect', ref('v1')]);
      expect(absent.code, describeResult(absent)).not.toBe(0);
    },
    STEP_TIMEOUT,
  );

  test(
    'a viewer logs in and pulls, but its push is denied',
    async () => {
      const result = await login('uviewer');
      expect(result.code, describeResult(result)).toBe(0);
      const pull = await daemon().dockerOk(['pull', ref('v1')]);
      expect(pull.stdout).toContain(`Digest: ${pushedDigest}`);

      await build('viewer', ref('v1'));
      const push = await daemon().docker(['push', ref('viewer')]);
      expectRefused(push, DENIED);
      expect((await adminManifest(REPO, 'viewer', 'HEAD')).status).toBe(404);
      await daemon().dockerOk(['logout', host]);
    },
    STEP_TIMEOUT,
  );
});

// ── podman ──────────────────────────────────────────────────────────────────────────────────

describe('podman with Berth’s token realm', () => {
  const REPO = 'library/e2e-auth-podman';
  const reference = (tag: string): string => `${host}/${REPO}:${tag}`;
  let authFile = '';
  let imageId = '';
  let pushedDigest = '';

  function podman(args: readonly string[], input?: string): Promise<CommandResult> {
    return runCommand('podman', [...podmanGlobal, ...args], input === undefined ? {} : { input });
  }

  async function podmanOk(args: readonly string[], input?: string): Promise<CommandResult> {
    return runOk('podman', [...podmanGlobal, ...args], input === undefined ? {} : { input });
  }

  function login(user: UserName, file: string): Promise<CommandResult> {
    return podman(
      [
        'login',
        '--tls-verify=false',
        '--authfile',
        file,
        '--username',
        user,
        '--password-stdin',
        host,
      ],
      `${password(user)}\n`,
    );
  }

  beforeAll(async () => {
    authFile = path.join(work, 'podman-auth.json');
    const layout = path.join(work, 'podman-image');
    await initLayout(layout);
    const image = await buildImage(layout, {
      tag: 'v1',
      platform: { architecture: hostArchitecture(), os: 'linux' },
      layers: [['/podman.txt', `podman ${randomBytes(8).toString('hex')}\n`]],
    });
    imageId = image.parsed.config.digest;
    await podmanOk(['pull', `oci:${layout}:v1`]);
    await podmanOk(['tag', imageId, reference('v1')]);
  }, STEP_TIMEOUT);

  test(
    'podman login, push, rmi, pull (same digest), logout',
    async () => {
      const result = await login('upodman', authFile);
      expect(result.code, describeResult(result)).toBe(0);
      expect(result.output).toContain('Login Succeeded');
      const stored = JSON.parse(await readFile(authFile, 'utf8')) as {
        auths?: Record<string, unknown>;
      };
      expect(Object.keys(stored.auths ?? {})).toContain(host);

      const digestFile = path.join(work, 'podman.digest');
      await podmanOk([
        'push',
        '--tls-verify=false',
        '--authfile',
        authFile,
        '--digestfile',
        digestFile,
        reference('v1'),
      ]);
      pushedDigest = (await readFile(digestFile, 'utf8')).trim();
      expect(await adminManifestDigest(REPO, 'v1')).toBe(pushedDigest);

      await podmanOk(['rmi', '--force', imageId]);
      const gone = await podman(['image', 'exists', imageId]);
      expect(gone.code, describeResult(gone)).toBe(1);
      const pulled = await podmanOk([
        'pull',
        '--tls-verify=false',
        '--authfile',
        authFile,
        reference('v1'),
      ]);
      expect(`sha256:${pulled.stdout.trim().split('\n').at(-1) ?? ''}`).toBe(imageId);
      const [inspected] = JSON.parse(
        (await podmanOk(['image', 'inspect', reference('v1')])).stdout,
      ) as {
        Digest: string;
      }[];
      expect(inspected?.Digest).toBe(pushedDigest);

      const logout = await podmanOk(['logout', '--authfile', authFile, host]);
      expect(logout.output).toContain(`Removed login credentials for ${host}`);
      const after = JSON.parse(await readFile(authFile, 'utf8')) as {
        auths?: Record<string, unknown>;
      };
      expect(Object.keys(after.auths ?? {})).not.toContain(host);
    },
    STEP_TIMEOUT,
  );

  test(
    'after logout a podman push is refused as unauthorized',
    async () => {
      expect(pushedDigest).not.toBe('');
      await podmanOk(['tag', imageId, reference('anon')]);
      const push = await podman([
        'push',
        '--tls-verify=false',
        '--authfile',
        authFile,
        reference('anon'),
      ]);
      expectRefused(push, UNAUTHORIZED);
      expect((await adminManifest(REPO, 'anon', 'HEAD')).status).toBe(404);
    },
    STEP_TIMEOUT,
  );

  test(
    'a viewer can log in with podman but its push is denied',
    async () => {
      const viewerAuth = path.join(work, 'podman-viewer-auth.json');
      const result = await login('uviewer', viewerAuth);
      expect(result.code, describeResult(result)).toBe(0);
      await podmanOk(['tag', imageId, reference('viewer')]);
      const push = await podman([
        'push',
        '--tls-verify=false',
        '--authfile',
        viewerAuth,
        reference('viewer'),
      ]);
      expectRefused(push, DENIED);
      expect((await adminManifest(REPO, 'viewer', 'HEAD')).status).toBe(404);
    },
    STEP_TIMEOUT,
  );
});

// ── skopeo ──────────────────────────────────────────────────────────────────────────────────

describe('skopeo with credentials', () => {
  const REPO = 'library/e2e-auth-skopeo';
  const docker = (tag: string): string => `docker://${host}/${REPO}:${tag}`;
  let layout = '';
  let image: { digest: string; parsed: ImageManifest } | undefined;
  let accessToken = '';

  function skopeo(args: readonly string[]): Promise<CommandResult> {
    return runCommand('skopeo', args);
  }

  function skopeoOk(args: readonly string[]): Promise<CommandResult> {
    return runOk('skopeo', args);
  }

  const creds = (user: UserName): string => `${user}:${password(user)}`;

  function copyIn(tag: string, destCreds: string | undefined): Promise<CommandResult> {
    return skopeo([
      'copy',
      '--dest-tls-verify=false',
      ...(destCreds === undefined ? [] : ['--dest-creds', destCreds]),
      `oci:${layout}:v1`,
      docker(tag),
    ]);
  }

  beforeAll(async () => {
    layout = path.join(work, 'skopeo-image');
    await initLayout(layout);
    image = await buildImage(layout, {
      tag: 'v1',
      platform: { architecture: hostArchitecture(), os: 'linux' },
      layers: [
        ['/skopeo.txt', `skopeo ${randomBytes(8).toString('hex')}\n`],
        ['/data/random.bin', randomBytes(128 * 1024)],
      ],
    });
    const created = await berth([
      'token',
      'create',
      '--user',
      'uskopeo',
      '--name',
      'e2e-ci',
      '--expires-in-days',
      '1',
      '--json',
    ]);
    accessToken = (JSON.parse(created.stdout) as { secret: string }).secret;
  }, STEP_TIMEOUT);

  test(
    'copy into Berth with --dest-creds and back out with --src-creds keeps the digest',
    async () => {
      const copied = await copyIn('v1', creds('uskopeo'));
      expect(copied.code, describeResult(copied)).toBe(0);
      expect(await adminManifestDigest(REPO, 'v1')).toBe(image?.digest);

      const out = path.join(work, 'skopeo-out');
      await skopeoOk([
        'copy',
        '--src-tls-verify=false',
        '--src-creds',
        creds('uskopeo'),
        docker('v1'),
        `oci:${out}:pulled`,
      ]);
      const pulled = await readLayoutManifest<ImageManifest>(out, 'pulled');
      expect(pulled.digest).toBe(image?.digest);
      expect(pulled.parsed.layers.map((l) => l.digest)).toEqual(
        image?.parsed.layers.map((l) => l.digest),
      );
    },
    STEP_TIMEOUT,
  );

  test(
    'an access token works as the password for copy and list-tags',
    async () => {
      expect(accessToken).toMatch(/^berth_pat_/);
      const copied = await copyIn('v2', `uskopeo:${accessToken}`);
      expect(copied.code, describeResult(copied)).toBe(0);
      expect(await adminManifestDigest(REPO, 'v2')).toBe(image?.digest);

      for (const credentials of [`uskopeo:${accessToken}`, creds('uskopeo')]) {
        const listed = await skopeoOk([
          'list-tags',
          '--tls-verify=false',
          '--creds',
          credentials,
          `docker://${host}/${REPO}`,
        ]);
        const tags = JSON.parse(listed.stdout) as { Repository: string; Tags: string[] };
        expect(tags.Repository).toBe(`${host}/${REPO}`);
        expect([...tags.Tags].sort()).toEqual(['v1', 'v2']);
      }
    },
    STEP_TIMEOUT,
  );

  test(
    'a copy without credentials is refused as unauthorized (authentication required)',
    async () => {
      expectRefused(await copyIn('anon', undefined), UNAUTHORIZED);
      expect((await adminManifest(REPO, 'anon', 'HEAD')).status).toBe(404);
    },
    STEP_TIMEOUT,
  );

  test(
    'a copy with a wrong password is refused as unauthorized',
    async () => {
      expectRefused(await copyIn('wrong', 'uskopeo:not-the-password'), UNAUTHORIZED);
      expect((await adminManifest(REPO, 'wrong', 'HEAD')).status).toBe(404);
    },
    STEP_TIMEOUT,
  );

  test(
    "a viewer's copy into Berth is denied, while the viewer may list the tags",
    async () => {
      expectRefused(await copyIn('viewer', creds('uviewer')), DENIED);
      expect((await adminManifest(REPO, 'viewer', 'HEAD')).status).toBe(404);
      const listed = await skopeoOk([
        'list-tags',
        '--tls-verify=false',
        '--creds',
        creds('uviewer'),
        `docker://${host}/${REPO}`,
      ]);
      expect((JSON.parse(listed.stdout) as { Tags: string[] }).Tags).toContain('v1');
    },
    STEP_TIMEOUT,
  );
});
