/**
 * @module data-dir
 * Opens (and on first use initialises) a data directory for the embedded default: SQLite metadata
 * in `meta.sqlite`, blobs and uploads beside it. Used by `serve` and by every CLI command that
 * works on a data directory, whether or not a server is running on it.
 *
 * ```
 * <data>/layout.json        {"version":1}; an unknown version refuses to start
 * <data>/meta.sqlite        metadata (WAL mode: -wal and -shm beside it)
 * <data>/blobs/…  uploads/…  tmp/…   the filesystem StorageDriver (registry/layout.ts)
 * ```
 *
 * Metadata and blobs may live elsewhere instead, shared by several replicas: a PostgreSQL
 * database (`--meta`, BERTH_META_URL, `meta:`; meta/postgres/open.ts) and an S3 bucket
 * (`--storage`, BERTH_STORAGE_URL, `storage:`; storage/s3). `layout.json` lives with the blobs.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { generatePassword, hashPassword, MIN_PASSWORD_LENGTH } from './auth/passwords.js';
import { ConfigError } from './config/errors.js';
import { redactMetaUrl } from './config/load.js';
import type { Config } from './config/schema.js';
import { createRegistry, DEFAULT_GC_GRACE_MS, type Registry } from './registry/index.js';
import { BLOB_SHARDS } from './registry/layout.js';
import { openSqliteMetaStore } from './meta/sqlite/open.js';
import type { RetryLog } from './meta/postgres/open.js';
import type { MetaStore } from './meta/store.js';
import type { StorageDriver } from './storage/driver.js';
import { openStorage } from './storage/open.js';
import { parseDuration } from './core/duration.js';

const LAYOUT_VERSION = 1;

/** The registry services over a data directory, as configured. */
export function registryFor(
  config: Config,
  dataDir: DataDir,
  onMissingContent?: (digest: string) => void,
): Registry {
  return createRegistry({
    meta: dataDir.meta,
    storage: dataDir.storage,
    options: {
      defaultNamespace: config.registry.defaultNamespace,
      verifyManifestReferences: config.registry.verifyManifestReferences,
      indexChildren: config.manifests.indexChildren,
      gcGraceMs: parseDuration(config.gc.grace) ?? DEFAULT_GC_GRACE_MS,
      // Replicas share their uploads only through a shared database.
      sharedUploads: config.meta?.startsWith('postgres') === true,
    },
    ...(onMissingContent ? { onMissingContent } : {}),
  });
}

export interface DataDir {
  path: string;
  meta: MetaStore;
  storage: StorageDriver;
  /** True when this call created the directory's layout (first start). */
  created: boolean;
  /**
   * The password of the `admin` user this call created, when it was generated (not given in
   * BERTH_ADMIN_PASSWORD): the caller prints it once; it is stored only as a hash.
   */
  generatedAdminPassword?: string;
}

export async function openDataDir(
  dir: string,
  options: {
    defaultNamespace: string;
    adminPassword?: string | undefined;
    /** `sqlite:<file>` or `postgres://…`; default `sqlite:<data>/meta.sqlite`. */
    meta?: string | undefined;
    /** `file:<dir>` or `s3://…`; default `file:<data>`. */
    storage?: string | undefined;
    /** Told of each transaction PostgreSQL rolled back (deadlock) and the store runs again. */
    onMetaRetry?: RetryLog | undefined;
  },
): Promise<DataDir> {
  const root = path.resolve(dir);
  await fs.mkdir(root, { recursive: true, mode: 0o700 });
  const storageUrl = options.storage ?? `file:${root}`;
  const storage = await openStorage(storageUrl, { directories: BLOB_SHARDS });
  const layout = await readLayout(storage);
  if (layout !== null && layout !== LAYOUT_VERSION) {
    throw new ConfigError(
      `${storageUrl}: layout version ${JSON.stringify(layout)} is not supported by this Berth; ` +
        'run the Berth version that made this registry, or choose another --data or --storage',
    );
  }
  const created = layout === null;
  // A new directory has no users: its first admin's password is hashed (argon2, tens of ms on the
  // thread pool) while the database is being created instead of after.
  const firstAdmin = created ? prepareAdmin(options.adminPassword) : undefined;
  const meta = await openMetaStore(
    options.meta ?? `sqlite:${path.join(root, 'meta.sqlite')}`,
    options.onMetaRetry,
  );
  if (created) {
    await meta.createNamespace({ name: options.defaultNamespace, public: false });
    // Written last: a directory without it is initialised again, which is idempotent.
    await storage.writeSmall(
      'layout.json',
      Buffer.from(JSON.stringify({ version: LAYOUT_VERSION }) + '\n'),
    );
  }
  const generatedAdminPassword = await ensureAdmin(meta, options.adminPassword, firstAdmin);
  return {
    path: root,
    meta,
    storage,
    created,
    ...(generatedAdminPassword ? { generatedAdminPassword } : {}),
  };
}

/** The version in the storage's `layout.json`; null when there is none (a new registry). */
export async function readLayout(storage: StorageDriver): Promise<unknown> {
  const body = await storage.read('layout.json');
  if (!body) return null;
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  const layout = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { version?: unknown };
  return layout.version;
}

async function openMetaStore(url: string, onRetry?: RetryLog): Promise<MetaStore> {
  if (url.startsWith('sqlite:')) return openSqliteMetaStore(url.slice('sqlite:'.length));
  // Loaded on use: the SQLite default needs none of pg's modules.
  const { openPostgresMetaStore } = await import('./meta/postgres/open.js');
  try {
    return await openPostgresMetaStore(url, onRetry ? { onRetry } : {});
  } catch (e) {
    // Named without its password; pg's own message says why (refused, auth, no database).
    throw new ConfigError(
      // A refused connection to several addresses is an AggregateError with no message.
      `cannot open the metadata database ${redactMetaUrl(url)}: ${(e as Error).message || String((e as NodeJS.ErrnoException).code)}`,
    );
  }
}

/**
 * The first user: `admin` with the built-in admin role, created whenever a data directory has no
 * users. Its password is BERTH_ADMIN_PASSWORD, else a generated one. There is no default password.
 */
async function ensureAdmin(
  meta: MetaStore,
  given: string | undefined,
  prepared: PreparedAdmin | undefined,
): Promise<string | undefined> {
  if ((await meta.countUsers()) > 0) return undefined;
  const admin = prepared ?? prepareAdmin(given);
  const result = await meta.createUser({
    name: 'admin',
    passwordHash: await admin.hash,
    roles: [{ role: 'admin', namespace: '' }],
  });
  // 'exists': another process initialised the directory at the same moment; its admin stands.
  return result === 'ok' && admin.generated ? admin.password : undefined;
}

interface PreparedAdmin {
  password: string;
  generated: boolean;
  hash: Promise<string>;
}

/** The first admin's password (given or generated) with its hash under way. */
function prepareAdmin(given: string | undefined): PreparedAdmin {
  if (given !== undefined && given.length < MIN_PASSWORD_LENGTH) {
    throw new ConfigError(
      `BERTH_ADMIN_PASSWORD must be at least ${MIN_PASSWORD_LENGTH} characters`,
    );
  }
  const password = given ?? generatePassword();
  const hash = hashPassword(password);
  // Awaited later, maybe never (the start failed first): a failure must not go unhandled meanwhile.
  hash.catch(() => undefined);
  return { password, generated: given === undefined, hash };
}
