/**
 * A throwaway Ceph cluster for the tests of Berth's S3 blob storage (ENGINES.md §1a, issue 17):
 * one monitor, one OSD on memstore (objects in the OSD's RAM), no mgr, and two RADOS gateways
 * (RGW) over the same cluster, so tests can send one upload through both, as replicas behind a
 * load balancer would. One cluster a test run (vitest globalSetup: `ceph-setup.ts`); each test
 * file works in buckets of its own (`s3.ts`). Everything lives in one temp directory, every
 * daemon is a child of this process, and each is stopped by its PID.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePorts } from './net.js';

const run = promisify(execFile);

export interface CephCluster {
  /** `http://127.0.0.1:PORT` of each gateway; all serve the same buckets. */
  endpoints: string[];
  accessKey: string;
  secretKey: string;
  /** Milliseconds from the start until every gateway answered. */
  readyMs: number;
  /** The summed resident memory of the daemons, in bytes. */
  rss(): number;
  stop(): Promise<void>;
}

interface Daemon {
  name: string;
  child: ChildProcess;
  exited: Promise<void>;
}

const GATEWAYS = 2;
/** A start that takes longer than this fails (several minutes on a loaded 2-core machine). */
const START_TIMEOUT_MS = 180_000;
/** A daemon gets this long to leave after SIGTERM, then it is killed. */
const STOP_GRACE_MS = 15_000;
/**
 * Objects live in the OSD's memory up to this many bytes (it is a cap, not an allocation). One
 * cluster serves the whole run (the s3, http-replicas and e2e projects: about 1 GiB pushed in
 * all, the S3 driver's tests alone over 600 MiB), and RGW frees deleted objects' data only after
 * its GC delay; a full OSD makes requests hang rather than fail, so the cap is well above that.
 */
const MEMSTORE_BYTES = 6 * 1024 ** 3;

async function isFree(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A range for `ms bind port min/max`, where the OSD binds its eight messenger ports (the mon and
 * the gateways get explicit ports). Below the ephemeral range, so the ports the OS hands out for
 * the mon and gateways here and elsewhere never fall in it; the OSD skips ports that are taken, so
 * a range that overlaps a concurrent run's only has to hold enough free ports.
 */
async function freeRange(size: number): Promise<[number, number]> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const min = 20_000 + Math.floor(Math.random() * (32_000 - 20_000 - size));
    let free = 0;
    for (let port = min; port < min + size; port++) if (await isFree(port)) free++;
    if (free >= size - 4) return [min, min + size - 1];
  }
  throw new Error('no free port range for the Ceph OSD');
}

const KEY_LETTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';

/** Letters and digits from the CSPRNG, as RGW keys are. */
function randomKey(length: number, alphabet: string): string {
  return [...randomBytes(length)].map((b) => alphabet[b % alphabet.length]).join('');
}

function cephConf(
  dir: string,
  fsid: string,
  ports: { mon: string; bind: [number, number] },
): string {
  return `[global]
fsid = ${fsid}
mon host = ${ports.mon}
mon initial members = a
public addr = 127.0.0.1
ms bind port min = ${ports.bind[0]}
ms bind port max = ${ports.bind[1]}
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
run dir = ${dir}/run
admin socket = ${dir}/run/$name.asok
log file = ${dir}/log/$name.log
keyring = ${dir}/keyring
# One OSD: pools of one copy, placed on one host.
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
mon allow pool delete = true
mon max pg per osd = 1000
# Commit maps fast (default: 1 s between proposals): RGW's first start creates a pool per map
# commit, and this cuts the cluster's start 3-4x.
paxos propose interval = 0.05
paxos min wait = 0.01
mon osd prime pg temp = false
# A nearly full CI disk must not stop the mon (it refuses to run under 5 % free by default).
mon data avail warn = 1
mon data avail crit = 0
mon warn on insecure global id reclaim allowed = false
# The cluster and audit logs and crash reports too (by default in /var/log/ceph, /var/lib/ceph).
mon cluster log file = ${dir}/log/$cluster.$channel.log
crash dir = ${dir}/crash
osd objectstore = memstore
[mon]
mon data = ${dir}/mon/$cluster-$id
[osd]
osd data = ${dir}/osd/$cluster-$id
memstore device bytes = ${MEMSTORE_BYTES}
[client]
rgw data = ${dir}/rgw/$name
rgw thread pool size = 64
# Deleted objects' data is freed by RGW's GC, by default two hours later: free it within a
# minute, so that long runs do not fill the OSD's memory.
rgw gc obj min wait = 60
rgw gc processor period = 60
# No lifecycle rules here; with two gateways the lifecycle threads contend for locks and sleep
# 5 s at a time, which holds up a gateway's SIGTERM shutdown by as much.
rgw enable lc threads = false
`;
}

/** The last lines of each daemon log: the part a failed start is explained by. */
async function logTails(dir: string): Promise<string> {
  const logs = path.join(dir, 'log');
  const names = (await readdir(logs).catch(() => [])).filter(
    (n) => /\.(log|stdout)$/.test(n) && !n.startsWith('client.admin'),
  );
  const parts: string[] = [];
  for (const name of names.sort()) {
    const lines = (await readFile(path.join(logs, name), 'utf8').catch(() => '')).trimEnd();
    if (lines === '') continue;
    parts.push(`--- ${name}\n${lines.split('\n').slice(-8).join('\n')}`);
  }
  return parts.join('\n');
}

