/**
 * @module lifecycle/gc
 * Online garbage collection: pushes and pulls go on while it runs; nothing is made read-only.
 *
 * What is kept, per repository (the reference graph):
 * - manifests: tagged ones; young ones (pushed, or untagged, within the grace); untagged ones
 *   without a subject until `untaggedAfter` (0: forever; a namespace's retention `untagged-days`
 *   overrides it); and, transitively, the children of a kept index and the referrers of a kept
 *   subject. A referrer whose subject goes, goes with it, unless it is tagged itself;
 * - blob links: those a kept manifest of the repository references, those used (uploaded,
 *   mounted, found by a push's HEAD) within the grace, and all of a repository that has an upload
 *   session (a push in progress). A blob's row and file go with its last link, unless a manifest
 *   anywhere still lists it.
 *
 * Order, so that a crash at any point is safe: a manifest is deleted before what it references;
 * a blob's row is deleted and its file moved to the trash in one transaction, and the trash is
 * emptied after the commit (registry/trash.ts settles what a crash leaves there). A file is never
 * deleted while its row exists, and a row never outlives its file. Every delete re-checks the
 * plan in its own transaction, so a push that lands meanwhile wins.
 *
 * Memory: one repository's manifests at a time, links in pages; a dry run also holds what it
 * would remove (to tell which blobs would lose their last link).
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { tryParseDigest } from '../core/digest.js';
import { RegistryError } from '../core/errors.js';
import { namespaceOf, type RepoName } from '../core/names.js';
import type { GcGraph, GcManifest, GcMeta, GcRunRow } from '../meta/gc.js';
import type { MetaStore } from '../meta/store.js';
import { BLOB_SHARDS, blobKey, trashKey } from '../registry/layout.js';
import { settleTrash } from '../registry/trash.js';
import type { UploadService } from '../registry/uploads.js';
import { ObjectMissingError, type StorageDriver } from '../storage/driver.js';
import { DEFAULT_GRACE_MS as ORPHAN_FILE_GRACE_MS, digestOfBlobKey, isRecent } from './fsck.js';

export type GcTrigger = 'cli' | 'api' | 'schedule';

export interface GcOptions {
  trigger: GcTrigger;
  dryRun: boolean;
  graceMs: number;
  /** 0: untagged manifests are kept forever. */
  untaggedAfterMs: number;
  /** Upload sessions idle this long are removed (`registry.uploadTtlHours`). */
  uploadTtlMs: number;
  now?: () => number;
  /** Checked between steps: an aborted run stops early, its report says so. */
  signal?: AbortSignal;
  /**
   * Applies the namespaces' retention policies first (or, in a dry run, lists what they would
   * remove, which the plan then treats as gone).
   */
  retention?: (
    dryRun: boolean,
  ) => Promise<{ tags: number; manifests: { repository: string; digest: string }[] }>;
}

export interface GcReport {
  id: string;
  trigger: GcTrigger;
  dryRun: boolean;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  graceMs: number;
  untaggedAfterMs: number;
  /** What was (or in a dry run, would be) removed. */
  manifests: number;
  links: number;
  blobs: number;
  /** The bytes of the removed blobs: the space reclaimed. */
  bytes: number;
  uploads: number;
  /** Files under `blobs/` without a row, and upload bytes no blob key names (S3's data objects). */
  orphanFiles: number;
  /** Files a crashed run left in the trash, put back or removed. */
  trashSettled: number;
  /** Filled in when retention ran first (lifecycle/retention.ts). */
  retention: { tags: number; manifests: number } | null;
  /** The first removed items (`repository@digest`, digests), at most LISTED of each. */
  removed: { manifests: string[]; blobs: string[]; truncated: boolean };
  /** The process's peak resident memory when the run ended (for `berth gc`: the run's own). */
  maxRssBytes: number;
  /** Set when the run stopped early (aborted or failed). */
  error?: string;
}

/**
 * Fault injection for the crash tests: `BERTH_GC_CRASH_AT=manifest|trash|commit` kills the
 * process (SIGKILL, as `kill -9`) right after the first manifest delete, inside the first blob
 * transaction after a file went to the trash, or after that transaction's commit before the trash
 * is emptied. A kill at an exact point cannot be timed from outside the process.
 */
