/**
 * @module core/duration
 * Durations as operators write them (`90s`, `30m`, `1h`, `7d`, combined as `1h30m`), for the
 * configuration and CLI flags such as `berth gc --grace`.
 */

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const DURATION = /^(?:\d+(?:ms|s|m|h|d))+$/;
const PART = /(\d+)(ms|s|m|h|d)/g;

export const DURATION_PATTERN = '^(?:[0-9]+(?:ms|s|m|h|d))+$|^0$';

/** Milliseconds of a duration such as `1h30m`, or null when it is not one; `0` is zero. */
export function parseDuration(text: string): number | null {
  const value = text.trim();
  if (value === '0') return 0;
  if (!DURATION.test(value)) return null;
  let ms = 0;
  for (const [, n, unit] of value.matchAll(PART))
    ms += Number(n) * UNIT_MS[unit as keyof typeof UNIT_MS];
  return Number.isSafeInteger(ms) ? ms : null;
}

/** The shortest exact text of a duration: 3_600_000 → `1h`, 5_400_000 → `1h30m`. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0';
  let rest = ms;
  let out = '';
  for (const unit of ['d', 'h', 'm', 's', 'ms'] as const) {
    const n = Math.floor(rest / UNIT_MS[unit]);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * UNIT_MS[unit];
    }
  }
  return out;
}
