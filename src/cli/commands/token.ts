/**
 * @module cli/commands/token
 * `berth token create|list|revoke`: access tokens for CI and robots, used as the password in
 * `docker login` and Basic auth, with the owner's user name. The secret is printed once at
 * creation; only its hash is kept.
 */
import { InvalidArgumentError, type Command } from 'commander';
import type { AccessTokenView } from '../../auth/identity.js';
import type { Privilege } from '../../meta/identity.js';
import { dataOptions, withDataDir, type DataFlags } from '../data.js';
import { collectPrivilege, formatPrivileges, printTable } from '../output.js';

function positiveInteger(value: string): number {
  if (!/^[1-9][0-9]*$/.test(value)) throw new InvalidArgumentError('expected a whole number ≥ 1');
  return Number(value);
}

function tokenStatus(token: AccessTokenView, now: number): string {
  if (token.revokedAt !== null) return 'revoked';
  if (token.expiresAt !== null && Date.parse(token.expiresAt) <= now) return 'expired';
  return 'active';
}

export function registerTokenCommands(program: Command): void {
  const token = program
    .command('token')
    .description('manage access tokens (passwords for CI and robots)');

  dataOptions(
    token
      .command('create')
      .description("create an access token for a user (at most the user's own privileges)")
      .requiredOption('--user <name>', 'the user the token acts as')
      .requiredOption('--name <name>', 'what the token is for, e.g. ci-deploy')
      .option(
        '--privilege <pattern=actions>',
        'narrow the token to these privileges, which the user must hold (repeatable; default: all of the user’s)',
        collectPrivilege,
      )
      .option('--expires-in-days <n>', 'expiry (default: never)', positiveInteger)
      .option('--json', 'print JSON, with the secret', false),
  ).action(
    async (
      flags: DataFlags & {
        user: string;
        name: string;
        privilege?: Privilege[];
        expiresInDays?: number;
        json: boolean;
      },
    ) => {
      await withDataDir(flags, async ({ identity, actor, config }) => {
        const { token: created, secret } = await identity.createToken(actor, {
          user: flags.user,
          name: flags.name,
          expiresInDays: flags.expiresInDays ?? null,
          ...(flags.privilege ? { privileges: flags.privilege } : {}),
        });
        if (flags.json) {
          process.stdout.write(`${JSON.stringify({ ...created, secret }, null, 2)}\n`);
          return;
        }
        const host = config.externalUrl ? new URL(config.externalUrl).host : '<registry>';
        process.stdout.write(
          `access token ${created.id} ("${created.name}") created for ${created.user}, ` +
            `${created.expiresAt ? `expires ${created.expiresAt}` : 'never expires'}:\n\n` +
            `    ${secret}\n\n` +
            'It is not shown again. Use it as the password, e.g.:\n\n' +
            `    echo "$BERTH_TOKEN" | docker login -u ${created.user} --password-stdin ${host}\n`,
        );
      });
    },
  );

  dataOptions(
    token
      .command('list')
      .description(
        'list access tokens and what each can do now: its privileges narrowed by its user’s (never their secrets)',
      )
      .option('--user <name>', "only this user's tokens")
      .option('--json', 'print JSON', false),
  ).action(async (flags: DataFlags & { user?: string; json: boolean }) => {
    await withDataDir(flags, async ({ identity }) => {
      const tokens = await identity.listTokens(flags.user);
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(tokens, null, 2)}\n`);
        return;
      }
      const now = Date.now();
      printTable(
        ['ID', 'USER', 'NAME', 'STATUS', 'EXPIRES', 'LAST USED', 'PRIVILEGES'],
        tokens.map((t) => [
          t.id,
          t.user,
          t.name,
          tokenStatus(t, now),
          t.expiresAt ?? 'never',
          t.lastUsedAt ?? '-',
          formatPrivileges(t.privileges),
        ]),
      );
    });
  });

  dataOptions(token.command('revoke <id>').description('revoke an access token at once')).action(
    async (id: string, flags: DataFlags) => {
      await withDataDir(flags, async ({ identity, actor }) => {
        await identity.revokeToken(actor, id);
        process.stdout.write(`access token ${id} revoked\n`);
      });
    },
  );
}
