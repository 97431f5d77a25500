/**
 * @module lifecycle/retention
 * Applies namespaces' retention policies (core/retention-policy.ts): removes the tags no keep-rule
 * keeps, and the manifests left without a tag by that. Run by `berth retention run`,
 * `POST /api/v1/retention` and by GC before it collects. Untagged manifests (`untagged-days`) are
 * GC's business, not this.
 *
 * Per repository of a namespace whose policy prunes tags, tags are ranked by push time, newest
 * first, and a tag is kept when any keep-rule matches: among the `keepLast` newest, pushed or
 * pulled within `keepDays` days, or matching `keepTags`. Some tags are never removed and take no
 * keep-last place (they would crowd out the images a team counts):
 * - a tag an immutable-tag rule covers (the store would refuse it anyway);
 * - a tag on a manifest with a `subject` (a referrer: a signature, an SBOM);
 * - cosign's tag-scheme tags `sha256-<hex>.sig|.att|.sbom` while `sha256:<hex>` is a manifest of
 *   the repository: they are an image's signatures and follow it. When this run removes that
 *   image, they go too.
 *
 * A manifest whose last tag this run removes is deleted as well, unless an index of the repository
 * lists it (then it stays untagged; GC decides on it with the index), and its untagged referrers
 * then go with GC. Everything is planned from one read of the repository, then carried out one
 * store call at a time; each call is its own transaction and checks again (immutable rules, a tag
 * moved or pushed again since, a manifest tagged again): a concurrent push is never undone. A dry
 * run reports the plan itself, so on unchanged data it lists exactly what a real run removes.
 * Memory: one repository at a time (and the report).
 */
import { RegistryError } from '../core/errors.js';
import { matchImmutableRule } from '../core/namespace-policy.js';
import { prunesTags, type RetentionPolicy } from '../core/retention-policy.js';
import type { MetaStore, RetentionTag, RetentionView } from '../meta/store.js';

export type RetentionDeps = {
  meta: Pick<
    MetaStore,
    | 'getNamespace'
    | 'listNamespaceVisibility'
    | 'listRepositories'
    | 'retentionView'
    | 'deleteTag'
    | 'deleteManifest'
  >;
};

export interface RetentionOptions {
  /** One namespace; all namespaces without it. */
  namespace?: string | undefined;
  dryRun: boolean;
  /** The time the keep-days rule counts back from. */
  now: Date;
}

export interface RetentionReport {
  dryRun: boolean;
  /** The namespaces whose policy prunes tags, in name order. */
  namespaces: string[];
  /** Tags removed (or, in a dry run, that would be). */
  tags: { repository: string; tag: string; digest: string; reason?: string }[];
  /** Manifests deleted because their last tag went (or would be). */
  manifests: { repository: string; digest: string }[];
  /** Tags of those namespaces that stay. */
  kept: number;
}

const DAY_MS = 86_400_000;
const REPOSITORY_PAGE = 200;
/** cosign's tag scheme: `sha256-<hex>.sig` signs the manifest `sha256:<hex>` of the repository. */
const COSIGN_TAG = /^(sha256|sha512)-([0-9a-f]+)\.(?:sig|att|sbom)$/;

export const REASON_NO_RULE = 'no keep-rule matches';
export const REASON_IMAGE_REMOVED = 'the image it signs is removed';

export async function runRetention(
  deps: RetentionDeps,
  options: RetentionOptions,
): Promise<RetentionReport> {
  const { meta } = deps;
  const report: RetentionReport = {
    dryRun: options.dryRun,
    namespaces: [],
    tags: [],
    manifests: [],
    kept: 0,
  };
  const names =
    options.namespace !== undefined
      ? [options.namespace]
      : (await meta.listNamespaceVisibility()).map((n) => n.name);
  for (const name of names) {
    const ns = await meta.getNamespace(name);
    if (!ns) {
      if (options.namespace === undefined) continue; // deleted while this ran
      throw new RegistryError('NOT_FOUND', `namespace "${name}" does not exist`, {
        namespace: name,
      });
    }
    if (!ns.retention || !prunesTags(ns.retention)) continue;
    report.namespaces.push(name);
    const rules = { policy: ns.retention, immutableTags: ns.immutableTags, now: options.now };
    for (let after: string | undefined; ;) {
      const page = await meta.listRepositories(
        { limit: REPOSITORY_PAGE, ...(after !== undefined && { after }) },
        [name],
      );
      for (const repository of page.items) {
        const plan = planRepository(await meta.retentionView(repository), rules);
        if (options.dryRun) record(report, repository, plan);
        else await carryOut(deps, report, repository, plan);
      }
      if (!page.more) break;
      after = page.items.at(-1);
    }
  }
  return report;
}

/** The counts an audit event of a run carries. */
export function retentionCounts(report: RetentionReport): Record<string, unknown> {
  return {
    dryRun: report.dryRun,
    namespaces: report.namespaces.length,
    tags: report.tags.length,
    manifests: report.manifests.length,
    kept: report.kept,
  };
}

interface Rules {
  policy: RetentionPolicy;
  immutableTags: readonly string[];
  now: Date;
}

/** One step of a repository's plan, in the order it must be carried out. */
type Step =
  | { kind: 'tag'; tag: RetentionTag; reason: string; after?: string }
  | { kind: 'manifest'; digest: string };

interface Plan {
  steps: Step[];
  /** Tags the plan keeps. */
  kept: number;
}

