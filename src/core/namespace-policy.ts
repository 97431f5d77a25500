/**
 * @module core/namespace-policy
 * Per-namespace content rules, shared by the metadata store (which checks them inside the write's
 * transaction) and the CLI and admin API (which validate what an operator sets):
 * - immutable tags: glob patterns (`*` any run, `?` one character); a matching tag, once it
 *   exists, is never moved to another digest nor deleted;
 * - index children: which children of an index must exist in the repository when it is pushed:
 *   `all`, `none`, or a list of platforms (`linux/amd64,linux/arm64/v8`). `none` is a sparse
 *   store (a partial mirror): an image's layers may be missing too, as in the OCI conformance
 *   suite's "sparse manifests" data set; its config must still exist (clients read it first).
 */
import { RegistryError } from './errors.js';

/** A tag pattern: tag characters plus the two wildcards. */
const PATTERN = /^[A-Za-z0-9_.\-*?]{1,128}$/;
/** `os/arch` or `os/arch/variant`, as in an index's platform fields. */
const PLATFORM = /^[a-z0-9][a-z0-9._-]*\/[a-z0-9][a-z0-9._-]*(?:\/[a-z0-9][a-z0-9._-]*)?$/;

export type IndexChildren = 'all' | 'none' | readonly string[];

/** Why a tag may not change: the tag, the rule it matches and the namespace holding the rule. */
export interface ImmutableTagRule {
  tag: string;
  rule: string;
  namespace: string;
}

export function immutableTagDenied(r: ImmutableTagRule, change: string): RegistryError {
  return new RegistryError(
    'DENIED',
    `tag ${r.tag} matches the immutable-tag rule ${r.rule} of namespace ${r.namespace}: it cannot be ${change}`,
    { tag: r.tag, rule: r.rule, namespace: r.namespace, reason: 'immutable-tag' },
  );
}

/** Validates and normalises immutable-tag patterns (duplicates dropped, order kept). */
export function parseTagPatterns(patterns: readonly string[]): string[] {
  for (const p of patterns) {
    if (!PATTERN.test(p)) {
      throw new RegistryError(
        'INVALID_REQUEST',
        `immutable-tag pattern ${JSON.stringify(p.slice(0, 200))} is not a tag pattern: ` +
          'letters, digits, ".", "_", "-" and the wildcards "*" and "?"',
        { pattern: p.slice(0, 200) },
      );
    }
  }
  return [...new Set(patterns)];
}

// Patterns are compiled once per distinct rule set: a namespace's rules are read on every tag
// write, and the same few sets come back again and again.
const compiled = new Map<string, { pattern: string; regex: RegExp }[]>();

function compile(patterns: readonly string[]): { pattern: string; regex: RegExp }[] {
  const key = patterns.join('\n');
  let rules = compiled.get(key);
  if (!rules) {
    rules = patterns.map((pattern) => ({
      pattern,
      regex: new RegExp(
        `^${pattern.replace(/[.*?\\^$+()[\]{}|-]/g, (c) => (c === '*' ? '.*' : c === '?' ? '.' : `\\${c}`))}$`,
        's',
      ),
    }));
    // Bounded: rule sets only change when an operator edits them, but never let it grow forever.
    if (compiled.size >= 256) compiled.clear();
    compiled.set(key, rules);
  }
  return rules;
}

/** The first of `patterns` that `tag` matches, or null. */
export function matchImmutableRule(patterns: readonly string[], tag: string): string | null {
  if (patterns.length === 0) return null;
  return compile(patterns).find((r) => r.regex.test(tag))?.pattern ?? null;
}

/**
 * Parses `all`, `none` or a comma-separated platform list (INVALID_REQUEST otherwise). Platforms
 * are `os/arch` (any variant matches) or `os/arch/variant`.
 */
export function parseIndexChildren(value: string): IndexChildren {
  const text = value.trim();
  if (text === 'all' || text === 'none') return text;
  const platforms = text.split(',').map((p) => p.trim());
  const bad = platforms.find((p) => !PLATFORM.test(p));
  if (bad !== undefined || platforms.length === 0) {
    throw new RegistryError(
      'INVALID_REQUEST',
      `index-children ${JSON.stringify(value.slice(0, 200))} is not "all", "none" or a ` +
        'comma-separated platform list such as linux/amd64,linux/arm64/v8',
      { indexChildren: value.slice(0, 200) },
    );
  }
  return [...new Set(platforms)];
}

export function formatIndexChildren(value: IndexChildren): string {
  return typeof value === 'string' ? value : value.join(',');
}

/** The platform of an index child as `os/arch[/variant]`, or null when it names none. */
export function platformKey(platform: unknown): string | null {
  if (typeof platform !== 'object' || platform === null) return null;
  const { os, architecture, variant } = platform as Record<string, unknown>;
  if (typeof os !== 'string' || typeof architecture !== 'string') return null;
  return typeof variant === 'string' && variant !== ''
    ? `${os}/${architecture}/${variant}`
    : `${os}/${architecture}`;
}

/** Whether a child with this platform must exist under the policy. */
export function childRequired(policy: IndexChildren, platform: string | null): boolean {
  if (policy === 'all') return true;
  if (policy === 'none' || platform === null) return false;
  // A listed `os/arch` asks for every variant of it; `os/arch/variant` for that one only.
  return policy.some((p) => platform === p || platform.startsWith(`${p}/`));
}