function crashPoint(point: 'manifest' | 'trash' | 'commit'): void {
  if (process.env['BERTH_GC_CRASH_AT'] === point) process.kill(process.pid, 'SIGKILL');
}

/** Items named in a report; the counts cover everything. */
const LISTED = 1000;
const PAGE = 500;
const REPOSITORY_PAGE = 100;
const HEARTBEAT_MS = 10_000;
/** A run whose heartbeat is older than this is taken to be dead (its process was killed). */
const ALIVE_MS = 60_000;

/** Who runs a collection: a killed `berth gc` on this host is seen at once, not after 60 s. */
const OWNER = `${hostname()}:${process.pid}`;

function ownerGone(owner: string): boolean {
  const at = owner.lastIndexOf(':');
  const pid = Number(owner.slice(at + 1));
  if (owner.slice(0, at) !== hostname() || !Number.isInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    // EPERM: alive, someone else's. ESRCH: gone.
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

export function gcRunning(run: GcRunRow): RegistryError {
  return new RegistryError(
    'CONFLICT',
    `garbage collection ${run.id} (${run.trigger}) has been running since ${run.startedAt}; try again when it has finished`,
    { id: run.id, startedAt: run.startedAt, trigger: run.trigger },
  );
}

/**
 * The manifests of one repository that are garbage, in an order that deletes every index before
 * its children and every referrer before its subject (so each delete leaves a consistent graph).
 */
export function planManifests(
  graph: GcGraph,
  cutoffs: { young: string; untagged: string | null },
): GcManifest[] {
  const referrers = new Map<string, string[]>();
  const children = new Map<string, string[]>();
  const parents = new Map<string, string[]>();
  for (const m of graph.manifests) {
    if (m.subject !== null) push(referrers, m.subject, m.digest);
  }
  for (const { parent, child } of graph.children) {
    push(children, parent, child);
    push(parents, child, parent);
  }
  const kept = new Set<string>();
  const queue: string[] = [];
  const keep = (digest: string): void => {
    if (kept.has(digest)) return;
    kept.add(digest);
    queue.push(digest);
  };
  for (const m of graph.manifests) {
    const untaggedKept =
      m.subject === null && (cutoffs.untagged === null || m.idleSince >= cutoffs.untagged);
    if (m.tagged || m.idleSince >= cutoffs.young || untaggedKept) keep(m.digest);
  }
  for (let digest = queue.pop(); digest !== undefined; digest = queue.pop()) {
    for (const child of children.get(digest) ?? []) keep(child);
    for (const referrer of referrers.get(digest) ?? []) keep(referrer);
  }
  const garbage = graph.manifests.filter((m) => !kept.has(m.digest));
  const garbageSet = new Set(garbage.map((m) => m.digest));
  // Kahn's order over the garbage: a manifest waits for its garbage parents and referrers.
  const waitingFor = new Map<string, number>();
  for (const m of garbage) {
    const before = [...(parents.get(m.digest) ?? []), ...(referrers.get(m.digest) ?? [])];
    waitingFor.set(m.digest, before.filter((d) => garbageSet.has(d) && d !== m.digest).length);
  }
  const byDigest = new Map(garbage.map((m) => [m.digest, m]));
  const ready = garbage.filter((m) => waitingFor.get(m.digest) === 0).map((m) => m.digest);
  const ordered: GcManifest[] = [];
  const done = new Set<string>();
  for (let digest = ready.shift(); digest !== undefined; digest = ready.shift()) {
    const m = byDigest.get(digest);
    if (!m || done.has(digest)) continue;
    done.add(digest);
    ordered.push(m);
    const after = [...(children.get(digest) ?? [])];
    if (m.subject !== null) after.push(m.subject);
    for (const next of after) {
      const left = waitingFor.get(next);
      if (left === undefined) continue;
      waitingFor.set(next, left - 1);
      if (left - 1 === 0) ready.push(next);
    }
  }
  // Content addresses make cycles impossible; anything left (a hand-edited row) goes last.
  for (const m of garbage) if (!done.has(m.digest)) ordered.push(m);
  return ordered;
}

function push(map: Map<string, string[]>, key: string, value: string): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

export interface GcDeps {
  meta: GcMeta &
    Pick<
      MetaStore,
      'getBlob' | 'getNamespace' | 'getUpload' | 'listRepositories' | 'listStaleUploads'
    >;
  storage: StorageDriver;
  uploads: UploadService;
}

/** Runs one collection (or dry run) and records it; throws CONFLICT while another real one runs. */
export async function runGc(deps: GcDeps, options: GcOptions): Promise<GcReport> {
  const { meta } = deps;
  const now = options.now ?? Date.now;
  const id = randomUUID();
  const started = now();
  const startedAt = new Date(started).toISOString();
  const claim = await meta.startGcRun({
    id,
    trigger: options.trigger,
    dryRun: options.dryRun,
    at: startedAt,
    aliveAfter: new Date(started - ALIVE_MS).toISOString(),
    owner: OWNER,
    ownerGone,
  });
  if (!claim.ok) throw gcRunning(claim.running);
  const heartbeat = setInterval(() => {
    meta.heartbeatGcRun(id, new Date(now()).toISOString()).catch(() => undefined);
  }, HEARTBEAT_MS);
  heartbeat.unref();
  const report: GcReport = {
    id,
    trigger: options.trigger,
    dryRun: options.dryRun,
    startedAt,
    finishedAt: startedAt,
    durationMs: 0,
    graceMs: options.graceMs,
    untaggedAfterMs: options.untaggedAfterMs,
    manifests: 0,
    links: 0,
    blobs: 0,
    bytes: 0,
    uploads: 0,
    orphanFiles: 0,
    trashSettled: 0,
    retention: null,
    removed: { manifests: [], blobs: [], truncated: false },
    maxRssBytes: 0,
  };
  try {
    await new Collection(deps, options, report, started).run();
  } catch (err) {
    report.error = err instanceof Error ? err.message : String(err);
  } finally {
    clearInterval(heartbeat);
  }
  const finished = now();
  report.finishedAt = new Date(finished).toISOString();
  report.durationMs = finished - started;
  report.maxRssBytes = process.resourceUsage().maxRSS * 1024;
  await meta.finishGcRun(
    id,
    report.finishedAt,
    report.error === undefined ? 'done' : 'failed',
    JSON.stringify(report),
  );
  return report;
}

class Collection {
  private readonly young: string;
  private readonly untaggedDefault: string | null;
  /** Dry run: what would go, to tell which blobs would lose their last holder. */
  private readonly plannedManifests = new Set<string>();
  private readonly plannedLinks = new Map<string, { size: number; links: number }>();
  private readonly untaggedByNamespace = new Map<string, string | null>();

  constructor(
    private readonly deps: GcDeps,
    private readonly options: GcOptions,
    private readonly report: GcReport,
    private readonly started: number,
  ) {
    this.young = new Date(started - options.graceMs).toISOString();
    this.untaggedDefault =
      options.untaggedAfterMs === 0
        ? null
        : new Date(started - options.untaggedAfterMs).toISOString();
  }

  async run(): Promise<void> {
    const { meta, storage, uploads } = this.deps;
    const { dryRun } = this.options;
    if (!dryRun) this.report.trashSettled = sumOf(await settleTrash(meta, storage));
    this.check();
    if (this.options.retention) {
      const retained = await this.options.retention(dryRun);
      this.report.retention = { tags: retained.tags, manifests: retained.manifests.length };
      if (dryRun) {
        for (const m of retained.manifests)
          this.plannedManifests.add(`${m.repository}@${m.digest}`);
      }
      this.check();
    }
    const idleSince = new Date(this.started - this.options.uploadTtlMs);
    this.report.uploads = dryRun
      ? await this.countStaleUploads(idleSince.toISOString())
      : await uploads.purgeStale(idleSince);
    for (let after: string | undefined; ;) {
      const page = await meta.listRepositories(
        after === undefined ? { limit: REPOSITORY_PAGE } : { limit: REPOSITORY_PAGE, after },
      );
      for (const repository of page.items) {
        this.check();
        await this.collectRepository(repository);
      }
      after = page.items.at(-1);
      if (!page.more) break;
    }
    this.check();
    await this.collectUnheldBlobs();
    if (dryRun) await this.resolvePlannedBlobs();
    this.check();
    await this.collectOrphanFiles();
  }

  private check(): void {
    if (this.options.signal?.aborted) throw new Error('garbage collection was stopped');
  }

  private async countStaleUploads(before: string): Promise<number> {
    let n = 0;
    for (let after: string | undefined; ;) {
      const page = await this.deps.meta.listStaleUploads(before, PAGE, after);
      n += page.length;
      after = page.at(-1)?.id;
      if (page.length < PAGE) return n;
    }
  }

  private async untaggedCutoff(repository: string): Promise<string | null> {
    const namespace = namespaceOf(repository as RepoName);
    if (!this.untaggedByNamespace.has(namespace)) {
      const days = (await this.deps.meta.getNamespace(namespace))?.retention?.untaggedDays;
      this.untaggedByNamespace.set(
        namespace,
        days === undefined
          ? this.untaggedDefault
          : days === 0
            ? null
            : new Date(this.started - days * 86_400_000).toISOString(),
      );
    }
    return this.untaggedByNamespace.get(namespace) ?? null;
  }

  private async collectRepository(repository: string): Promise<void> {
    const { meta } = this.deps;
    const graph = this.withoutPlanned(repository, await meta.gcGraph(repository));
    const garbage = planManifests(graph, {
      young: this.young,
      untagged: await this.untaggedCutoff(repository),
    });
    for (const m of garbage) {
      const name = `${repository}@${m.digest}`;
      if (this.options.dryRun) {
        this.plannedManifests.add(name);
      } else if ((await meta.collectManifest(repository, m.digest, m.idleSince)) !== 'deleted') {
        continue;
      } else {
        crashPoint('manifest');
      }
      this.report.manifests += 1;
      this.list(this.report.removed.manifests, name);
    }
    // A push in progress (an upload session) may still PUT a manifest that uses any link here.
    if (await meta.repositoryHasUploads(repository)) return;
    for (let after: string | undefined; ;) {
      const page = await meta.listIdleLinks(repository, this.young, PAGE, after);
      if (page.length === 0) return;
      after = page.at(-1)?.digest;
      const users = new Map<string, string[]>();
      for (const r of await meta.blobReferences(
        repository,
        page.map((l) => l.digest),
      )) {
        push(users, r.digest, `${repository}@${r.manifest}`);
      }
      // In a real run the collected manifests are gone already: any reference left is a keeper.
      const unused = page.filter((l) =>
        (users.get(l.digest) ?? []).every((m) => this.plannedManifests.has(m)),
      );
      if (this.options.dryRun) {
        for (const l of unused) {
          const planned = this.plannedLinks.get(l.digest);
          if (planned) planned.links += 1;
          else this.plannedLinks.set(l.digest, { size: l.size, links: 1 });
        }
        this.report.links += unused.length;
      } else if (unused.length > 0) {
        const result = await meta.collectLinks(
          unused.map((l) => ({ repository, digest: l.digest })),
          this.young,
          (digest) => this.trash(digest),
        );
        this.report.links += result.links;
        if (result.blobs.length > 0) crashPoint('commit');
        await this.emptyTrash(result.blobs);
      }
      if (page.length < PAGE) return;
    }
  }

  /** Dry run: the graph as it will be once what retention would remove is gone. */
  private withoutPlanned(repository: string, graph: GcGraph): GcGraph {
    if (this.plannedManifests.size === 0) return graph;
    const gone = (digest: string): boolean => this.plannedManifests.has(`${repository}@${digest}`);
    return {
      manifests: graph.manifests.filter((m) => !gone(m.digest)),
      children: graph.children.filter((e) => !gone(e.parent)),
    };
  }

  /** Inside the transaction that deletes the row: out of `blobs/` now, deleted after commit. */
  private async trash(digest: string): Promise<void> {
    const parsed = tryParseDigest(digest);
    if (!parsed) return;
    try {
      await this.deps.storage.move(blobKey(parsed), trashKey(parsed), { sync: false });
      crashPoint('trash');
    } catch (e) {
      // A row without its file (fsck's "missing blob"): the row goes all the same.
      if (!(e instanceof ObjectMissingError)) throw e;
    }
  }

  private async emptyTrash(blobs: readonly { digest: string; size: number }[]): Promise<void> {
    for (const blob of blobs) {
      const digest = tryParseDigest(blob.digest);
      if (digest) await this.deps.storage.delete(trashKey(digest), { sync: false });
      this.removedBlob(blob);
    }
  }

  private removedBlob(blob: { digest: string; size: number }): void {
    this.report.blobs += 1;
    this.report.bytes += blob.size;
    this.list(this.report.removed.blobs, blob.digest);
  }

  /** Blob rows without any link or reference (left by an older version or a repair). */
  private async collectUnheldBlobs(): Promise<void> {
    const { meta } = this.deps;
    for (let after: string | undefined; ;) {
      const page = await meta.listUnheldBlobs(this.young, PAGE, after);
      if (page.length === 0) return;
      after = page.at(-1)?.digest;
      if (this.options.dryRun) {
        for (const blob of page) this.removedBlob(blob);
      } else {
        const removed = await meta.collectUnheldBlobs(
          page.map((b) => b.digest),
          this.young,
          (digest) => this.trash(digest),
        );
        await this.emptyTrash(removed);
      }
      if (page.length < PAGE) return;
    }
  }

  /** Dry run: a blob goes when every link and every reference it has would go. */
  private async resolvePlannedBlobs(): Promise<void> {
    const digests = [...this.plannedLinks.keys()];
    for (let i = 0; i < digests.length; i += PAGE) {
      for (const holders of await this.deps.meta.blobHolders(digests.slice(i, i + PAGE))) {
        const planned = this.plannedLinks.get(holders.digest);
        if (!planned || holders.links.length !== planned.links) continue;
        if (!holders.references.every((m) => this.plannedManifests.has(m))) continue;
        this.removedBlob({ digest: holders.digest, size: planned.size });
      }
    }
  }

  /**
   * Files under `blobs/` without a row, untouched for fsck's grace (an upload moves its file in
   * before it writes the row): a crash between a commit and its file's removal leaves these.
   */
  private async collectOrphanFiles(): Promise<void> {
    const { meta, storage } = this.deps;
    const now = this.options.now ?? Date.now;
    for (const prefix of [...BLOB_SHARDS, 'blobs/sha512']) {
      this.check();
      for await (const key of storage.list(prefix)) {
        const digest = digestOfBlobKey(key);
        if (!digest || (await meta.getBlob(digest))) continue;
        const stat = await storage.stat(key);
        if (!stat || isRecent(stat.modifiedAt, now(), ORPHAN_FILE_GRACE_MS)) continue;
        if (this.options.dryRun) {
          this.report.orphanFiles += 1;
          continue;
        }
        // Under the lock, so an upload committing this very digest is not robbed of its file.
        const removed = await meta.withBlobRow(digest, async (hasRow) => {
          if (hasRow) return false;
          await storage.delete(key);
          return true;
        });
        if (removed) this.report.orphanFiles += 1;
      }
    }
    // Upload bytes a crash left behind their commit (S3's data objects without a pointer).
    if (storage.collectUnreferenced) {
      this.check();
      this.report.orphanFiles += await storage.collectUnreferenced({
        olderThan: new Date(now() - ORPHAN_FILE_GRACE_MS),
        dryRun: this.options.dryRun,
        hasSession: async (id) => (await meta.getUpload(id)) !== null,
      });
    }
  }

  private list(items: string[], item: string): void {
    if (items.length < LISTED) items.push(item);
    else this.report.removed.truncated = true;
  }
}

function sumOf(counts: { restored: number; removed: number }): number {
  return counts.restored + counts.removed;
}
