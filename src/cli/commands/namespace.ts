/**
 * @module cli/commands/namespace
 * `berth namespace create|list|delete|set`: works on a data directory directly.
 */
import type { Command } from 'commander';
import { RegistryError } from '../../core/errors.js';
import type { Registry } from '../../registry/index.js';
import { dataOptions, withDataDir, type DataFlags } from '../data.js';

async function withRegistry<T>(
  flags: DataFlags,
  work: (registry: Registry) => Promise<T>,
): Promise<T> {
  return withDataDir(flags, ({ registry }) => work(registry));
}

export function registerNamespaceCommands(program: Command): void {
  const ns = program
    .command('namespace')
    .description('manage namespaces (the first segment of an image name)');
  dataOptions(
    ns
      .command('create <name>')
      .description('create a namespace so images can be pushed into it')
      .option('--public', 'allow anonymous pulls', false),
  ).action(async (name: string, flags: DataFlags & { public: boolean }) => {
    await withRegistry(flags, async (r) => {
      const row = await r.namespaces.create(name, { public: flags.public });
      process.stdout.write(`namespace ${row.name} created${row.public ? ' (public)' : ''}\n`);
    });
  });

  dataOptions(
    ns.command('list').description('list namespaces').option('--json', 'print JSON', false),
  ).action(async (flags: DataFlags & { json: boolean }) => {
    await withRegistry(flags, async (r) => {
      const rows = await r.namespaces.list();
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
        return;
      }
      process.stdout.write(
        `${'NAME'.padEnd(32)} ${'KIND'.padEnd(8)} ${'ACCESS'.padEnd(8)} REPOSITORIES\n`,
      );
      for (const row of rows) {
        process.stdout.write(
          `${row.name.padEnd(32)} ${row.kind.padEnd(8)} ${(row.public ? 'public' : 'private').padEnd(8)} ${row.repositories}\n`,
        );
      }
    });
  });

  dataOptions(
    ns
      .command('set <name>')
      .description('change a namespace')
      .option('--public', 'allow anonymous pulls')
      .option('--private', 'require credentials to pull'),
  ).action(async (name: string, flags: DataFlags & { public?: boolean; private?: boolean }) => {
    if (flags.public === flags.private)
      throw new RegistryError('INVALID_REQUEST', 'give exactly one of --public or --private');
    await withRegistry(flags, async (r) => {
      await r.namespaces.setPublic(name, flags.public === true);
      process.stdout.write(`namespace ${name} is now ${flags.public ? 'public' : 'private'}\n`);
    });
  });

  dataOptions(
    ns
      .command('delete <name>')
      .description('delete an empty namespace')
      .option(
        '--force',
        'also delete its repositories, tags and manifests (and the default namespace)',
        false,
      ),
  ).action(async (name: string, flags: DataFlags & { force: boolean }) => {
    await withRegistry(flags, async (r) => {
      await r.namespaces.delete(name, { force: flags.force });
      process.stdout.write(`namespace ${name} deleted\n`);
    });
  });
}
