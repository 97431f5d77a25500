/**
 * A large data directory for garbage collection at scale (bench/gc-scale.ts and
 * test/e2e/gc-scale.test.ts): N blobs, mostly referenced by tagged image manifests in up to 1000
 * repositories, a share unreferenced. Built fast: every row inserted with better-sqlite3 in one
 * transaction and one small file written per blob, instead of millions of HTTP requests. The
 * directory must have been opened once by the CLI (so the schema and layout exist).
 *
 * What GC must find (and nothing else), all older than any grace:
 * - unreferenced blobs: linked in one repository, listed by no manifest → link and blob go;
 * - cross links: one per repository, to a layer only the next repository's images list → the
 *   link goes, the blob stays;
 * - unheld blobs: a row with no link and no reference (an older version or a repair left it).
 * Kept: every image's config and layers, and a few base layers that images in many repositories
 * share.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
/** Base layers shared by images across repositories. */
const SHARED_LAYERS = 20;
/** Own blobs per image: a config and two layers (plus one shared base layer). */
const OWN_BLOBS = 3;
const MAX_REPOSITORIES = 1000;
/** Files written at once. */
const WRITERS = 16;

export interface GcStoreOptions {
  /** Blob rows (and files) in all. */
  blobs: number;
  /** The share of them that nothing references (0–1). */
  unreferencedShare?: number;
  namespace?: string;
}

export interface GcStore {
  repositories: number;
  manifests: number;
  blobs: number;
  /** Bytes of all blob files. */
  bytes: number;
  /** What a collection must remove, exactly. */
  garbage: { blobs: number; bytes: number; links: number; digests: string[] };
  /** Every blob that must stay. */
  kept: string[];
}

interface BlobSpec {
  digest: string;
  size: number;
}

/** sha256-addressed file under `<data>/blobs`, as the fs driver lays it out. */
function blobFile(dataDir: string, digest: string): string {
  const hex = digest.slice('sha256:'.length);
  return path.join(dataDir, 'blobs', 'sha256', hex.slice(0, 2), hex);
}

