/**
 * A namespace's rules as an admin types them and as the API takes them: sizes (`10 GiB`),
 * tag-pattern lists, the index-children choice and the retention fields. Pure functions (no DOM),
 * unit-tested in node. The registry validates everything again; these catch typing slips early
 * and turn what the API sends back into the text the inputs start with.
 */
import type { RetentionPolicy } from './types';

const PREFIXES = ['', 'k', 'm', 'g', 't', 'p'] as const;
const SIZE = /^(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?)(b?)$/i;

/**
 * Bytes from a size as people write it: `10 GiB`, `10GiB`, `1.5G`, `500 MB`, `1048576`. `Ki`,
 * `KiB` and a bare `K` are 1024; `KB` is 1000 (as disks are sold). Null when it is not a size.
 */
export function parseSize(text: string): number | null {
  const m = SIZE.exec(text.trim());
  if (!m) return null;
  const [, number = '', prefix = '', binary = '', byteSign = ''] = m;
  const power = PREFIXES.indexOf(prefix.toLowerCase() as (typeof PREFIXES)[number]);
  if (power === 0 && binary !== '') return null; // `5 iB`
  const base = binary !== '' || byteSign === '' ? 1024 : 1000;
  const bytes = Number(number) * base ** power;
  // Whole bytes only: `1.5 B` is a slip. A fraction of a byte from a unit is cut, as the
  // registry's own parser (core/quota.ts) does for `berth namespace set --quota`.
  if (power === 0 && !Number.isInteger(bytes)) return null;
  const whole = Math.floor(bytes);
  return Number.isSafeInteger(whole) ? whole : null;
}

const EXACT_UNITS: readonly [bytes: number, name: string][] = PREFIXES.slice(1)
  .flatMap((p, i): [number, string][] => {
    const letter = p.toUpperCase();
    return [
      [1024 ** (i + 1), `${letter}iB`],
      [1000 ** (i + 1), `${letter}B`],
    ];
  })
  .sort(([a], [b]) => b - a);

/**
 * A byte count as the shortest text that parseSize reads back to exactly the same number, for an
 * input's starting value: `10 GiB`, `1.5 GiB`, `500 MB`, `1234 B`.
 */
export function sizeText(bytes: number): string {
  for (const [size, name] of EXACT_UNITS) {
    if (bytes < size) continue;
    const text = `${String(Math.round((bytes / size) * 100) / 100)} ${name}`;
    if (parseSize(text) === bytes) return text;
  }
  return `${String(bytes)} B`;
}

/** Tag patterns typed into one field, separated by commas or spaces; blanks and repeats dropped. */
export function parsePatterns(text: string): string[] {
  return [...new Set(text.split(/[\s,]+/).filter((p) => p !== ''))];
}

export type IndexChildrenChoice = 'default' | 'all' | 'none' | 'platforms';

/** The radio choice and platform text for what the API stores (null: the registry default). */
export function indexChildrenChoice(value: string | null): {
  choice: IndexChildrenChoice;
  platforms: string;
} {
  if (value === null) return { choice: 'default', platforms: '' };
  if (value === 'all' || value === 'none') return { choice: value, platforms: '' };
  return { choice: 'platforms', platforms: value.split(',').join(', ') };
}

/** What the API takes for a choice: platforms joined by commas; an error when none is named. */
export function indexChildrenValue(
  choice: IndexChildrenChoice,
  platforms: string,
): { value: string | null } | { error: string } {
  switch (choice) {
    case 'default':
      return { value: null };
    case 'all':
    case 'none':
      return { value: choice };
    case 'platforms': {
      const list = parsePatterns(platforms);
      if (list.length === 0) return { error: 'Name at least one platform, such as linux/amd64.' };
      return { value: list.join(',') };
    }
  }
}

/** The retention inputs, as text; an empty field is a rule not used. */
export interface RetentionFields {
  keepLast: string;
  keepDays: string;
  keepTags: string;
  untaggedDays: string;
}

export function retentionFields(policy: RetentionPolicy | null): RetentionFields {
  const text = (n: number | undefined): string => (n === undefined ? '' : String(n));
  return {
    keepLast: text(policy?.keepLast),
    keepDays: text(policy?.keepDays),
    keepTags: policy?.keepTags ?? '',
    untaggedDays: text(policy?.untaggedDays),
  };
}

/**
 * The policy the fields describe: null (off) when every field is empty; an error naming the
 * first field that is not a whole number in range. The tag regex is left to the registry, which
 * checks it with the engine that runs it.
 */
export function retentionFromFields(
  fields: RetentionFields,
): { policy: RetentionPolicy | null } | { error: string } {
  const policy: RetentionPolicy = {};
  const numbers = [
    ['keepLast', 'Keep the newest', 1],
    ['keepDays', 'Keep tags pushed or pulled within', 1],
    ['untaggedDays', 'Remove untagged manifests after', 0],
  ] as const;
  for (const [key, label, min] of numbers) {
    const text = fields[key].trim();
    if (text === '') continue;
    if (!/^\d+$/.test(text) || Number(text) < min || !Number.isSafeInteger(Number(text))) {
      return { error: `“${label}” must be a whole number of at least ${String(min)}.` };
    }
    policy[key] = Number(text);
  }
  if (fields.keepTags.trim() !== '') policy.keepTags = fields.keepTags.trim();
  return { policy: Object.keys(policy).length === 0 ? null : policy };
}
