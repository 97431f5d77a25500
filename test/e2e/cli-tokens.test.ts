/**
 * `berth token` keeps to its user: the built CLI refuses a token with a privilege the user does
 * not hold (naming it) or for a disabled user, and lists what each token can really do.
 */
import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, CLI, makeTempDir } from '../helpers/server.js';

const run = promisify(execFile);

let data: string;
beforeAll(async () => {
  data = await makeTempDir();
});
afterAll(async () => rm(data, { recursive: true, force: true }));

async function berth(args: string[], input = ''): Promise<{ stdout: string; stderr: string }> {
  const pending = run(process.execPath, [CLI, ...args, '--data', data], {
    env: { ...process.env, BERTH_ADMIN_PASSWORD: ADMIN_PASSWORD },
  });
  pending.child.stdin?.end(input);
  return pending;
}

async function refusal(args: string[]): Promise<{ code: number; stderr: string }> {
  try {
    const { stdout } = await berth(args);
    throw new Error(`berth ${args.join(' ')} succeeded: ${stdout}`);
  } catch (e) {
    const err = e as { code?: unknown; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : -1, stderr: err.stderr ?? '' };
  }
}

interface TokenJson {
  id: string;
  name: string;
  privileges: { pattern: string; actions: string[] }[];
}

async function listed(): Promise<TokenJson[]> {
  const { stdout } = await berth(['token', 'list', '--user', 'viewer1', '--json']);
  return JSON.parse(stdout) as TokenJson[];
}

describe('berth token create and list', () => {
  it('refuse what the user lacks or a disabled user, and list what a token can do', async () => {
    await berth(['user', 'add', 'viewer1', '--role', 'viewer', '--password-stdin'], 'pw-viewer1\n');

    const push = await refusal([
      'token',
      'create',
      '--user',
      'viewer1',
      '--name',
      'push',
      '--privilege',
      'library=push',
    ]);
    expect(push.code).toBeGreaterThan(0);
    expect(push.stderr).toMatch(/^berth: user "viewer1" does not hold library=push\b.*\n$/);
    expect(await listed()).toEqual([]);

    const created = JSON.parse(
      (await berth(['token', 'create', '--user', 'viewer1', '--name', 'all', '--json'])).stdout,
    ) as TokenJson;
    // Made without --privilege: what a viewer may do, not `*=pull,push,delete,admin`.
    expect(created.privileges).toEqual([{ pattern: '*', actions: ['pull'] }]);
    expect((await listed()).map((t) => t.privileges)).toEqual([
      [{ pattern: '*', actions: ['pull'] }],
    ]);
    const table = (await berth(['token', 'list'])).stdout;
    expect(table).toMatch(
      new RegExp(`^${created.id} +viewer1 +all +active +never +- +\\*=pull$`, 'm'),
    );

    await berth(['user', 'disable', 'viewer1']);
    const disabled = await refusal(['token', 'create', '--user', 'viewer1', '--name', 'later']);
    expect(disabled.code).toBeGreaterThan(0);
    expect(disabled.stderr).toContain('user "viewer1" is disabled');
    // A disabled user's token can do nothing, and the listing says so.
    expect((await listed()).map((t) => [t.name, t.privileges])).toEqual([['all', []]]);
  });
});
