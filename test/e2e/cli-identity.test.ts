/**
 * The identity commands of the operator contract (`berth user|role|token|audit`), run as the built
 * CLI on a data directory, and their effect on a server running on that directory with auth on.
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { pushImage } from '../helpers/oci.js';
import {
  ADMIN_PASSWORD,
  CLI,
  makeTempDir,
  startServerProcess,
  type ServerProcess,
} from '../helpers/server.js';

const run = promisify(execFile);

/**
 * Runs `berth ARGS`; `input` goes to stdin (for --password-stdin). BERTH_ADMIN_PASSWORD is set
 * unless `env` sets it to undefined, so a command that initialises a directory prints nothing.
 */
async function berth(
  args: string[],
  options: { input?: string; env?: Record<string, string | undefined> } = {},
): Promise<{ stdout: string; stderr: string }> {
  const merged: Record<string, string | undefined> = {
    ...process.env,
    BERTH_ADMIN_PASSWORD: ADMIN_PASSWORD,
    ...options.env,
  };
  const env = Object.fromEntries(Object.entries(merged).filter(([, v]) => v !== undefined));
  const pending = run(process.execPath, [CLI, ...args], { env });
  pending.child.stdin?.end(options.input ?? '');
  return pending;
}

/** The refusal of a command: its exit code and stderr. */
async function refusal(
  args: string[],
  options: { input?: string } = {},
): Promise<{ code: unknown; stderr: string; stdout: string }> {
  try {
    const { stdout } = await berth(args, options);
    throw new Error(`berth ${args.join(' ')} succeeded: ${stdout}`);
  } catch (e) {
    const err = e as { code?: unknown; stderr?: string; stdout?: string };
    return { code: err.code, stderr: err.stderr ?? '', stdout: err.stdout ?? '' };
  }
}

interface UserJson {
  name: string;
  disabled: boolean;
  roles: { role: string; namespace: string | null }[];
}
interface RoleJson {
  name: string;
  builtin: boolean;
  description: string;
  privileges: { pattern: string; actions: string[] }[];
}
interface TokenJson {
  id: string;
  user: string;
  name: string;
  expiresAt: string | null;
  revokedAt: string | null;
  privileges: { pattern: string; actions: string[] }[];
}
interface AuditJson {
  actor: string;
  action: string;
  target: string;
  outcome: string;
  client: string;
}

async function users(data: string): Promise<UserJson[]> {
  return JSON.parse((await berth(['user', 'list', '--json', '--data', data])).stdout) as UserJson[];
}

/** For each column of a table, whether every row's cell starts where its header does. */
function columnsAligned(table: string): boolean {
  const [header = '', ...rows] = table.trimEnd().split('\n');
  const starts = [...header.matchAll(/\S+(?: \S+)*/g)].map((m) => m.index);
  return rows.every((row) =>
    starts.every((start) => start === 0 || (row[start - 1] === ' ' && row[start] !== ' ')),
  );
}

const basic = (user: string, password: string): string =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

const CLI_ACTOR = `cli:${userInfo().username}`;

let server: ServerProcess | undefined;
afterEach(async () => {
  vi.unstubAllGlobals();
  if (server && server.child.exitCode === null) await server.stop();
  server = undefined;
});

/** Starts `berth serve` with auth on and no credential cache, so a change shows at once. */
async function startAuthServer(dataDir?: string): Promise<ServerProcess> {
  const dir = await makeTempDir();
  const config = path.join(dir, 'berth.yaml');
  await writeFile(config, 'auth:\n  credentialCacheSeconds: 0\n');
  return startServerProcess({
    auth: true,
    args: ['--config', config],
    ...(dataDir ? { dataDir } : {}),
  });
}

async function v2Status(url: string, authorization: string): Promise<number> {
  const res = await fetch(`${url}/v2/`, { headers: { authorization } });
  await res.arrayBuffer();
  return res.status;
}

