/**
 * @module cli/commands/namespace
 * `berth namespace create|list|delete|set`: works on a data directory directly.
 */
import type { Command } from 'commander';
import { RegistryError } from '../../core/errors.js';
import { formatSize, parseSize } from '../../core/quota.js';
import { formatRetention, parseRetention } from '../../core/retention-policy.js';
import type { Registry } from '../../registry/index.js';
import { dataOptions, withDataDir, type DataFlags } from '../data.js';

/**
 * Runs `work` on the data directory's registry; each change it reports through `audited` goes to
 * the audit log as the API's do (`namespace.create|update|delete`), with this command line as actor.
 */
async function withRegistry<T>(
  flags: DataFlags,
  work: (
    registry: Registry,
    audited: (action: string, name: string, detail: Record<string, unknown>) => void,
  ) => Promise<T>,
): Promise<T> {
  return withDataDir(flags, ({ registry, audit, actor }) =>
    work(registry, (action, name, detail) =>
      audit.record({
        actor: actor.name,
        client: actor.client,
        action: `namespace.${action}`,
        target: name,
        outcome: 'success',
        detail,
      }),
    ),
  );
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
    await withRegistry(flags, async (r, audited) => {
      const row = await r.namespaces.create(name, { public: flags.public });
      audited('create', row.name, { public: row.public });
      process.stdout.write(`namespace ${row.name} created${row.public ? ' (public)' : ''}\n`);
    });
  });

  dataOptions(
    ns.command('list').description('list namespaces').option('--json', 'print JSON', false),
  ).action(async (flags: DataFlags & { json: boolean }) => {
    await withRegistry(flags, async (r) => {
      const used = await r.quota.usedBytesByNamespace();
      const rows = (await r.namespaces.list()).map((row) => ({
        ...row,
        usedBytes: used.get(row.name) ?? 0,
      }));
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
        return;
      }
      process.stdout.write(
        `${'NAME'.padEnd(32)} ${'KIND'.padEnd(8)} ${'ACCESS'.padEnd(8)} ${'REPOSITORIES'.padEnd(12)} ${'USED / QUOTA'.padEnd(22)} ${'INDEX CHILDREN'.padEnd(16)} ${'IMMUTABLE TAGS'.padEnd(16)} RETENTION\n`,
      );
      for (const row of rows) {
        // "(default)": the namespace inherits manifests.indexChildren from the configuration.
        const children = row.indexChildren ?? '(default)';
        const immutable = row.immutableTags.length > 0 ? row.immutableTags.join(' ') : '-';
        const quota = row.quotaBytes === null ? '-' : formatSize(row.quotaBytes);
        const usage = `${formatSize(row.usedBytes)} / ${quota}`;
        process.stdout.write(
          `${row.name.padEnd(32)} ${row.kind.padEnd(8)} ${(row.public ? 'public' : 'private').padEnd(8)} ${String(row.repositories).padEnd(12)} ${usage.padEnd(22)} ${children.padEnd(16)} ${immutable.padEnd(16)} ${formatRetention(row.retention)}\n`,
        );
      }
    });
  });

  dataOptions(
    ns
      .command('set <name>')
      .description('change a namespace')
      .option('--public', 'allow anonymous pulls')
      .option('--private', 'require credentials to pull')
      .option(
        '--immutable-tags <pattern>',
        "tags matching this glob (* and ?) cannot be moved or deleted; repeat for more; '' clears",
        (value: string, previous: string[] | undefined) => [...(previous ?? []), value],
      )
      .option('--no-immutable-tags', 'clear the immutable-tag patterns')
      .option(
        '--index-children <which>',
        'index children that must exist: all, none, PLATFORM,... (linux/amd64,linux/arm64), or default (inherit manifests.indexChildren)',
      )
      .option(
        '--quota <size>',
        'bytes its distinct blobs may take: 10GiB, 500MB, 1.5G (K M G T binary, KB MB GB TB decimal), or none',
      )
      .option(
        '--retention <rules>',
        'keep-last=N,keep-days=N,keep-tags=REGEX,untagged-days=N (tags kept if any keep rule matches), or off',
      ),
  ).action(
    async (
      name: string,
      flags: DataFlags & {
        public?: boolean;
        private?: boolean;
        immutableTags?: string[] | false;
        indexChildren?: string;
        quota?: string;
        retention?: string;
      },
    ) => {
      const access = flags.public === true ? true : flags.private === true ? false : undefined;
      if (flags.public === true && flags.private === true)
        throw new RegistryError('INVALID_REQUEST', 'give at most one of --public or --private');
      // `--immutable-tags ''` and `--no-immutable-tags` both clear: an empty pattern matches nothing.
      const immutableTags =
        flags.immutableTags === undefined
          ? undefined
          : flags.immutableTags === false
            ? []
            : flags.immutableTags.filter((p) => p !== '');
      const indexChildren =
        flags.indexChildren === undefined
          ? undefined
          : flags.indexChildren === 'default'
            ? null
            : flags.indexChildren;
      const quotaBytes =
        flags.quota === undefined
          ? undefined
          : flags.quota === 'none'
            ? null
            : parseSize(flags.quota);
      const retention = flags.retention === undefined ? undefined : parseRetention(flags.retention);
      if (
        access === undefined &&
        immutableTags === undefined &&
        indexChildren === undefined &&
        quotaBytes === undefined &&
        retention === undefined
      ) {
        throw new RegistryError(
          'INVALID_REQUEST',
          'give --public, --private, --immutable-tags, --index-children, --quota or --retention (see --help)',
        );
      }
      await withRegistry(flags, async (r, audited) => {
        // Validated before anything changes, so a bad pattern leaves the namespace as it was.
        await r.namespaces.setPolicy(name, {
          ...(immutableTags !== undefined && { immutableTags }),
          ...(indexChildren !== undefined && { indexChildren }),
          ...(quotaBytes !== undefined && { quotaBytes }),
          ...(retention !== undefined && { retention }),
        });
        if (access !== undefined) await r.namespaces.setPublic(name, access);
        const row = await r.namespaces.get(name);
        if (!row) return;
        audited('update', name, {
          ...(access !== undefined && { public: access }),
          ...(immutableTags !== undefined && { immutableTags }),
          ...(indexChildren !== undefined && { indexChildren }),
          ...(quotaBytes !== undefined && { quotaBytes }),
          ...(retention !== undefined && { retention }),
        });
        const changes: string[] = [];
        if (access !== undefined) changes.push(row.public ? 'public' : 'private');
        if (immutableTags !== undefined)
          changes.push(
            row.immutableTags.length > 0
              ? `immutable tags: ${row.immutableTags.join(' ')}`
              : 'no immutable tags',
          );
        if (indexChildren !== undefined)
          changes.push(`index children: ${row.indexChildren ?? '(default)'}`);
        if (quotaBytes !== undefined)
          changes.push(
            row.quotaBytes === null
              ? 'no quota'
              : `quota: ${formatSize(row.quotaBytes)} (${row.quotaBytes} bytes)`,
          );
        if (retention !== undefined) changes.push(`retention: ${formatRetention(row.retention)}`);
        process.stdout.write(`namespace ${name}: ${changes.join(', ')}\n`);
      });
    },
  );

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
    await withRegistry(flags, async (r, audited) => {
      await r.namespaces.delete(name, { force: flags.force });
      audited('delete', name, { force: flags.force });
      process.stdout.write(`namespace ${name} deleted\n`);
    });
  });
}