function rssOf(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

const DIR_PREFIX = 'berth-ceph-';

/**
 * Removes the directories of earlier runs that were killed (kill -9 takes their daemons along,
 * see spawnDaemon, but not their directory): those whose owner process is gone.
 */
async function removeOrphanDirs(): Promise<void> {
  for (const name of await readdir(tmpdir())) {
    if (!name.startsWith(DIR_PREFIX)) continue;
    const dir = path.join(tmpdir(), name);
    const owner = Number(await readFile(path.join(dir, 'owner'), 'utf8').catch(() => ''));
    if (!Number.isInteger(owner) || owner <= 0) continue; // a run still starting
    try {
      process.kill(owner, 0); // alive (or another user's: EPERM), so left alone
    } catch (e) {
      // A dead run's directory; one of another user's may refuse removal, and stays.
      if ((e as NodeJS.ErrnoException).code === 'ESRCH')
        await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    }
  }
}

/** Starts tried before a port taken by someone else in the meantime fails the run. */
const PORT_CLASH_ATTEMPTS = 3;

/**
 * Ports are picked free and bound by the daemons a moment later: another process on the machine
 * (a parallel test run, CI beside a developer) may take one in between. A daemon that then exits
 * with EADDRINUSE (98) is a lost race, not a broken cluster: start again on other ports.
 */
export async function startCephCluster(): Promise<CephCluster> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startCephClusterOnce();
    } catch (e) {
      const clash = e instanceof Error && /exited \(98\)|Address already in use/.test(e.message);
      if (!clash || attempt >= PORT_CLASH_ATTEMPTS) throw e;
    }
  }
}

