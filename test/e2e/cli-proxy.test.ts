/**
 * `berth namespace` for proxy and group namespaces, run as the built CLI on a data directory:
 * create with the upstream password from stdin, list (table and JSON) with kind and upstream or
 * members, change with `set`; the password never shows in output, JSON or the audit log, and a
 * server on the directory uses it against a real htpasswd upstream (CNCF Distribution).
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDistribution, type Distribution } from '../helpers/distribution.js';
import { OCI_MANIFEST } from '../helpers/oci.js';
import {
  ADMIN_PASSWORD,
  CLI,
  makeTempDir,
  startServerProcess,
  type ServerProcess,
} from '../helpers/server.js';

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface ListedNamespace {
  name: string;
  kind: string;
  proxy: { url: string; username: string | null; ttl: string } | null;
  group: { members: string[]; pushTo: string | null } | null;
}

/** Generous for a loaded machine; only a command that wrongly keeps running reaches it. */
const DEADLINE_MS = 60_000;
const PASSWORD = 'mirror-secret-5d1e';
const ROTATED = 'mirror-secret-rotated-a07b';
const MIRROR = { name: 'mirror', password: PASSWORD };

/** Runs `berth ARGS --data DATA` to its end; stdin gets `input`. */
function berth(args: string[], input = ''): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args, '--data', data], {
      env: { ...process.env, BERTH_ADMIN_PASSWORD: ADMIN_PASSWORD },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const deadline = setTimeout(() => child.kill('SIGKILL'), DEADLINE_MS);
    child.on('error', reject);
    // 'close', not 'exit': both streams have been read to their end.
    child.on('close', (code) => {
      clearTimeout(deadline);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

async function ok(args: string[], input = ''): Promise<string> {
  const result = await berth(args, input);
  expect(result).toMatchObject({ code: 0, stderr: '' });
  for (const secret of [PASSWORD, ROTATED]) expect(result.stdout).not.toContain(secret);
  return result.stdout;
}

async function listed(): Promise<Map<string, ListedNamespace>> {
  const rows = JSON.parse(await ok(['namespace', 'list', '--json'])) as ListedNamespace[];
  return new Map(rows.map((r) => [r.name, r]));
}

let data: string;
let upstream: Distribution;
let server: ServerProcess | undefined;

beforeAll(async () => {
  data = path.join(await makeTempDir('berth-cli-proxy-'), 'data');
  upstream = await startDistribution({ label: 'berth-cli-proxy', auth: { users: [MIRROR] } });
  // The first command creates the directory (and says so on stderr).
  expect((await berth(['namespace', 'list'])).code).toBe(0);
  await ok(['namespace', 'create', 'dev']);
});
afterAll(async () => {
  if (server) await server.stop();
  await upstream.stop();
});

describe('berth namespace for proxies and groups', () => {
  it('creates a proxy with the password from stdin, and a group with a push member', async () => {
    expect(
      await ok(
        [
          'namespace',
          'create',
          'hub',
          '--proxy',
          upstream.url,
          '--proxy-username',
          'mirror',
          '--proxy-password-stdin',
          '--proxy-ttl',
          '2h',
        ],
        `${PASSWORD}\n`,
      ),
    ).toBe(`namespace hub created: proxy of ${upstream.url} (ttl 2h, as mirror)\n`);
    expect(await ok(['namespace', 'create', 'all', '--group', 'dev,hub', '--push-to', 'dev'])).toBe(
      'namespace all created: group of dev, hub (pushes go to dev)\n',
    );
  });

  it('lists kind and upstream or members, in the table and in JSON, without the password', async () => {
    const table = (await ok(['namespace', 'list'])).split('\n');
    expect(table[0]).toMatch(/^NAME\s+KIND\s+ACCESS\s.*\sUPSTREAM\/MEMBERS$/);
    expect(table.find((l) => l.startsWith('hub '))).toMatch(
      new RegExp(`^hub\\s+proxy\\s.*\\s${upstream.url}$`),
    );
    expect(table.find((l) => l.startsWith('all '))).toMatch(/^all\s+group\s.*\sdev \(push\),hub$/);
    expect(table.find((l) => l.startsWith('dev '))).toMatch(/^dev\s+hosted\s.*\s-$/);

    const json = await ok(['namespace', 'list', '--json']);
    const rows = new Map((JSON.parse(json) as ListedNamespace[]).map((r) => [r.name, r]));
    expect(rows.get('hub')).toMatchObject({
      kind: 'proxy',
      proxy: { url: upstream.url, username: 'mirror', ttl: '2h' },
      group: null,
    });
    expect(rows.get('all')).toMatchObject({
      kind: 'group',
      proxy: null,
      group: { members: ['dev', 'hub'], pushTo: 'dev' },
    });
    expect(rows.get('dev')).toMatchObject({ kind: 'hosted', proxy: null, group: null });
    expect(json).not.toContain('"federation"');
  });

  it('pulls through the proxy with the stored password, from a server on the directory', async () => {
    server = await startServerProcess({ dataDir: data });
    // Nothing is pushed upstream: a 404 there (not a 401) shows the credentials were taken.
    const res = await fetch(`${server.url}/v2/hub/team/missing/manifests/v1`, {
      headers: { accept: OCI_MANIFEST },
    });
    expect(res.status).toBe(404);
    await res.arrayBuffer();
    const asked = (await upstream.requests()).filter((e) =>
      e.path.startsWith('/v2/team/missing/manifests/v1'),
    );
    expect(asked.map((e) => e.status)).toContain(404);
    expect(server.output()).not.toContain(PASSWORD);
    await server.stop();
    server = undefined;
  });

  it('changes the TTL, the password, the credentials and the push member with set', async () => {
    expect(await ok(['namespace', 'set', 'hub', '--proxy-ttl', '30m'])).toBe(
      `namespace hub: proxy of ${upstream.url} (ttl 30m, as mirror)\n`,
    );
    expect((await listed()).get('hub')?.proxy?.ttl).toBe('30m');
    await ok(['namespace', 'set', 'hub', '--proxy-password-stdin'], `${ROTATED}\n`);
    expect(await ok(['namespace', 'set', 'hub', '--no-proxy-credentials'])).toBe(
      `namespace hub: proxy of ${upstream.url} (ttl 30m)\n`,
    );
    expect((await listed()).get('hub')?.proxy).toEqual({
      url: upstream.url,
      username: null,
      ttl: '30m',
    });
    expect(await ok(['namespace', 'set', 'all', '--no-push-to'])).toBe(
      'namespace all: group of dev, hub (no pushes)\n',
    );
    expect(await ok(['namespace', 'set', 'all', '--group', 'hub,dev', '--push-to', 'dev'])).toBe(
      'namespace all: group of hub, dev (pushes go to dev)\n',
    );

    const audit = await ok(['audit', '--json', '--limit', '100']);
    const events = JSON.parse(audit) as { action: string; target: string; detail?: unknown }[];
    const hub = events.filter((e) => e.target === 'hub').map((e) => [e.action, e.detail]);
    expect(hub).toContainEqual(['namespace.update', { proxy: { passwordChanged: true } }]);
    expect(hub).toContainEqual([
      'namespace.create',
      {
        public: false,
        kind: 'proxy',
        proxy: { url: upstream.url, username: 'mirror', ttl: '2h' },
      },
    ]);
  });

  it('refuses proxy options without --proxy, and a hosted namespace becoming a proxy', async () => {
    const refusals: [string[], string][] = [
      [['namespace', 'create', 'x', '--proxy-ttl', '1h'], 'berth: --proxy-ttl needs --proxy URL\n'],
      [['namespace', 'create', 'x', '--push-to', 'dev'], 'berth: --push-to needs --group A,B\n'],
      [
        ['namespace', 'create', 'x', '--proxy', 'https://example.com', '--proxy-password-stdin'],
        'berth: --proxy-password-stdin needs --proxy-username (the password is that user’s)\n',
      ],
      [
        ['namespace', 'create', 'x', '--proxy', 'ftp://example.com'],
        'berth: proxy URL must be http:// or https://, not ftp:\n',
      ],
      [
        ['namespace', 'create', 'x', '--group', 'dev,all'],
        'berth: group member "all" is a group itself; list its members instead\n',
      ],
    ];
    for (const [args, stderr] of refusals) {
      expect(await berth(args, 'unused\n')).toEqual({ code: 1, stdout: '', stderr });
    }
    const hosted = await berth(['namespace', 'set', 'dev', '--proxy', 'https://example.com']);
    expect(hosted).toMatchObject({ code: 1, stdout: '' });
    expect(hosted.stderr).toContain('namespace "dev" is hosted');
    expect((await listed()).get('x')).toBeUndefined();
    expect((await listed()).get('dev')?.kind).toBe('hosted');
  });
});
