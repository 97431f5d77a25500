/**
 * The seed's scenario (DESIGN.md §1) with the real docker CLI over VERIFIED TLS. Docker skips
 * certificate checks for registries on 127.0.0.0/8, so Berth listens on [::1] under the name
 * registry6.test (a line in /etc/hosts, removed afterwards) with a certificate for that name and
 * ::1, and the CA goes where docker looks for it: /etc/docker/certs.d/registry6.test:PORT/ca.crt.
 * Without that folder docker refuses the registry with an x509 error — the proof that it verifies.
 *
 * The scenario runs twice: as the README tells an operator (`berth cert`, then `berth serve`),
 * and on "the seed's box" — `--tls-cert/--tls-key`, `node --max-old-space-size=256`, pinned to
 * one core with `taskset -c 0` — while the server's resident set is sampled from /proc; the peak
 * is printed and written to bench/results/seed-box.json.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import {
  copyFile,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  rmdir,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ADMIN_PASSWORD, CLI, ROOT } from '../helpers/server.js';
import {
  describeResult,
  runWithTimeout,
  startDockerd,
  type CommandResult,
  type Dockerd,
} from './dockerd.js';
import { writeRandomFile } from './images.js';
import {
  httpsGet,
  memoryOf,
  sampleRss,
  startTlsServer,
  type RssSampler,
  type TlsServer,
} from './tls-server.js';

const HOST_NAME = 'registry6.test';
const HOSTS_LINE = `::1 ${HOST_NAME}`;
const HOSTS_FILE = '/etc/hosts';
const DOCKER_CERTS = '/etc/docker/certs.d';
const REPO = 'library/example-devops';
const USER = { name: 'udocker', password: `docker-${randomBytes(6).toString('hex')}` };
const STEP_TIMEOUT = 600_000;
/** The big layer: random, so gzip cannot shrink what goes over the wire. */
const LAYER_BYTES = 32 * 1024 * 1024 + 4321;
const ADMIN_AUTHORIZATION = `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`;

let work = '';
let dockerd: Dockerd | undefined;
let addedHostsLine = false;
let createdDockerCerts = false;
/** certs.d folders this file made, removed in afterAll whatever happens. */
const certFolders = new Set<string>();
const servers: TlsServer[] = [];
/** The image built once: `local/example-devops:v1`, its ID and its layers' diff IDs. */
const LOCAL = 'local/example-devops:v1';
let imageId = '';
let diffIds: string[] = [];

function daemon(): Dockerd {
  if (!dockerd) throw new Error('dockerd not started');
  return dockerd;
}

async function run(
  command: string,
  args: readonly string[],
  input?: string,
): Promise<CommandResult> {
  return runWithTimeout(command, args, process.env, 120_000, input);
}

async function runOk(
  command: string,
  args: readonly string[],
  input?: string,
): Promise<CommandResult> {
  const result = await run(command, args, input);
  if (result.code !== 0 || result.timedOut) throw new Error(describeResult(result));
  return result;
}

/** Final per-layer statuses of a docker push: `Pushed`, `Layer already exists`, … */
function layerStatuses(push: CommandResult): string[] {
  return push.stdout
    .split('\n')
    .map((line) => /^[0-9a-f]{12}: (.+)$/.exec(line.trim())?.[1])
    .filter((s): s is string => s !== undefined && s !== 'Preparing' && s !== 'Waiting');
}

function pushedDigest(push: CommandResult): string {
  const m = /digest: (sha256:[0-9a-f]{64}) size: \d+/.exec(push.stdout);
  if (!m?.[1]) throw new Error(`no digest in the push output:\n${describeResult(push)}`);
  return m[1];
}

async function addHostsLine(): Promise<void> {
  const hosts = await readFile(HOSTS_FILE, 'utf8');
  if (hosts.split('\n').some((line) => line.trim() === HOSTS_LINE)) return;
  // Appended in place (never a rename): /etc/hosts may be a bind mount.
  await writeFile(
    HOSTS_FILE,
    `${hosts}${hosts.endsWith('\n') || hosts === '' ? '' : '\n'}${HOSTS_LINE}\n`,
    {
      flag: 'r+',
    },
  );
  addedHostsLine = true;
}