function planRepository(view: RetentionView, rules: Rules): Plan {
  const { policy } = rules;
  const cutoff =
    policy.keepDays === undefined
      ? null
      : new Date(rules.now.getTime() - policy.keepDays * DAY_MS).toISOString();
  const keepTags = policy.keepTags === undefined ? null : new RegExp(policy.keepTags, 'u');
  const manifests = new Set(view.manifests);

  const ranked: RetentionTag[] = [];
  /** cosign tags by the manifest they sign: they go only with it. */
  const signatures = new Map<string, RetentionTag[]>();
  let kept = 0;
  for (const t of view.tags) {
    if (matchImmutableRule(rules.immutableTags, t.tag) !== null || t.subject !== null) {
      kept += 1;
      continue;
    }
    const signed = cosignTarget(t.tag);
    if (signed !== null && manifests.has(signed)) {
      const list = signatures.get(signed) ?? [];
      list.push(t);
      signatures.set(signed, list);
    } else {
      ranked.push(t);
    }
  }
  // Newest first; equal push times by name, so a plan never depends on the order rows came in.
  ranked.sort((a, b) =>
    a.pushedAt !== b.pushedAt ? (a.pushedAt > b.pushedAt ? -1 : 1) : a.tag < b.tag ? -1 : 1,
  );

  const steps: Step[] = [];
  const tagsLeft = new Map<string, number>();
  for (const t of view.tags) tagsLeft.set(t.digest, (tagsLeft.get(t.digest) ?? 0) + 1);
  /** Manifests this plan takes the last tag from, in the order that happened. */
  const untagged: string[] = [];
  const removeTag = (t: RetentionTag, reason: string, after?: string): void => {
    steps.push({ kind: 'tag', tag: t, reason, ...(after !== undefined && { after }) });
    const left = (tagsLeft.get(t.digest) ?? 1) - 1;
    tagsLeft.set(t.digest, left);
    if (left === 0) untagged.push(t.digest);
  };

  ranked.forEach((t, rank) => {
    const keep =
      (policy.keepLast !== undefined && rank < policy.keepLast) ||
      (cutoff !== null &&
        (t.pushedAt >= cutoff || (t.lastPulledAt !== null && t.lastPulledAt >= cutoff))) ||
      (keepTags?.test(t.tag) ?? false);
    if (keep) kept += 1;
    else removeTag(t, REASON_NO_RULE);
  });

  // A manifest goes once every index of the repository listing it goes: repeated until nothing
  // changes, so an index comes before its children and an image before its signatures' tags.
  const parents = new Map<string, string[]>();
  for (const { index, child } of view.children) {
    const list = parents.get(child) ?? [];
    list.push(index);
    parents.set(child, list);
  }
  const deleted = new Set<string>();
  for (let changed = true; changed;) {
    changed = false;
    for (const digest of untagged) {
      if (deleted.has(digest)) continue;
      if (!(parents.get(digest) ?? []).every((p) => deleted.has(p))) continue;
      deleted.add(digest);
      steps.push({ kind: 'manifest', digest });
      changed = true;
      for (const sig of signatures.get(digest) ?? []) removeTag(sig, REASON_IMAGE_REMOVED, digest);
      signatures.delete(digest);
    }
  }
  for (const list of signatures.values()) kept += list.length;
  return { steps, kept };
}

/** `sha256:<hex>` for a cosign tag `sha256-<hex>.sig`, else null. */
function cosignTarget(tag: string): string | null {
  const m = COSIGN_TAG.exec(tag);
  return m ? `${m[1] ?? ''}:${m[2] ?? ''}` : null;
}

/** A dry run: the plan as it stands. */
function record(report: RetentionReport, repository: string, plan: Plan): void {
  report.kept += plan.kept;
  for (const step of plan.steps) {
    if (step.kind === 'tag') report.tags.push(tagEntry(repository, step));
    else report.manifests.push({ repository, digest: step.digest });
  }
}

/**
 * A real run: each step through the store, which checks again. A step that finds things changed
 * keeps what it would have removed; a signature's tag goes only once its image really went.
 */
async function carryOut(
  deps: RetentionDeps,
  report: RetentionReport,
  repository: string,
  plan: Plan,
): Promise<void> {
  const { meta } = deps;
  report.kept += plan.kept;
  const deleted = new Set<string>();
  for (const step of plan.steps) {
    if (step.kind === 'manifest') {
      // Untagged only: a push that tagged it since is never undone; an index listing it refuses.
      if ((await meta.deleteManifest(repository, step.digest, true)) === 'deleted') {
        deleted.add(step.digest);
        report.manifests.push({ repository, digest: step.digest });
      }
      continue;
    }
    if (step.after !== undefined && !deleted.has(step.after)) {
      report.kept += 1;
      continue;
    }
    const { tag, digest, pushedAt } = step.tag;
    const result = await meta.deleteTag(repository, tag, { digest, pushedAt });
    if (result === 'deleted') report.tags.push(tagEntry(repository, step));
    // Gone already ('unknown') counts neither way; moved, pushed again or made immutable stays.
    else if (result !== 'unknown') report.kept += 1;
  }
}

function tagEntry(
  repository: string,
  step: Extract<Step, { kind: 'tag' }>,
): RetentionReport['tags'][number] {
  return { repository, tag: step.tag.tag, digest: step.tag.digest, reason: step.reason };
}
