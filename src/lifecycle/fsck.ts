/**
 * @module lifecycle/fsck
 * `berth fsck`: checks that the metadata and the stored bytes agree, and with `repair` fixes what
 * can be fixed without losing anything an operator may want. It runs beside a live server (no
 * serve lock), so it reads in pages and treats a file without a row as possibly in flight:
 *
 * - every blob row: its file exists and re-hashes (streamed) to its digest;
 * - every manifest reference (config, layers, children) is present in the manifest's repository;
 * - every file under `blobs/` has a row, and every file under `uploads/` an upload session.
 *
 * Repairs (each finding says what was done):
 * - a corrupt blob is moved to `quarantine/<algorithm>/<hex>` (kept for the operator) and its row
 *   forgotten like a missing one;
 * - a missing blob's row and repository links are dropped: HEAD and GET then answer 404
 *   BLOB_UNKNOWN, so a client's next push uploads the bytes again (a row without bytes would make
 *   clients skip the upload forever). Manifests that use it stay and are reported as broken until
 *   the image is pushed again: deleting them would lose tags an operator can still restore;
 * - orphan blob files and upload files without a session are deleted, only once untouched for the
 *   grace period: an upload commits by renaming its file into `blobs/` (its final write touches it
 *   just before) and only then writes the row, so a young file may be a commit in progress.
 *   Young ones are listed as `recent`, do not count as wrong and are never removed.
 * Healthy content is never touched.
 */
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import {
  createDigester,
  digestAlgorithm,
  isDigestAlgorithm,
  tryParseDigest,
  type Digest,
} from '../core/digest.js';
import type { MetaStore } from '../meta/store.js';
import { BLOB_SHARDS, blobKey, parseUploadId, quarantineKey } from '../registry/layout.js';
import { settleTrash } from '../registry/trash.js';
import type { StorageDriver } from '../storage/driver.js';

export type FindingKind =
  'corrupt-blob' | 'missing-blob' | 'broken-reference' | 'orphan-file' | 'stale-upload';

export const FINDING_KINDS: readonly FindingKind[] = [
  'corrupt-blob',
  'missing-blob',
  'broken-reference',
  'orphan-file',
  'stale-upload',
];

export interface Finding {
  kind: FindingKind;
  /** A digest, a storage key or `repository@digest`. */
  subject: string;
  detail: string;
  /** Younger than the grace period: may be an upload committing now; not counted, not repaired. */
  recent?: true;
  /** What `repair` did about it. */
  repaired?: string;
}

export interface FsckReport {
  findings: Finding[];
  /** Findings that are not recent, by kind. */
  counts: Record<FindingKind, number>;
  /** Blob rows checked and the bytes re-hashed. */
  blobs: number;
  bytes: number;
  manifestReferencesBroken: number;
  durationMs: number;
  /**
   * Files a garbage collection killed mid-way left in its trash, settled before the check (put
   * back when their transaction did not commit, else removed): GC's own recovery, not a finding.
   */
  trashSettled: number;
  /** True when nothing (but recent files) was found. */
  clean: boolean;
}

export interface FsckProgress {
  blobs: number;
  bytes: number;
}

export interface FsckOptions {
  repair: boolean;
  /** How long a file without a row must be untouched before it counts (and may be removed). */
  graceMs: number;
  now?: () => number;
  /** Called after each blob is hashed; the caller throttles. */
  onProgress?: (progress: FsckProgress) => void;
  /** Called with each finding as it is made (the report holds them all too). */
  onFinding?: (finding: Finding) => void;
}

export const DEFAULT_GRACE_MS = 60 * 60 * 1000;
const PAGE = 500;
/** Manifests named per missing or corrupt blob (enough to find the images to push again). */
const USERS_SHOWN = 3;

type Meta = Pick<
  MetaStore,
  | 'listBlobs'
  | 'listBrokenReferences'
  | 'manifestsUsingBlob'
  | 'forgetBlob'
  | 'getBlob'
  | 'getUpload'
  | 'withBlobRow'
>;

/** The digest a blob key names, or null when the file cannot be one of ours. */
export function digestOfBlobKey(key: string): Digest | null {
  const parts = key.split('/');
  if (parts.length !== 4 || parts[0] !== 'blobs') return null;
  const [, algorithm = '', shard = '', hex = ''] = parts;
  if (!isDigestAlgorithm(algorithm) || hex.slice(0, 2) !== shard) return null;
  return tryParseDigest(`${algorithm}:${hex}`);
}

/** Whether a file last written at `modifiedAt` is still within the grace period. */
export function isRecent(modifiedAt: Date | undefined, now: number, graceMs: number): boolean {
  // A store that records no time gives no proof of age: such a file is treated as young.
  return modifiedAt === undefined || now - modifiedAt.getTime() < graceMs;
}

/** One line per finding, as the CLI prints it. */
export function formatFinding(f: Finding): string {
  const note = f.recent ? ' (recent: may be in flight; left)' : f.repaired ? `; ${f.repaired}` : '';
  return `${f.kind} ${f.subject}: ${f.detail}${note}`;
}

/** Hashes a stored object as it streams: memory stays at one read chunk whatever its size. */
async function hashObject(
  storage: StorageDriver,
  key: string,
  digest: Digest,
): Promise<{ actual: Digest; size: number } | null> {
  const body = await storage.read(key);
  if (!body) return null;
  const digester = createDigester(digestAlgorithm(digest));
  let size = 0;
  await pipeline(
    body,
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        digester.update(chunk);
        size += chunk.length;
        done();
      },
    }),
  );
  return { actual: digester.digest(), size };
}

