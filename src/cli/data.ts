/**
 * @module cli/data
 * Opening a data directory for a CLI command: the same configuration `serve` uses (`--data`,
 * `--config`, BERTH_*), the registry services over it, and the first admin password printed once
 * (to stderr, so JSON output stays clean) when this command is what initialised the directory.
 */
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { userInfo } from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import type { AuditLog } from '../auth/audit.js';
import type { Actor, IdentityService } from '../auth/identity.js';
import { ConfigError } from '../config/errors.js';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import type { DataDir } from '../data-dir.js';
import type { Registry } from '../registry/index.js';

export interface DataFlags {
  data?: string;
  meta?: string;
  storage?: string;
  config?: string;
}

export interface DataContext {
  config: Config;
  dataDir: DataDir;
  registry: Registry;
  identity: IdentityService;
  audit: AuditLog;
  /** The audit actor of changes made from this command line. */
  actor: Actor;
}

/** Adds `--data` and `--config` to a command. */
export function dataOptions(command: Command): Command {
  return command
    .option('--data <dir>', 'data directory (env BERTH_DATA, default ./data)')
    .option('--meta <url>', 'metadata database: sqlite:<file> or postgres://… (env BERTH_META_URL)')
    .option(
      '--storage <url>',
      'blob storage: file:<dir> or s3://bucket[/prefix]?endpoint=…&region=… (env BERTH_STORAGE_URL)',
    )
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
  const config = loadConfig({
    file: flags.config,
    flags: {
      ...(flags.data ? { data: flags.data } : {}),
      ...(flags.meta ? { meta: flags.meta } : {}),
      ...(flags.storage ? { storage: flags.storage } : {}),
    },
  });
  await checkDataPath(config.data);
  const dataDir = await openDataDir(config.data, {
    defaultNamespace: config.registry.defaultNamespace,
    adminPassword: process.env['BERTH_ADMIN_PASSWORD'],
    meta: config.meta,
    storage: config.storage,
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
        audit,
        actor: { name: `cli:${userInfo().username}`, client: 'local' },
      });
    } finally {
      await audit.flush();
    }
  } finally {
    await dataDir.meta.close();
  }
}

/**
 * For commands that only make sense on an existing registry (`fsck`, `gc`): refuses a data
 * directory without `layout.json` instead of initialising a new one.
 */
export async function requireRegistry(flags: DataFlags): Promise<void> {
  const config = loadConfig({
    file: flags.config,
    flags: {
      ...(flags.data ? { data: flags.data } : {}),
      ...(flags.storage ? { storage: flags.storage } : {}),
    },
  });
  const where = config.storage ?? `file:${config.data}`;
  if (where.startsWith('file:')) {
    // Looked up, not opened: opening a directory would make it.
    const dir = path.resolve(where.slice('file:'.length));
    await access(path.join(dir, 'layout.json')).catch(() => {
      throw new ConfigError(
        `no registry at ${dir} (it has no layout.json); check --data, --storage or BERTH_DATA`,
      );
    });
    return;
  }
  const [{ openStorage }, { readLayout }] = await Promise.all([
    import('../storage/open.js'),
    import('../data-dir.js'),
  ]);
  if ((await readLayout(await openStorage(where))) === null) {
    throw new ConfigError(
      `no registry in ${where} (it has no layout.json); check --storage or BERTH_STORAGE_URL`,
    );
  }
}

/**
 * Checks the data directory before anything opens it, so a wrong path is reported as what it is
 * (not as the first file inside that could not be read), and says loudly on stderr when a new
 * registry is about to be made: a mistyped `--data` would otherwise quietly start an empty
 * registry with a new admin password.
 */
export async function checkDataPath(dir: string): Promise<void> {
  const root = path.resolve(dir);
  const user = userInfo().username;
  const refuse = (why: string, fix: string): ConfigError =>
    new ConfigError(
      `cannot use ${root} as the data directory: ${why}; ${fix} or choose another --data`,
    );
  const found = await nearestExisting(root).catch((e: unknown) => {
    const code = (e as NodeJS.ErrnoException).code ?? String(e);
    throw code === 'EACCES'
      ? refuse(`user ${user} may not enter a directory on its path`, 'give them access')
      : refuse(`it cannot be examined (${code})`, 'check the path');
  });
  if (!found.isDirectory) throw refuse(`${found.path} is a file, not a directory`, 'move it');
  try {
    await access(found.path, constants.R_OK | constants.W_OK | constants.X_OK);
  } catch {
    throw refuse(
      `${found.path} is not writable by user ${user}`,
      found.path === root
        ? `make it theirs (chown -R ${user} ${root})`
        : `create it for them (install -d -o ${user} ${root})`,
    );
  }
  // Only a path that does not exist: an existing directory was made or chosen for this on purpose
  // (mkdir, a volume, `berth cert` writing <data>/tls first).
  if (found.path !== root) {
    process.stderr.write(
      `berth: creating a new data directory at ${root} (no existing registry found)\n`,
    );
  }
}

/** The path itself or its closest ancestor that exists. */
async function nearestExisting(p: string): Promise<{ path: string; isDirectory: boolean }> {
  for (let current = p; ; current = path.dirname(current)) {
    try {
      return { path: current, isDirectory: (await stat(current)).isDirectory() };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // ENOTDIR: a file stands where a directory on the way should be; the walk finds it.
      if ((code !== 'ENOENT' && code !== 'ENOTDIR') || current === path.dirname(current)) throw e;
    }
  }
}
