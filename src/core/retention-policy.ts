/**
 * @module core/retention-policy
 * A namespace's retention policy: which tags to keep, and how long untagged manifests stay.
 * Shared by the metadata store (stored as JSON), the CLI and admin API (which validate what an
 * operator sets) and lifecycle/retention.ts (which applies it).
 *
 * A tag is kept when any keep-rule matches it. Tags are pruned only when at least one keep-rule
 * is set: a policy of `untagged-days` alone never removes a tag.
 *
 * Text form (CLI, `berth namespace set NAME --retention …`):
 * `keep-last=10,keep-days=30,keep-tags=^v\d,untagged-days=7`, or `off`.
 */
import { RegistryError } from './errors.js';

export interface RetentionPolicy {
  /** Keep the N most recently pushed tags of each repository. */
  keepLast?: number;
  /** Keep tags pushed, or whose manifest was pulled, within this many days. */
  keepDays?: number;
  /** Keep tags matching this regular expression (JavaScript syntax, unanchored). */
  keepTags?: string;
  /** Collect untagged manifests this many days after they became untagged (0: never). */
  untaggedDays?: number;
}

const KEYS = {
  'keep-last': 'keepLast',
  'keep-days': 'keepDays',
  'keep-tags': 'keepTags',
  'untagged-days': 'untaggedDays',
} as const;

const MAX_DAYS = 36500;
const MAX_REGEX = 256;

function invalid(message: string): RegistryError {
  return new RegistryError('INVALID_REQUEST', message);
}

/** True when the policy may remove tags (it has a keep-rule). */
export function prunesTags(p: RetentionPolicy): boolean {
  return p.keepLast !== undefined || p.keepDays !== undefined || p.keepTags !== undefined;
}

/** Validates a policy (from JSON or the text form); throws INVALID_REQUEST naming the field. */
export function validateRetention(p: RetentionPolicy): RetentionPolicy {
  // A misspelt rule (`keepTag`) must not be dropped quietly: the tags it was to keep would go.
  const unknown = Object.keys(p).find((k) => !(Object.values(KEYS) as string[]).includes(k));
  if (unknown !== undefined)
    throw invalid(
      `retention has no rule ${JSON.stringify(unknown.slice(0, 100))}: the rules are keepLast, keepDays, keepTags, untaggedDays`,
    );
  const out: RetentionPolicy = {};
  const int = (name: string, v: unknown, min: number, max: number): number => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
      throw invalid(`retention ${name} must be a whole number from ${min} to ${max}`);
    return v;
  };
  if (p.keepLast !== undefined) out.keepLast = int('keep-last', p.keepLast, 1, 1_000_000);
  if (p.keepDays !== undefined) out.keepDays = int('keep-days', p.keepDays, 1, MAX_DAYS);
  if (p.untaggedDays !== undefined)
    out.untaggedDays = int('untagged-days', p.untaggedDays, 0, MAX_DAYS);
  if (p.keepTags !== undefined) {
    if (typeof p.keepTags !== 'string' || p.keepTags.length === 0 || p.keepTags.length > MAX_REGEX)
      throw invalid(
        `retention keep-tags must be a regular expression of 1 to ${MAX_REGEX} characters`,
      );
    try {
      new RegExp(p.keepTags, 'u');
    } catch (e) {
      throw invalid(`retention keep-tags is not a regular expression: ${(e as Error).message}`);
    }
    out.keepTags = p.keepTags;
  }
  if (Object.keys(out).length === 0)
    throw invalid(
      'a retention policy needs at least one rule (keep-last, keep-days, keep-tags, untagged-days)',
    );
  return out;
}

/** Parses the text form; null for `off` (no policy). */
export function parseRetention(text: string): RetentionPolicy | null {
  const trimmed = text.trim();
  if (trimmed === 'off' || trimmed === 'none') return null;
  const policy: Record<string, unknown> = {};
  // A comma starts a new rule only before `name=`: a keep-tags regex may hold commas itself.
  for (const part of trimmed.split(/,(?=\s*[a-z-]+=)/)) {
    const eq = part.indexOf('=');
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1);
    const field = (KEYS as Record<string, keyof RetentionPolicy | undefined>)[key];
    if (eq < 0 || field === undefined)
      throw invalid(
        `retention rule ${JSON.stringify(part.slice(0, 100))} is not one of keep-last=N, keep-days=N, keep-tags=REGEX, untagged-days=N (or off)`,
      );
    policy[field] =
      field === 'keepTags' ? value : /^\d+$/.test(value.trim()) ? Number(value) : value;
  }
  return validateRetention(policy);
}

/** The text form of a policy ('off' for none), as the CLI prints it. */
export function formatRetention(p: RetentionPolicy | null): string {
  if (!p) return 'off';
  const parts: string[] = [];
  if (p.keepLast !== undefined) parts.push(`keep-last=${p.keepLast}`);
  if (p.keepDays !== undefined) parts.push(`keep-days=${p.keepDays}`);
  if (p.keepTags !== undefined) parts.push(`keep-tags=${p.keepTags}`);
  if (p.untaggedDays !== undefined) parts.push(`untagged-days=${p.untaggedDays}`);
  return parts.join(',');
}

/** The stored JSON, or null when absent or unreadable (a bad row must not break a listing). */
export function readStoredRetention(text: string | null): RetentionPolicy | null {
  if (text === null) return null;
  try {
    return validateRetention(JSON.parse(text) as RetentionPolicy);
  } catch {
    return null;
  }
}