async function startCephClusterOnce(): Promise<CephCluster> {
  const started = performance.now();
  const deadline = Date.now() + START_TIMEOUT_MS;
  await removeOrphanDirs();
  const dir = await mkdtemp(path.join(tmpdir(), DIR_PREFIX));
  const conf = path.join(dir, 'ceph.conf');
  const daemons: Daemon[] = [];
  // If this process ends without stop() (a crash of the setup, process.exit), its daemons and
  // directory go with it; a kill -9 of this process is covered by each daemon's parent-death
  // signal (spawnDaemon).
  const onExit = (): void => {
    for (const { child } of daemons)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', onExit);

  const stop = async (): Promise<void> => {
    // Gateways first, then the OSD, then the mon (reverse start order): each stops while what it
    // talks to is still up. The gateways stop together.
    for (const kind of ['rgw', 'osd', 'mon']) {
      const stage = daemons.filter((d) => d.name.startsWith(kind)).reverse();
      await Promise.all(stage.map(stopDaemon));
    }
    process.off('exit', onExit);
    await rm(dir, { recursive: true, force: true });
  };

  /** Polls `check` until it holds; fails when a daemon exits or the start's deadline passes. */
  const waitFor = async (what: string, check: () => Promise<boolean>): Promise<void> => {
    for (;;) {
      const dead = daemons.find((d) => d.child.exitCode !== null || d.child.signalCode !== null);
      if (dead) {
        const how = dead.child.exitCode ?? dead.child.signalCode;
        throw new Error(`${dead.name} exited (${String(how)}) while waiting for ${what}`);
      }
      if (await check().catch(() => false)) return;
      if (Date.now() > deadline)
        throw new Error(`timed out after ${START_TIMEOUT_MS / 1000} s waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };

  const spawnDaemon = async (name: string, cmd: string, args: string[]): Promise<void> => {
    const out = openSync(path.join(dir, 'log', `${name}.stdout`), 'a');
    // setpriv --pdeathsig: the kernel kills the daemon if this process dies without running its
    // exit handlers (kill -9, OOM). The daemons stay in vitest's process group, so a Ctrl-C
    // reaches them too.
    const child = spawn('setpriv', ['--pdeathsig', 'SIGKILL', '--', cmd, '-c', conf, ...args], {
      stdio: ['ignore', out, out],
    });
    closeSync(out);
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.once('error', () => undefined); // reported as an exit by waitFor
    daemons.push({ name, child, exited });
    await writeFile(path.join(dir, 'pids'), `${name} ${String(child.pid)}\n`, { flag: 'a' });
  };

  const ceph = async (...args: string[]): Promise<string> => {
    const { stdout } = await run('ceph', ['-c', conf, '--connect-timeout', '10', ...args], {
      timeout: 30_000,
    });
    return stdout;
  };

  try {
    await writeFile(path.join(dir, 'owner'), String(process.pid));
    for (const sub of ['mon', 'osd', 'run', 'log', 'rgw']) await mkdir(path.join(dir, sub));
    const [monV2, monV1, ...gatewayPorts] = await freePorts(2 + GATEWAYS);
    const mon = `[v2:127.0.0.1:${String(monV2)},v1:127.0.0.1:${String(monV1)}]`;
    const fsid = randomUUID();
    await writeFile(conf, cephConf(dir, fsid, { mon, bind: await freeRange(40) }));

    const keyring = path.join(dir, 'keyring');
    const keys: [string, Record<string, string>][] = [
      ['mon.', { mon: 'allow *' }],
      ['client.admin', { mon: 'allow *', osd: 'allow *', mgr: 'allow *' }],
      ['osd.0', { mon: 'allow profile osd', mgr: 'allow profile osd', osd: 'allow *' }],
      ...gatewayPorts.map((_, i): [string, Record<string, string>] => [
        `client.rgw.${String(i)}`,
        { mon: 'allow rw', osd: 'allow rwx' },
      ]),
    ];
    for (const [i, [name, caps]] of keys.entries()) {
      const capArgs = Object.entries(caps).flatMap(([service, cap]) => ['--cap', service, cap]);
      const create = i === 0 ? ['--create-keyring'] : [];
      await run('ceph-authtool', [...create, keyring, '--gen-key', '-n', name, ...capArgs]);
    }
    const monmap = path.join(dir, 'monmap');
    await run('monmaptool', ['--create', '--fsid', fsid, '--addv', 'a', mon, monmap]);
    const mkfs = ['--mkfs', '-i', 'a', '--monmap', monmap, '--keyring', keyring];
    await run('ceph-mon', ['-c', conf, ...mkfs]);
    await spawnDaemon('mon.a', 'ceph-mon', ['-i', 'a', '-f']);
    await waitFor('the monitor', async () => (await ceph('health')).startsWith('HEALTH'));

    const osdUuid = randomUUID();
    const osdId = (await ceph('osd', 'new', osdUuid)).trim();
    // memstore's mkfs asserts unless the data directory exists (ENGINES.md §1a).
    await mkdir(path.join(dir, 'osd', `ceph-${osdId}`));
    await run('ceph-osd', ['-c', conf, '-i', osdId, '--mkfs', '--osd-uuid', osdUuid]);
    await spawnDaemon(`osd.${osdId}`, 'ceph-osd', ['-i', osdId, '-f']);
    await waitFor('the OSD to be up', async () => {
      const stat = JSON.parse(await ceph('osd', 'stat', '-f', 'json')) as { num_up_osds?: number };
      return stat.num_up_osds === 1;
    });

    const accessKey = randomKey(20, `${KEY_LETTERS}0123456789`);
    const secretKey = randomKey(40, `${KEY_LETTERS}${KEY_LETTERS.toLowerCase()}0123456789`);
    const user = await run(
      'radosgw-admin',
      [
        ...['-c', conf, 'user', 'create', '--uid=berth-test', '--display-name=berth-test'],
        `--access-key=${accessKey}`,
        `--secret-key=${secretKey}`,
      ],
      { timeout: Math.max(deadline - Date.now(), 1) },
    );
    await writeFile(path.join(dir, 'log', 'user.json'), user.stdout);

    const endpoints: string[] = [];
    for (const [i, port] of gatewayPorts.entries()) {
      await mkdir(path.join(dir, 'rgw', `client.rgw.${i}`));
      await spawnDaemon(`rgw.${i}`, 'radosgw', [
        ...['-n', `client.rgw.${i}`, '--rgw-frontends', `beast endpoint=127.0.0.1:${port}`, '-f'],
      ]);
      endpoints.push(`http://127.0.0.1:${port}`);
    }
    for (const endpoint of endpoints) {
      await waitFor(`the gateway ${endpoint}`, async () => {
        const response = await fetch(endpoint, { signal: AbortSignal.timeout(5_000) });
        await response.body?.cancel();
        return true;
      });
    }
    return {
      endpoints,
      accessKey,
      secretKey,
      readyMs: Math.round(performance.now() - started),
      rss: () => daemons.reduce((sum, d) => sum + rssOf(d.child.pid), 0),
      stop,
    };
  } catch (e) {
    // The daemons' last log lines explain most failed starts; the directory goes, unless kept.
    const keep = process.env['BERTH_TEST_KEEP_CEPH'] === '1';
    const tails = await logTails(dir);
    const error = new Error(
      `the Ceph test cluster did not start: ${e instanceof Error ? e.message : String(e)}\n` +
        `logs in ${path.join(dir, 'log')} ` +
        (keep ? '(kept: BERTH_TEST_KEEP_CEPH=1)' : '(removed; BERTH_TEST_KEEP_CEPH=1 keeps them)') +
        (tails === '' ? '' : `\n${tails}`),
      { cause: e },
    );
    if (keep) {
      for (const daemon of [...daemons].reverse()) await stopDaemon(daemon);
      process.off('exit', onExit);
    } else {
      await stop();
    }
    throw error;
  }
}

/** SIGTERM by PID, wait for the exit, SIGKILL when it takes longer than the grace period. */
async function stopDaemon({ child, exited }: Daemon): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const graceOver = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), STOP_GRACE_MS);
  });
  if ((await Promise.race([exited, graceOver])) === 'late') {
    child.kill('SIGKILL');
    await exited;
  }
  clearTimeout(timer);
}