export async function buildGcStore(dataDir: string, options: GcStoreOptions): Promise<GcStore> {
  const total = options.blobs;
  const namespace = options.namespace ?? 'scale';
  const unheld = Math.floor(total / 1000);
  const shared = Math.min(SHARED_LAYERS, Math.floor(total / 10));
  const images = Math.max(
    1,
    Math.floor(
      (total - shared - unheld - Math.round(total * (options.unreferencedShare ?? 0.1))) /
        OWN_BLOBS,
    ),
  );
  const unreferenced = total - shared - unheld - images * OWN_BLOBS;
  if (unreferenced < 0) throw new Error(`${total} blobs are too few for a store`);
  const repositories = Math.max(1, Math.min(MAX_REPOSITORIES, Math.floor(images / 5)));
  // Two days ago: older than any grace and than fsck's one-hour grace for files.
  const old = new Date(Date.now() - 2 * 86_400_000).toISOString();
  // Unique per store, so two stores never share a digest.
  const salt = randomBytes(8).toString('hex');

  let made = 0;
  let bytes = 0;
  const contentOf = (i: number): Buffer => {
    const content = Buffer.alloc(512 + ((i * 37) % 1536), i % 251);
    content.write(`${salt}:${String(i)}:`);
    return content;
  };
  /** Files to write once the rows are in: [blob number, path]. */
  const files: [number, string][] = [];
  const makeBlob = (): BlobSpec => {
    const i = made++;
    const content = contentOf(i);
    const digest = `sha256:${createHash('sha256').update(content).digest('hex')}`;
    files.push([i, blobFile(dataDir, digest)]);
    bytes += content.length;
    return { digest, size: content.length };
  };

  const db = new Database(path.join(dataDir, 'meta.sqlite'));
  db.pragma('journal_mode = WAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  const insertNamespace = db.prepare(
    'INSERT INTO namespaces (name, public, created_at) VALUES (?, 0, ?) ON CONFLICT DO NOTHING',
  );
  const insertRepository = db.prepare(
    'INSERT INTO repositories (name, namespace, created_at) VALUES (?, ?, ?)',
  );
  const insertBlob = db.prepare('INSERT INTO blobs (digest, size, created_at) VALUES (?, ?, ?)');
  const insertLink = db.prepare(
    'INSERT INTO repository_blobs (repository, digest, created_at, used_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING',
  );
  const insertManifest = db.prepare(
    `INSERT INTO manifests (repository, digest, media_type, size, payload, artifact_type, subject,
       annotations, created_at, idle_since) VALUES (?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?)`,
  );
  const insertReference = db.prepare(
    "INSERT INTO manifest_references (repository, manifest, digest, kind) VALUES (?, ?, ?, 'blob') ON CONFLICT DO NOTHING",
  );
  const insertTag = db.prepare(
    'INSERT INTO tags (repository, name, digest, updated_at) VALUES (?, ?, ?, ?)',
  );

  const garbage: BlobSpec[] = [];
  const kept: string[] = [];
  let crossLinks = 0;
  db.transaction(() => {
    insertNamespace.run(namespace, old);
    const blob = (): BlobSpec => {
      const b = makeBlob();
      insertBlob.run(b.digest, b.size, old);
      return b;
    };
    const repoName = (r: number): string => `${namespace}/r${String(r).padStart(4, '0')}`;
    for (let r = 0; r < repositories; r++) insertRepository.run(repoName(r), namespace, old);
    const base = Array.from({ length: shared }, blob);
    kept.push(...base.map((b) => b.digest));
    /** Per repository, a layer only its images list: the next repository's cross link. */
    const firstLayer: string[] = [];
    for (let i = 0; i < images; i++) {
      const r = i % repositories;
      const repository = repoName(r);
      const [config, ...layers] = [blob(), blob(), blob()] as [BlobSpec, BlobSpec, BlobSpec];
      const baseLayer = base[r % Math.max(1, base.length)];
      const all = [config, ...(baseLayer ? [baseLayer] : []), ...layers];
      firstLayer[r] ??= layers[0].digest;
      kept.push(config.digest, layers[0].digest, layers[1].digest);
      const payload = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          config: { mediaType: OCI_CONFIG, digest: config.digest, size: config.size },
          layers: all
            .slice(1)
            .map((l) => ({ mediaType: OCI_LAYER, digest: l.digest, size: l.size })),
        }),
      );
      const digest = `sha256:${createHash('sha256').update(payload).digest('hex')}`;
      insertManifest.run(
        repository,
        digest,
        OCI_MANIFEST,
        payload.length,
        payload,
        OCI_CONFIG,
        old,
        old,
      );
      for (const b of all) {
        insertLink.run(repository, b.digest, old, old);
        insertReference.run(repository, digest, b.digest);
      }
      insertTag.run(repository, `v${String(Math.floor(i / repositories))}`, digest, old);
    }
    for (let i = 0; i < unreferenced; i++) {
      const b = blob();
      insertLink.run(repoName(i % repositories), b.digest, old, old);
      garbage.push(b);
    }
    for (let i = 0; i < unheld; i++) garbage.push(blob());
    if (repositories > 1) {
      for (let r = 0; r < repositories; r++) {
        const other = firstLayer[(r + 1) % repositories];
        if (other === undefined) continue;
        insertLink.run(repoName(r), other, old, old);
        crossLinks += 1;
      }
    }
  })();
  db.close();
  // Written a few at a time: the file system's latency, not the CPU, is what takes the time.
  for (const shard of new Set(files.map(([, file]) => path.dirname(file))))
    await mkdir(shard, { recursive: true });
  let next = 0;
  const writer = async (): Promise<void> => {
    for (let job = files[next++]; job; job = files[next++])
      await writeFile(job[1], contentOf(job[0]));
  };
  await Promise.all(Array.from({ length: WRITERS }, writer));
  return {
    repositories,
    manifests: images,
    blobs: made,
    bytes,
    garbage: {
      blobs: garbage.length,
      bytes: garbage.reduce((n, b) => n + b.size, 0),
      links: unreferenced + crossLinks,
      digests: garbage.map((b) => b.digest),
    },
    kept,
  };
}

/** What `berth gc --json` reports (lifecycle/gc.ts GcReport), the fields measured here. */
export interface GcCliReport {
  dryRun: boolean;
  durationMs: number;
  maxRssBytes: number;
  manifests: number;
  links: number;
  blobs: number;
  bytes: number;
  orphanFiles: number;
  error?: string;
}

/** Makes a new, empty registry at `dataDir` with the built CLI (schema and layout). */
export async function initRegistry(cli: string, dataDir: string): Promise<void> {
  await promisify(execFile)(process.execPath, [cli, 'namespace', 'list', '--data', dataDir], {
    env: { ...process.env, BERTH_ADMIN_PASSWORD: 'gc-scale-admin-password' },
  });
}

/**
 * Runs `berth gc --json ARGS --data DIR` with the built CLI to completion; its report and the
 * wall time of the whole process (start-up included). A non-zero exit throws with what it printed.
 */
export async function runGcCli(
  cli: string,
  dataDir: string,
  args: readonly string[],
): Promise<{ report: GcCliReport; wallMs: number }> {
  const started = performance.now();
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [cli, 'gc', '--json', ...args, '--data', dataDir],
    { maxBuffer: 64 * 1024 * 1024 },
  );
  return { report: JSON.parse(stdout) as GcCliReport, wallMs: performance.now() - started };
}