describe('the first admin', () => {
  it('is created by the first command on a data directory, its generated password printed once on stderr', async () => {
    const data = await makeTempDir();
    const first = await berth(['user', 'list', '--json', '--data', data], {
      env: { BERTH_ADMIN_PASSWORD: undefined },
    });
    const password = /created user "admin" with password:\s+(\S+)/.exec(first.stderr)?.[1] ?? '';
    expect(password.length).toBeGreaterThanOrEqual(16);
    expect(first.stdout).not.toContain(password);
    expect(JSON.parse(first.stdout)).toEqual([
      expect.objectContaining({
        name: 'admin',
        disabled: false,
        roles: [{ role: 'admin', namespace: null }],
      }),
    ]);

    const again = await berth(['user', 'list', '--data', data], {
      env: { BERTH_ADMIN_PASSWORD: undefined },
    });
    expect(again.stderr).toBe('');
    expect(again.stdout).not.toContain(password);

    server = await startAuthServer(data);
    expect(await v2Status(server.url, basic('admin', password))).toBe(200);
    expect(await v2Status(server.url, basic('admin', ADMIN_PASSWORD))).toBe(401);
  });

  it('takes its password from BERTH_ADMIN_PASSWORD and then prints none', async () => {
    const data = await makeTempDir();
    const chosen = 'chosen-admin-password';
    const first = await berth(['role', 'list', '--data', data], {
      env: { BERTH_ADMIN_PASSWORD: chosen },
    });
    expect(first.stderr).toBe('');
    expect(first.stdout).not.toContain(chosen);
    server = await startAuthServer(data);
    expect(await v2Status(server.url, basic('admin', chosen))).toBe(200);
  });
});