async function removeHostsLine(): Promise<void> {
  if (!addedHostsLine) return;
  const lines = (await readFile(HOSTS_FILE, 'utf8')).split('\n');
  const index = lines.findIndex((line) => line.trim() === HOSTS_LINE);
  if (index < 0) return;
  lines.splice(index, 1);
  const text = lines.join('\n');
  // In place again: truncate and write the same file.
  await writeFile(HOSTS_FILE, text, { flag: 'w' });
  addedHostsLine = false;
}

async function installCa(folder: string, caFile: string): Promise<void> {
  if (!existsSync(DOCKER_CERTS)) {
    await mkdir(DOCKER_CERTS, { recursive: true });
    createdDockerCerts = true;
  }
  certFolders.add(folder);
  await mkdir(folder, { recursive: true });
  await copyFile(caFile, path.join(folder, 'ca.crt'));
}

interface ScenarioResult {
  seconds: number;
  readyRssMB: number;
  /** VmHWM when ready: the start's own peak (argon2 hashing the first admin password). */
  readyKernelPeakRssMB: number;
  peakRssMB: number;
  kernelPeakRssMB: number;
  samples: number;
}

/**
 * The seed's scenario against a fresh server: refused without the CA, then login, push, rmi,
 * pull (digest compared), push again, logout, unauthenticated push refused, and refused again
 * once the CA folder is gone.
 */