export async function runFsck(
  meta: Meta,
  storage: StorageDriver,
  options: FsckOptions,
): Promise<FsckReport> {
  const now = options.now ?? Date.now;
  const started = now();
  const findings: Finding[] = [];
  const counts = Object.fromEntries(FINDING_KINDS.map((k) => [k, 0])) as Record<
    FindingKind,
    number
  >;
  const progress: FsckProgress = { blobs: 0, bytes: 0 };
  let brokenReferences = 0;
  // First, or a live blob whose file an interrupted GC left in the trash would read as missing
  // (and `--repair` would forget it).
  const trash = await settleTrash(meta, storage);

  const report = (finding: Finding): void => {
    findings.push(finding);
    if (!finding.recent) counts[finding.kind] += 1;
    options.onFinding?.(finding);
  };

  async function usersOf(digest: string): Promise<string> {
    const users = await meta.manifestsUsingBlob(digest, USERS_SHOWN + 1);
    if (users.length === 0) return 'no manifest uses it';
    const shown = users.slice(0, USERS_SHOWN).join(', ');
    return `used by ${shown}${users.length > USERS_SHOWN ? ', …' : ''}`;
  }

  // 1. Blob rows: the file is there and holds what its digest says.
  for (let after: string | undefined; ;) {
    const page = await meta.listBlobs(PAGE, after);
    for (const row of page) {
      const digest = tryParseDigest(row.digest);
      if (!digest) continue;
      const key = blobKey(digest);
      const hashed = await hashObject(storage, key, digest);
      if (!hashed) {
        // The row may have gone while we looked (a repository deleted): only a row still there counts.
        if (!(await meta.getBlob(digest))) continue;
        const finding: Finding = {
          kind: 'missing-blob',
          subject: digest,
          detail: `the row has no file ${key}; ${await usersOf(digest)}`,
        };
        // Looked at again right before: a concurrent push of the same bytes may have restored it.
        if (options.repair && !(await storage.stat(key))) {
          await meta.forgetBlob(digest);
          finding.repaired = 'row removed (a push of the image uploads it again)';
        }
        report(finding);
        continue;
      }
      progress.blobs += 1;
      progress.bytes += hashed.size;
      options.onProgress?.(progress);
      if (hashed.actual !== digest) {
        const finding: Finding = {
          kind: 'corrupt-blob',
          subject: digest,
          detail: `${key} hashes to ${hashed.actual} (${hashed.size} bytes, row says ${row.size}); ${await usersOf(digest)}`,
        };
        if (options.repair) {
          const target = quarantineKey(digest);
          await storage.move(key, target);
          await meta.forgetBlob(digest);
          finding.repaired = `moved to ${target}, row removed`;
        }
        report(finding);
      }
    }
    if (page.length < PAGE) break;
    after = page.at(-1)?.digest;
  }

  // 2. Manifest references: after the blob pass, so rows it forgot show up here in the same run.
  for (let after: { repository: string; manifest: string; digest: string } | undefined; ;) {
    const page = await meta.listBrokenReferences(PAGE, after);
    for (const ref of page) {
      brokenReferences += 1;
      report({
        kind: 'broken-reference',
        subject: `${ref.repository}@${ref.manifest}`,
        detail: `references ${ref.kind} ${ref.digest}, which is not in the repository (push the image again or delete the manifest)`,
      });
    }
    if (page.length < PAGE) break;
    after = page.at(-1);
  }

  // 3. Files without a row. Listed shard by shard so one listing stays small.
  // sha512 blobs are rare and have no pre-made shards: their folder is listed whole.
  for (const prefix of [...BLOB_SHARDS, 'blobs/sha512']) {
    for await (const key of storage.list(prefix)) {
      const digest = digestOfBlobKey(key);
      if (digest && (await meta.getBlob(digest))) continue;
      await reportUnowned(key, 'orphan-file', 'a file under blobs/ without a blob row', () =>
        digest ? meta.getBlob(digest) : Promise.resolve(null),
      );
    }
  }

  // 4. Upload bytes without a session.
  for await (const upload of storage.listUploads()) {
    const id = parseUploadId(upload.id);
    const owner = () => (id ? meta.getUpload(id) : Promise.resolve(null));
    if (await owner()) continue;
    const finding: Finding = {
      kind: 'stale-upload',
      subject: `uploads/${upload.id}`,
      detail: `upload bytes without an upload session (${upload.size} bytes)`,
    };
    if (isRecent(upload.modifiedAt, now(), options.graceMs)) finding.recent = true;
    else if (options.repair) {
      await storage.abortUpload(upload.id);
      finding.repaired = 'removed';
    }
    report(finding);
  }

  async function reportUnowned(
    key: string,
    kind: 'orphan-file' | 'stale-upload',
    detail: string,
    owner: () => Promise<unknown>,
  ): Promise<void> {
    const stat = await storage.stat(key);
    // Gone (committed, cancelled) or owned by now: a commit renames the file before its row lands.
    if (!stat || (await owner())) return;
    const finding: Finding = { kind, subject: key, detail: `${detail} (${stat.size} bytes)` };
    if (isRecent(stat.modifiedAt, now(), options.graceMs)) finding.recent = true;
    else if (options.repair) {
      await storage.delete(key);
      finding.repaired = 'removed';
    }
    report(finding);
  }

  return {
    findings,
    counts,
    blobs: progress.blobs,
    bytes: progress.bytes,
    manifestReferencesBroken: brokenReferences,
    durationMs: now() - started,
    trashSettled: trash.restored + trash.removed,
    clean: Object.values(counts).every((n) => n === 0),
  };
}
