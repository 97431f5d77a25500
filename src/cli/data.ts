/**
 * @module cli/data
 * Opening a data directory for a CLI command: the same configuration `serve` uses (`--data`,
 * `--config`, BERTH_*), the registry services over it, and the first admin password printed once
 * (to stderr, so JSON output stays clean) when this command is what initialised the directory.
 */
import { userInfo } from 'node:os';
import type { Command } from 'commander';
import type { Actor, IdentityService } from '../auth/identity.js';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import type { DataDir } from '../data-dir.js';
import type { Registry } from '../registry/index.js';

export interface DataFlags {
  data?: string;
  config?: string;
}

export interface DataContext {
  config: Config;
  dataDir: DataDir;
  registry: Registry;
  identity: IdentityService;
  /** The audit actor of changes made from this command line. */
  actor: Actor;
}

/** Adds `--data` and `--config` to a command. */
export function dataOptions(command: Command): Command {
  return command
    .option('--data <dir>', 'data directory (env BERTH_DATA, default ./data)')
    .option('--config <file>', 'YAML configuration file (env BERTH_CONFIG)');
}

export async function withDataDir<T>(
  flags: DataFlags,
  work: (ctx: DataContext) => Promise<T>,
): Promise<T> {
  // Loaded on use: `berth --help` and argument errors need none of the storage modules.
  const [{ openDataDir, registryFor }, { createAuditLog }, { createIdentityService }] =
    await Promise.all([
      import('../data-dir.js'),
      import('../auth/audit.js'),
      import('../auth/identity.js'),
    ]);
  const config = loadConfig({ file: flags.config, flags: flags.data ? { data: flags.data } : {} });
  const dataDir = await openDataDir(config.data, {
    defaultNamespace: config.registry.defaultNamespace,
    adminPassword: process.env['BERTH_ADMIN_PASSWORD'],
  });
  if (dataDir.generatedAdminPassword !== undefined) {
    process.stderr.write(
      `berth: initialised ${dataDir.path}; created user "admin" with password:\n\n    ${dataDir.generatedAdminPassword}\n\n` +
        '       (not shown again; change it with: berth user passwd admin)\n',
    );
  }
  try {
    const registry = registryFor(config, dataDir);
    const audit = createAuditLog(dataDir.meta, (err) => {
      process.stderr.write(`berth: audit write failed: ${String(err)}\n`);
    });
    const identity = createIdentityService({ meta: dataDir.meta, audit });
    try {
      return await work({
        config,
        dataDir,
        registry,
        identity,
        actor: { name: `cli:${userInfo().username}`, client: 'local' },
      });
    } finally {
      await audit.flush();
    }
  } finally {
    await dataDir.meta.close();
  }
}