async function dockerScenario(options: {
  label: string;
  /** true: `berth cert` into <data>/tls and plain `berth serve`; false: --tls-cert/--tls-key. */
  dataDirCertificate: boolean;
  nodeArgs?: string[];
  cpus?: string;
}): Promise<ScenarioResult> {
  const dir = path.join(work, options.label);
  const dataDir = path.join(dir, 'data');
  const certOut = options.dataDirCertificate ? path.join(dataDir, 'tls') : path.join(dir, 'certs');
  await runOk(process.execPath, [
    CLI,
    'cert',
    '--host',
    HOST_NAME,
    '--ip',
    '::1',
    ...(options.dataDirCertificate ? ['--data', dataDir] : ['--out', certOut]),
  ]);
  const caFile = path.join(certOut, 'ca.crt');
  const ca = await readFile(caFile, 'utf8');
  const started = performance.now();
  const server = await startTlsServer({
    dataDir,
    listen: ['[::1]:0'],
    args: options.dataDirCertificate
      ? []
      : [
          '--tls-cert',
          path.join(certOut, 'server.crt'),
          '--tls-key',
          path.join(certOut, 'server.key'),
        ],
    ...(options.nodeArgs ? { nodeArgs: options.nodeArgs } : {}),
    ...(options.cpus ? { cpus: options.cpus } : {}),
  });
  servers.push(server);
  const sampler = sampleRss(server.pid);
  const ready = memoryOf(server.pid);
  let memory: ReturnType<RssSampler['stop']> | undefined;
  try {
    // The PID sampled is the server itself, with the limits this run asked for.
    const cmdline = (await readFile(`/proc/${server.pid}/cmdline`, 'utf8')).split('\0');
    expect(cmdline).toContain(CLI);
    for (const arg of options.nodeArgs ?? []) expect(cmdline).toContain(arg);
    if (options.cpus) {
      const status = await readFile(`/proc/${server.pid}/status`, 'utf8');
      expect(/^Cpus_allowed_list:\s*(\S+)$/m.exec(status)?.[1]).toBe(options.cpus);
    }
    expect(server.url).toMatch(/^https:\/\/\[::1\]:\d+$/);
    if (options.dataDirCertificate) {
      // Printed after the ready line: wait for it to arrive whole.
      await server.waitFor(`using the certificate berth cert wrote in ${certOut}`);
    }
    const host = `${HOST_NAME}:${server.port}`;
    const folder = path.join(DOCKER_CERTS, host);
    // What the server printed is what this test does.
    await server.waitFor(`sudo mkdir -p ${folder} && sudo cp ca.crt ${folder}/ca.crt`);
    const ref = (tag: string): string => `${host}/${REPO}:${tag}`;
    const login = (): Promise<CommandResult> =>
      daemon().docker(['login', host, '--username', USER.name, '--password-stdin'], {
        input: `${USER.password}\n`,
      });
    const configFile = path.join(daemon().env['DOCKER_CONFIG'] ?? '', 'config.json');
    const storedAuths = async (): Promise<string[]> =>
      Object.keys(
        (JSON.parse(await readFile(configFile, 'utf8')) as { auths?: Record<string, unknown> })
          .auths ?? {},
      );
    const manifestStatus = async (tag: string): Promise<number> =>
      (
        await httpsGet(`${server.url}/v2/${REPO}/manifests/${tag}`, {
          ca,
          servername: HOST_NAME,
          headers: { authorization: ADMIN_AUTHORIZATION },
        })
      ).status;

    await runOk(
      process.execPath,
      [CLI, 'user', 'add', USER.name, '--role', 'developer', '--password-stdin', '--data', dataDir],
      `${USER.password}\n`,
    );

    // Docker verifies: without the CA in certs.d the registry is refused.
    const untrusted = await login();
    expect(untrusted.code, describeResult(untrusted)).not.toBe(0);
    expect(untrusted.output).toMatch(/x509|certificate signed by unknown authority/);
    expect(await storedAuths()).not.toContain(host);

    await installCa(folder, caFile);
    const loggedIn = await login();
    expect(loggedIn.code, describeResult(loggedIn)).toBe(0);
    expect(loggedIn.output).toContain('Login Succeeded');

    await daemon().dockerOk(['tag', LOCAL, ref('v1')]);
    const push = await daemon().dockerOk(['push', ref('v1')]);
    expect(layerStatuses(push).sort(), describeResult(push)).toEqual(diffIds.map(() => 'Pushed'));
    const digest = pushedDigest(push);
    expect(await manifestStatus('v1')).toBe(200);

    await daemon().dockerOk(['rmi', ref('v1')]);
    await daemon().dockerOk(['rmi', LOCAL]);
    const gone = await daemon().docker(['image', 'inspect', ref('v1')]);
    expect(gone.code, describeResult(gone)).not.toBe(0);
    const pull = await daemon().dockerOk(['pull', ref('v1')]);
    expect(pull.stdout).toContain(`Digest: ${digest}`);
    const [pulled] = JSON.parse(
      (await daemon().dockerOk(['image', 'inspect', ref('v1')])).stdout,
    ) as {
      Id: string;
      RepoDigests: string[];
      RootFS: { Layers: string[] };
    }[];
    expect(pulled?.Id).toBe(imageId);
    expect(pulled?.RootFS.Layers).toEqual(diffIds);
    expect(pulled?.RepoDigests).toContain(`${host}/${REPO}@${digest}`);
    await daemon().dockerOk(['tag', ref('v1'), LOCAL]);

    const again = await daemon().dockerOk(['push', ref('v1')]);
    const statuses = layerStatuses(again);
    expect(statuses.length, describeResult(again)).toBe(diffIds.length);
    for (const status of statuses)
      expect(status, describeResult(again)).toBe('Layer already exists');
    expect(pushedDigest(again)).toBe(digest);

    const logout = await daemon().dockerOk(['logout', host]);
    expect(logout.output).toContain(`Removing login credentials for ${host}`);
    expect(await storedAuths()).not.toContain(host);

    await daemon().dockerOk(['tag', LOCAL, ref('anon')]);
    const anon = await daemon().docker(['push', ref('anon')]);
    expect(anon.code, describeResult(anon)).not.toBe(0);
    expect(anon.output).toMatch(/unauthorized|authentication required/i);
    expect(await manifestStatus('anon')).toBe(404);

    // And once the CA folder is gone, docker refuses the certificate again.
    await rm(folder, { recursive: true, force: true });
    certFolders.delete(folder);
    const removed = await login();
    expect(removed.code, describeResult(removed)).not.toBe(0);
    expect(removed.output).toMatch(/x509|certificate signed by unknown authority/);
    expect(await storedAuths()).not.toContain(host);
  } finally {
    memory = sampler.stop();
    await server.stop();
  }
  return {
    seconds: Math.round((performance.now() - started) / 100) / 10,
    readyRssMB: ready.rssMB,
    readyKernelPeakRssMB: ready.hwmMB,
    peakRssMB: memory.peakMB,
    kernelPeakRssMB: memory.hwmMB,
    samples: memory.samples,
  };
}

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
  work = await mkdtemp(path.join(tmpdir(), 'berth-e2e-tls-docker-'));
  await addHostsLine();
  const resolved = await runOk('getent', ['ahostsv6', HOST_NAME]);
  expect(resolved.stdout.split(/\s+/)[0]).toBe('::1');
  dockerd = await startDockerd();

  const context = path.join(work, 'context');
  await mkdir(context);
  await writeFile(path.join(context, 'motd'), `hello over TLS ${randomBytes(8).toString('hex')}\n`);
  await writeRandomFile(path.join(context, 'payload.bin'), LAYER_BYTES);
  await writeFile(
    path.join(context, 'Dockerfile'),
    ['FROM scratch', 'COPY motd /etc/motd', 'COPY payload.bin /data/payload.bin', ''].join('\n'),
  );
  await daemon().dockerOk(['build', '--tag', LOCAL, context], { timeoutMs: 120_000 });
  const [image] = JSON.parse((await daemon().dockerOk(['image', 'inspect', LOCAL])).stdout) as {
    Id: string;
    RootFS: { Layers: string[] };
  }[];
  imageId = image?.Id ?? '';
  diffIds = image?.RootFS.Layers ?? [];
  expect(diffIds).toHaveLength(2);
}, STEP_TIMEOUT);

