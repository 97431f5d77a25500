/**
 * @module cli/commands/audit
 * `berth audit`: the newest audit events first (logins, pushes, deletes, admin changes). A
 * running server writes its events in small batches, so the last second of them may not show yet.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { dataOptions, withDataDir, type DataFlags } from '../data.js';
import { printTable } from '../output.js';

const MAX_LIMIT = 10_000;

function limit(value: string): number {
  const n = Number(value);
  if (!/^[0-9]+$/.test(value) || n < 1 || n > MAX_LIMIT)
    throw new InvalidArgumentError(`expected a whole number from 1 to ${MAX_LIMIT}`);
  return n;
}

export function registerAuditCommand(program: Command): void {
  dataOptions(
    program
      .command('audit')
      .description('show the audit log, newest first')
      .option('--limit <n>', 'how many events', limit, 50)
      .option('--actor <name>', 'only events by this user (the CLI acts as cli:<login>)')
      .option('--action <action>', 'only this action, e.g. login, user.create, token.revoke')
      .option('--json', 'print JSON', false),
  ).action(
    async (
      flags: DataFlags & { limit: number; actor?: string; action?: string; json: boolean },
    ) => {
      await withDataDir(flags, async ({ identity }) => {
        const page = await identity.listAudit({
          limit: flags.limit,
          ...(flags.actor !== undefined ? { actor: flags.actor } : {}),
          ...(flags.action !== undefined ? { action: flags.action } : {}),
        });
        if (flags.json) {
          process.stdout.write(`${JSON.stringify(page.items, null, 2)}\n`);
          return;
        }
        printTable(
          ['TIME', 'ACTOR', 'ACTION', 'OUTCOME', 'CLIENT', 'TARGET'],
          page.items.map((e) => [
            e.at,
            e.actor || '-',
            e.action,
            e.outcome,
            e.client,
            e.target || '-',
          ]),
        );
        if (page.more) {
          process.stderr.write(
            `berth: showing the newest ${flags.limit} events; use --limit for more\n`,
          );
        }
      });
    },
  );
}