describe('berth user', () => {
  it('adds users with several roles, binds, unbinds, disables, enables and deletes them', async () => {
    const data = await makeTempDir();
    const add = await berth(
      [
        'user',
        'add',
        'alice',
        '--role',
        'developer',
        '--role',
        'viewer',
        '--password-stdin',
        '--data',
        data,
      ],
      { input: 'alice-password\n' },
    );
    expect(add.stdout).toBe('user alice created (roles: developer, viewer)\n');
    await berth(
      [
        'user',
        'add',
        'bob',
        '--role',
        'viewer',
        '--namespace',
        'library',
        '--password-stdin',
        '--data',
        data,
      ],
      { input: 'bob-password' },
    );
    expect(await users(data)).toEqual([
      expect.objectContaining({ name: 'admin' }),
      expect.objectContaining({
        name: 'alice',
        disabled: false,
        roles: expect.arrayContaining([
          { role: 'developer', namespace: null },
          { role: 'viewer', namespace: null },
        ]) as unknown,
      }),
      expect.objectContaining({ name: 'bob', roles: [{ role: 'viewer', namespace: 'library' }] }),
    ]);

    // A binding names an existing namespace (a typo would grant nothing).
    await berth(['namespace', 'create', 'team', '--data', data]);
    expect(
      (
        await berth([
          'user',
          'bind',
          'bob',
          '--role',
          'maintainer',
          '--namespace',
          'team',
          '--data',
          data,
        ])
      ).stdout,
    ).toBe('bound maintainer on team to bob\n');
    await berth([
      'user',
      'unbind',
      'bob',
      '--role',
      'viewer',
      '--namespace',
      'library',
      '--data',
      data,
    ]);
    expect((await users(data)).find((u) => u.name === 'bob')?.roles).toEqual([
      { role: 'maintainer', namespace: 'team' },
    ]);

    expect((await berth(['user', 'disable', 'alice', '--data', data])).stdout).toBe(
      'user alice disabled\n',
    );
    const table = (await berth(['user', 'list', '--data', data])).stdout;
    expect(table.split('\n')[0]).toMatch(/^NAME +STATUS +CREATED +ROLES$/);
    expect(table).toMatch(/^alice +disabled +\S+ +developer, viewer$/m);
    expect(table).toMatch(/^bob +active +\S+ +maintainer on team$/m);
    expect(columnsAligned(table)).toBe(true);

    await berth(['user', 'enable', 'alice', '--data', data]);
    expect((await users(data)).find((u) => u.name === 'alice')?.disabled).toBe(false);

    expect((await berth(['user', 'delete', 'bob', '--data', data])).stdout).toBe(
      'user bob deleted\n',
    );
    expect((await users(data)).map((u) => u.name)).toEqual(['admin', 'alice']);

    // Nothing any of these printed holds a password or its hash.
    const listed = (await berth(['user', 'list', '--json', '--data', data])).stdout;
    expect(listed).not.toMatch(/argon2|alice-password|hash/i);
  });

  it('refuses an unknown role, a short password, a duplicate user and a missing terminal', async () => {
    const data = await makeTempDir();
    const add = (name: string, role: string, input?: string) =>
      refusal(
        [
          'user',
          'add',
          name,
          '--role',
          role,
          ...(input === undefined ? [] : ['--password-stdin']),
          '--data',
          data,
        ],
        input === undefined ? {} : { input },
      );

    const unknownRole = await add('carol', 'superuser', 'carol-password\n');
    expect(unknownRole).toMatchObject({ code: 1, stdout: '' });
    expect(unknownRole.stderr).toMatch(/^berth: unknown role "superuser": the roles are admin, /);

    const short = await add('carol', 'viewer', 'short\n');
    expect(short.code).toBe(1);
    expect(short.stderr).toContain('at least 8 characters');
    expect(short.stderr).not.toContain('short\n');

    const empty = await add('carol', 'viewer', '');
    expect(empty.code).toBe(1);

    const noTerminal = await add('carol', 'viewer');
    expect(noTerminal.code).toBe(1);
    expect(noTerminal.stderr).toContain('--password-stdin');

    expect((await users(data)).map((u) => u.name)).toEqual(['admin']);

    await berth(['user', 'add', 'carol', '--role', 'viewer', '--password-stdin', '--data', data], {
      input: 'carol-password\n',
    });
    const duplicate = await add('carol', 'viewer', 'other-password\n');
    expect(duplicate.code).toBe(1);
    expect(duplicate.stderr).toContain('user "carol" already exists');

    const missing = await refusal(['user', 'disable', 'nobody', '--data', data]);
    expect(missing).toMatchObject({ code: 1, stderr: 'berth: user "nobody" does not exist\n' });
    const noBinding = await refusal(['user', 'unbind', 'carol', '--role', 'admin', '--data', data]);
    expect(noBinding.code).toBe(1);
    expect(noBinding.stderr).toContain('no such role binding');
    const noRole = await refusal(['user', 'add', 'dave', '--password-stdin', '--data', data], {
      input: 'dave-password\n',
    });
    expect(noRole.stderr).toContain("required option '--role <role>' not specified");
  });
});