afterAll(async () => {
  try {
    for (const server of servers) await server.stop();
    await dockerd?.stop();
  } finally {
    for (const folder of certFolders) await rm(folder, { recursive: true, force: true });
    if (createdDockerCerts && (await readdir(DOCKER_CERTS)).length === 0) await rmdir(DOCKER_CERTS);
    await removeHostsLine();
    if (work) await rm(work, { recursive: true, force: true });
  }
}, STEP_TIMEOUT);

describe(`docker CLI over verified TLS (${HOST_NAME} → ::1)`, () => {
  test(
    'berth cert, berth serve, then login, push, rmi, pull, push again, logout, refused push',
    async () => {
      const result = await dockerScenario({ label: 'operator', dataDirCertificate: true });
      console.log(`docker scenario: server peak RSS ${result.peakRssMB} MB (${result.seconds} s)`);
      expect(result.samples).toBeGreaterThan(0);
    },
    STEP_TIMEOUT,
  );

  test(
    "the seed's box: the same scenario with --max-old-space-size=256 on one core (taskset -c 0)",
    async () => {
      const result = await dockerScenario({
        label: 'seed-box',
        dataDirCertificate: false,
        nodeArgs: ['--max-old-space-size=256'],
        cpus: '0',
      });
      const report = {
        scenario:
          'docker login, push, rmi, pull, push again, logout, refused push over verified TLS ' +
          `(${HOST_NAME} on [::1]); image: 2 layers, ${Math.round(LAYER_BYTES / 1024 / 1024)} MiB of random data`,
        node: process.version,
        nodeArgs: ['--max-old-space-size=256'],
        taskset: '-c 0',
        at: new Date().toISOString(),
        ...result,
      };
      console.log(
        `seed's box: server peak RSS ${result.peakRssMB} MB sampled, ${result.kernelPeakRssMB} MB ` +
          `VmHWM, ${result.readyRssMB} MB when ready (${result.seconds} s)`,
      );
      await mkdir(path.join(ROOT, 'bench', 'results'), { recursive: true });
      await writeFile(
        path.join(ROOT, 'bench', 'results', 'seed-box.json'),
        `${JSON.stringify(report, null, 2)}\n`,
      );
      expect(result.samples).toBeGreaterThan(10);
      // The whole point of the seed's box: far below the heap cap, let alone 2 GB of RAM.
      expect(result.kernelPeakRssMB).toBeLessThan(256);
    },
    STEP_TIMEOUT,
  );
});
