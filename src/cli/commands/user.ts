/**
 * @module cli/commands/user
 * `berth user add|passwd|list|disable|enable|delete|bind|unbind`: works on a data directory
 * directly, so an operator can create the first real users before (or while) a server runs.
 *
 * Passwords never come from the command line (where `ps` and shell history would keep them):
 * `--password-stdin` reads one line from stdin (scripts, tests); otherwise they are typed at a
 * terminal with echo off.
 */
import type { Command } from 'commander';
import type { UserView } from '../../auth/identity.js';
import { RegistryError } from '../../core/errors.js';
import { dataOptions, withDataDir, type DataContext, type DataFlags } from '../data.js';
import { collect, formatBinding, printTable } from '../output.js';
import { promptHidden, readFirstLine } from '../secret.js';

interface PasswordFlags {
  passwordStdin: boolean;
}

/** The password for a new user or a password change; `confirm` asks twice at a terminal. */
async function readPassword(flags: PasswordFlags, confirm: boolean): Promise<string> {
  if (flags.passwordStdin) return readFirstLine(process.stdin);
  if (!process.stdin.isTTY) {
    throw new RegistryError(
      'INVALID_REQUEST',
      'no terminal to read the password from: pipe it in with --password-stdin',
    );
  }
  const password = await promptHidden('Password: ');
  if (confirm && (await promptHidden('Repeat password: ')) !== password)
    throw new RegistryError('INVALID_REQUEST', 'the passwords do not match');
  return password;
}

/**
 * Refuses a binding to a role or namespace that does not exist (a typo would otherwise grant
 * nothing, silently), naming what exists instead.
 */
async function checkBinding(
  ctx: DataContext,
  roles: readonly string[],
  namespace: string | undefined,
): Promise<void> {
  const known = (await ctx.identity.listRoles()).map((r) => r.name);
  const unknown = roles.find((r) => !known.includes(r));
  if (unknown !== undefined) {
    throw new RegistryError(
      'INVALID_REQUEST',
      `unknown role "${unknown}": the roles are ${known.join(', ')} (berth role create adds one)`,
    );
  }
  if (namespace !== undefined && !(await ctx.registry.namespaces.get(namespace))) {
    throw new RegistryError(
      'NAME_UNKNOWN',
      `unknown namespace "${namespace}": create it first with: berth namespace create ${namespace}`,
    );
  }
}

function describeUser(user: UserView): string {
  return user.roles.length > 0 ? ` (roles: ${user.roles.map(formatBinding).join(', ')})` : '';
}

export function registerUserCommands(program: Command): void {
  const user = program.command('user').description('manage users and their role bindings');

  dataOptions(
    user
      .command('add <name>')
      .description('create a user; the password is read from a terminal or --password-stdin')
      .requiredOption('--role <role>', 'role to bind (repeatable)', collect)
      .option('--namespace <ns>', 'bind the roles in this namespace only (default: everywhere)')
      .option('--password-stdin', 'read the password from the first line of stdin', false),
  ).action(
    async (
      name: string,
      flags: DataFlags & PasswordFlags & { role: string[]; namespace?: string },
    ) => {
      // Read before the data directory opens: nothing is held open while someone types.
      const password = await readPassword(flags, true);
      await withDataDir(flags, async (ctx) => {
        await checkBinding(ctx, flags.role, flags.namespace);
        const { identity, actor } = ctx;
        const created = await identity.addUser(actor, {
          name,
          password,
          roles: flags.role.map((role) => ({ role, namespace: flags.namespace ?? null })),
        });
        process.stdout.write(`user ${created.name} created${describeUser(created)}\n`);
      });
    },
  );

  dataOptions(
    user
      .command('passwd <name>')
      .description("change a user's password (ends the user's sessions)")
      .option('--password-stdin', 'read the password from the first line of stdin', false),
  ).action(async (name: string, flags: DataFlags & PasswordFlags) => {
    const password = await readPassword(flags, true);
    await withDataDir(flags, async ({ identity, actor }) => {
      await identity.setPassword(actor, name, password);
      process.stdout.write(`password of ${name} changed\n`);
    });
  });

  dataOptions(
    user.command('list').description('list users').option('--json', 'print JSON', false),
  ).action(async (flags: DataFlags & { json: boolean }) => {
    await withDataDir(flags, async ({ identity }) => {
      const users = await identity.listUsers();
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(users, null, 2)}\n`);
        return;
      }
      printTable(
        ['NAME', 'STATUS', 'CREATED', 'ROLES'],
        users.map((u) => [
          u.name,
          u.disabled ? 'disabled' : 'active',
          u.createdAt,
          u.roles.map(formatBinding).join(', '),
        ]),
      );
    });
  });

  for (const [verb, disabled, help] of [
    ['disable', true, 'refuse all logins and access tokens of a user'],
    ['enable', false, 'let a disabled user sign in again'],
  ] as const) {
    dataOptions(user.command(`${verb} <name>`).description(help)).action(
      async (name: string, flags: DataFlags) => {
        await withDataDir(flags, async ({ identity, actor }) => {
          await identity.setDisabled(actor, name, disabled);
          process.stdout.write(`user ${name} ${verb}d\n`);
        });
      },
    );
  }

  dataOptions(
    user.command('delete <name>').description('delete a user, its role bindings and its tokens'),
  ).action(async (name: string, flags: DataFlags) => {
    await withDataDir(flags, async ({ identity, actor }) => {
      await identity.deleteUser(actor, name);
      process.stdout.write(`user ${name} deleted\n`);
    });
  });

  for (const [verb, help] of [
    ['bind', 'give a user a role, everywhere or in one namespace'],
    ['unbind', 'take a role binding away from a user'],
  ] as const) {
    dataOptions(
      user
        .command(`${verb} <name>`)
        .description(help)
        .requiredOption('--role <role>', 'the role')
        .option('--namespace <ns>', 'the namespace of the binding (default: everywhere)'),
    ).action(async (name: string, flags: DataFlags & { role: string; namespace?: string }) => {
      await withDataDir(flags, async (ctx) => {
        const { identity, actor } = ctx;
        const binding = { user: name, role: flags.role, namespace: flags.namespace ?? null };
        if (verb === 'bind') {
          await checkBinding(ctx, [flags.role], flags.namespace);
          await identity.bind(actor, binding);
        } else {
          // No check: a binding to a role or namespace that has gone since must stay removable.
          await identity.unbind(actor, binding);
        }
        process.stdout.write(
          `${verb === 'bind' ? 'bound' : 'unbound'} ${formatBinding(binding)} ${verb === 'bind' ? 'to' : 'from'} ${name}\n`,
        );
      });
    });
  }
}