describe('berth role', () => {
  it('lists the built-in roles, creates, replaces and deletes custom ones', async () => {
    const data = await makeTempDir();
    const builtins = JSON.parse(
      (await berth(['role', 'list', '--json', '--data', data])).stdout,
    ) as RoleJson[];
    expect(builtins.map((r) => [r.name, r.builtin, r.privileges])).toEqual([
      ['admin', true, [{ pattern: '*', actions: ['pull', 'push', 'delete', 'admin'] }]],
      ['developer', true, [{ pattern: '*', actions: ['pull', 'push'] }]],
      ['maintainer', true, [{ pattern: '*', actions: ['pull', 'push', 'delete'] }]],
      ['viewer', true, [{ pattern: '*', actions: ['pull'] }]],
    ]);

    const created = await berth([
      'role',
      'create',
      'ci',
      '--privilege',
      'team-*=pull,push',
      '--privilege',
      'library=pull',
      '--description',
      'CI robots',
      '--data',
      data,
    ]);
    expect(created.stdout).toBe('role ci created: library=pull team-*=pull,push\n');
    const table = (await berth(['role', 'list', '--data', data])).stdout;
    expect(table).toMatch(/^ci +custom +library=pull team-\*=pull,push +CI robots$/m);
    expect(table).toMatch(/^viewer +built-in +\*=pull +\S/m);
    expect(columnsAligned(table)).toBe(true);

    const again = await refusal(['role', 'create', 'ci', '--privilege', 'x=pull', '--data', data]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('already exists');
    await berth([
      'role',
      'create',
      'ci',
      '--privilege',
      'apps=delete',
      '--replace',
      '--data',
      data,
    ]);
    const roles = JSON.parse(
      (await berth(['role', 'list', '--json', '--data', data])).stdout,
    ) as RoleJson[];
    expect(roles.find((r) => r.name === 'ci')?.privileges).toEqual([
      { pattern: 'apps', actions: ['delete'] },
    ]);

    const badAction = await refusal([
      'role',
      'create',
      'x',
      '--privilege',
      'team=fly',
      '--data',
      data,
    ]);
    expect(badAction.code).toBe(1);
    expect(badAction.stderr).toContain('actions are some of pull,push,delete,admin');
    const badPattern = await refusal([
      'role',
      'create',
      'x',
      '--privilege',
      'Team/*=pull',
      '--data',
      data,
    ]);
    expect(badPattern.code).toBe(1);
    expect(badPattern.stderr).toContain('privilege pattern "Team/*"');

    const builtin = await refusal(['role', 'delete', 'developer', '--data', data]);
    expect(builtin).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('built-in role') as unknown,
    });
    const changeBuiltin = await refusal([
      'role',
      'create',
      'viewer',
      '--privilege',
      '*=push',
      '--data',
      data,
    ]);
    expect(changeBuiltin.code).toBe(1);
    expect(changeBuiltin.stderr).toContain('built-in role');

    // Deleting a role takes its bindings with it.
    await berth(['user', 'add', 'robot', '--role', 'ci', '--password-stdin', '--data', data], {
      input: 'robot-password\n',
    });
    expect((await berth(['role', 'delete', 'ci', '--data', data])).stdout).toBe(
      'role ci deleted\n',
    );
    expect((await users(data)).find((u) => u.name === 'robot')?.roles).toEqual([]);
    const gone = await refusal(['role', 'delete', 'ci', '--data', data]);
    expect(gone.stderr).toContain('role "ci" does not exist');
  });
});

