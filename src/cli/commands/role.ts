/**
 * @module cli/commands/role
 * `berth role list|create|delete`: the built-in roles and custom ones made of privileges
 * (`PATTERN=ACTIONS`, e.g. `team-*=pull,push`).
 */
import type { Command } from 'commander';
import { RegistryError } from '../../core/errors.js';
import type { Privilege } from '../../meta/identity.js';
import { dataOptions, withDataDir, type DataFlags } from '../data.js';
import { collectPrivilege, formatPrivileges, printTable } from '../output.js';

export function registerRoleCommands(program: Command): void {
  const role = program.command('role').description('manage roles (sets of privileges)');

  dataOptions(
    role.command('list').description('list roles').option('--json', 'print JSON', false),
  ).action(async (flags: DataFlags & { json: boolean }) => {
    await withDataDir(flags, async ({ identity }) => {
      const roles = await identity.listRoles();
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(roles, null, 2)}\n`);
        return;
      }
      printTable(
        ['NAME', 'KIND', 'PRIVILEGES', 'DESCRIPTION'],
        roles.map((r) => [
          r.name,
          r.builtin ? 'built-in' : 'custom',
          formatPrivileges(r.privileges),
          r.description,
        ]),
      );
    });
  });

  dataOptions(
    role
      .command('create <name>')
      .description('create a custom role')
      .requiredOption(
        '--privilege <pattern=actions>',
        'namespace pattern (*, team, team-*) and actions pull,push,delete,admin (repeatable)',
        collectPrivilege,
      )
      .option('--description <text>', 'what the role is for')
      .option('--replace', 'replace the privileges of an existing custom role', false),
  ).action(
    async (
      name: string,
      flags: DataFlags & { privilege: Privilege[]; description?: string; replace: boolean },
    ) => {
      await withDataDir(flags, async ({ identity, actor }) => {
        const existing = (await identity.listRoles()).find((r) => r.name === name);
        // A built-in name falls through to the service, which says why it cannot change.
        if (existing && !existing.builtin && !flags.replace) {
          throw new RegistryError(
            'CONFLICT',
            `role "${name}" already exists (use --replace to change it)`,
          );
        }
        const saved = await identity.putRole(actor, {
          name,
          privileges: flags.privilege,
          ...(flags.description !== undefined ? { description: flags.description } : {}),
        });
        process.stdout.write(
          `role ${saved.name} ${existing ? 'replaced' : 'created'}: ${formatPrivileges(saved.privileges)}\n`,
        );
      });
    },
  );

  dataOptions(
    role.command('delete <name>').description('delete a custom role and its bindings'),
  ).action(async (name: string, flags: DataFlags) => {
    await withDataDir(flags, async ({ identity, actor }) => {
      await identity.deleteRole(actor, name);
      process.stdout.write(`role ${name} deleted\n`);
    });
  });
}