describe('berth token', () => {
  it('creates a token shown once, lists tokens without secrets and revokes them', async () => {
    const data = await makeTempDir();
    await berth(['user', 'add', 'ci', '--role', 'developer', '--password-stdin', '--data', data], {
      input: 'ci-password\n',
    });
    const human = (
      await berth([
        'token',
        'create',
        '--user',
        'ci',
        '--name',
        'deploy',
        '--expires-in-days',
        '30',
        '--data',
        data,
      ])
    ).stdout;
    const secret = /berth_pat_\S+/.exec(human)?.[0] ?? '';
    expect(secret).toMatch(/^berth_pat_[A-Za-z0-9]{12}_[A-Za-z0-9_-]{43}$/);
    expect(human).toContain('docker login -u ci --password-stdin');
    expect(human.split(secret)).toHaveLength(2);

    const created = JSON.parse(
      (
        await berth([
          'token',
          'create',
          '--user',
          'ci',
          '--name',
          'read-only',
          '--privilege',
          'library=pull',
          '--json',
          '--data',
          data,
        ])
      ).stdout,
    ) as TokenJson & { secret: string };
    expect(created).toMatchObject({
      user: 'ci',
      name: 'read-only',
      expiresAt: null,
      privileges: [{ pattern: 'library', actions: ['pull'] }],
    });
    expect(created.secret.startsWith(`berth_pat_${created.id}_`)).toBe(true);

    const listedText = (await berth(['token', 'list', '--user', 'ci', '--json', '--data', data]))
      .stdout;
    expect(listedText).not.toContain(secret);
    expect(listedText).not.toContain(created.secret);
    expect(listedText).not.toMatch(/hash/i);
    const listed = JSON.parse(listedText) as TokenJson[];
    expect(listed.map((t) => t.name).sort()).toEqual(['deploy', 'read-only']);
    const deploy = listed.find((t) => t.name === 'deploy');
    const days = (Date.parse(deploy?.expiresAt ?? '') - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(29.9);
    expect(days).toBeLessThanOrEqual(30);

    expect((await berth(['token', 'revoke', created.id, '--data', data])).stdout).toBe(
      `access token ${created.id} revoked\n`,
    );
    const table = (await berth(['token', 'list', '--data', data])).stdout;
    expect(table).toMatch(
      new RegExp(`^${created.id} +ci +read-only +revoked +never +- +library=pull$`, 'm'),
    );
    expect(table).toMatch(new RegExp(`^${deploy?.id ?? '?'} +ci +deploy +active `, 'm'));
    expect(columnsAligned(table)).toBe(true);

    const twice = await refusal(['token', 'revoke', created.id, '--data', data]);
    expect(twice).toMatchObject({ code: 1, stderr: 'berth: the token is already revoked\n' });
    const unknownUser = await refusal([
      'token',
      'create',
      '--user',
      'nobody',
      '--name',
      'x',
      '--data',
      data,
    ]);
    expect(unknownUser.stderr).toContain('user "nobody" does not exist');
    const badDays = await refusal([
      'token',
      'create',
      '--user',
      'ci',
      '--name',
      'x',
      '--expires-in-days',
      '0',
      '--data',
      data,
    ]);
    expect(badDays.code).toBe(1);
    expect(
      JSON.parse((await berth(['token', 'list', '--json', '--data', data])).stdout),
    ).toHaveLength(2);
  });
});

describe('berth audit', () => {
  it('shows the changes made from the command line, newest first, filtered by actor and action', async () => {
    const data = await makeTempDir();
    await berth(['user', 'add', 'erin', '--role', 'viewer', '--password-stdin', '--data', data], {
      input: 'erin-password\n',
    });
    const { stdout: tokenOut } = await berth([
      'token',
      'create',
      '--user',
      'erin',
      '--name',
      't',
      '--json',
      '--data',
      data,
    ]);
    const { secret } = JSON.parse(tokenOut) as { secret: string };
    await berth(['user', 'disable', 'erin', '--data', data]);

    const all = JSON.parse(
      (await berth(['audit', '--json', '--data', data])).stdout,
    ) as AuditJson[];
    expect(all.map((e) => [e.action, e.target])).toEqual([
      ['user.disable', 'erin'],
      ['token.create', expect.stringMatching(/^erin\//) as unknown],
      ['user.create', 'erin'],
    ]);
    expect(
      all.every((e) => e.actor === CLI_ACTOR && e.outcome === 'success' && e.client === 'local'),
    ).toBe(true);
    const raw = (await berth(['audit', '--json', '--data', data])).stdout;
    expect(raw).not.toContain('erin-password');
    expect(raw).not.toContain(secret);

    const creates = JSON.parse(
      (await berth(['audit', '--json', '--action', 'user.create', '--data', data])).stdout,
    ) as AuditJson[];
    expect(creates.map((e) => e.target)).toEqual(['erin']);
    const newest = JSON.parse(
      (await berth(['audit', '--json', '--limit', '1', '--data', data])).stdout,
    ) as AuditJson[];
    expect(newest.map((e) => e.action)).toEqual(['user.disable']);
    const nobody = JSON.parse(
      (await berth(['audit', '--json', '--actor', 'somebody-else', '--data', data])).stdout,
    ) as AuditJson[];
    expect(nobody).toEqual([]);

    const table = await berth(['audit', '--limit', '2', '--data', data]);
    expect(table.stdout.split('\n')[0]).toMatch(/^TIME +ACTOR +ACTION +OUTCOME +CLIENT +TARGET$/);
    expect(table.stdout).toMatch(/^\S+Z +\S+ +user\.disable +success +local +erin$/m);
    expect(table.stdout.trimEnd().split('\n')).toHaveLength(3);
    expect(table.stderr).toContain('use --limit for more');
    expect(columnsAligned(table.stdout)).toBe(true);
  });
});

describe('identity commands beside a running server', () => {
  it('a user added by the CLI can push; passwd, disable, enable and delete take effect at once', async () => {
    server = await startAuthServer();
    const { url, dataDir: data } = server;
    await berth(
      ['user', 'add', 'alice', '--role', 'developer', '--password-stdin', '--data', data],
      {
        input: 'alice-password\n',
      },
    );
    const alice = basic('alice', 'alice-password');
    expect(await v2Status(url, alice)).toBe(200);
    expect(await v2Status(url, basic('alice', 'alice-password\n'))).toBe(401);

    const realFetch = globalThis.fetch;
    vi.stubGlobal('fetch', (input: string | URL | Request, init: RequestInit = {}) => {
      const headers = new Headers(init.headers);
      headers.set('authorization', alice);
      return realFetch(input, { ...init, headers });
    });
    const image = await pushImage(url, 'library/app', 'v1');
    vi.unstubAllGlobals();
    const manifest = await fetch(`${url}/v2/library/app/manifests/v1`, {
      headers: { authorization: alice, accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    expect(manifest.status).toBe(200);
    expect(await manifest.text()).toBe(image.manifest);
    const anonymous = await fetch(`${url}/v2/library/app/manifests/v1`);
    expect(anonymous.status).toBe(401);

    // Only the first line of stdin is the password.
    await berth(['user', 'passwd', 'alice', '--password-stdin', '--data', data], {
      input: 'alice-new-password\nnot this\n',
    });
    expect(await v2Status(url, alice)).toBe(401);
    const renewed = basic('alice', 'alice-new-password');
    expect(await v2Status(url, renewed)).toBe(200);

    await berth(['user', 'disable', 'alice', '--data', data]);
    expect(await v2Status(url, renewed)).toBe(401);
    await berth(['user', 'enable', 'alice', '--data', data]);
    expect(await v2Status(url, renewed)).toBe(200);
    await berth(['user', 'delete', 'alice', '--data', data]);
    expect(await v2Status(url, renewed)).toBe(401);

    const audit = JSON.parse(
      (
        await berth([
          'audit',
          '--json',
          '--actor',
          'alice',
          '--action',
          'login',
          '--limit',
          '100',
          '--data',
          data,
        ])
      ).stdout,
    ) as AuditJson[];
    // The server writes its events in batches; by now the first logins are in.
    expect(audit.some((e) => e.outcome === 'success')).toBe(true);
  });

  it('an access token works as the Basic password within its privileges until it is revoked', async () => {
    server = await startAuthServer();
    const { url, dataDir: data } = server;
    await berth(['user', 'add', 'ci', '--role', 'developer', '--password-stdin', '--data', data], {
      input: 'ci-password\n',
    });
    const { stdout } = await berth([
      'token',
      'create',
      '--user',
      'ci',
      '--name',
      'pull-only',
      '--privilege',
      'library=pull',
      '--json',
      '--data',
      data,
    ]);
    const token = JSON.parse(stdout) as TokenJson & { secret: string };
    const auth = basic('ci', token.secret);
    expect(await v2Status(url, auth)).toBe(200);

    const push = await fetch(`${url}/v2/library/app/blobs/uploads/`, {
      method: 'POST',
      headers: { authorization: auth },
    });
    await push.arrayBuffer();
    expect(push.status).toBe(403);
    const tags = await fetch(`${url}/v2/library/app/tags/list`, {
      headers: { authorization: auth },
    });
    await tags.arrayBuffer();
    expect(tags.status).toBe(404);

    const used = JSON.parse((await berth(['token', 'list', '--json', '--data', data])).stdout) as {
      lastUsedAt: string | null;
    }[];
    expect(used[0]?.lastUsedAt).not.toBeNull();

    await berth(['token', 'revoke', token.id, '--data', data]);
    expect(await v2Status(url, auth)).toBe(401);
  });
});
