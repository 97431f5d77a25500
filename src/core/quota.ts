/**
 * @module core/quota
 * Namespace quotas: sizes as operators write them (`10GiB`, `500MB`, `1.5G`, `1048576`), sizes as
 * people read them (`9.8 GiB`), and the refusal a client shows as is. Shared by the metadata
 * store (the manifest check in its transaction), the registry (upload and mount checks), the CLI
 * and the admin API.
 */
import { RegistryError } from './errors.js';

/** What a refusal reports: the namespace, what it holds and what it may hold, in bytes. */
export interface QuotaExceeded {
  namespace: string;
  usedBytes: number;
  quotaBytes: number;
  /** What the refused write would have added (omitted when it is a new upload session). */
  addingBytes?: number;
}

const KIB = 1024;

/**
 * Bytes per unit. One letter (`K`, `M`, `G`, `T`) and the IEC names (`KiB`…) are binary, as in
 * `docker run --memory 1g` and `df -h`, and as the sizes Berth prints; `KB`, `MB`, `GB`, `TB`
 * are decimal. Case is ignored.
 */
const UNITS: Readonly<Record<string, number>> = {
  '': 1,
  b: 1,
  k: KIB,
  kib: KIB,
  m: KIB ** 2,
  mib: KIB ** 2,
  g: KIB ** 3,
  gib: KIB ** 3,
  t: KIB ** 4,
  tib: KIB ** 4,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
};

const SIZE = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i;

/**
 * Bytes of a size such as `10GiB`, `500MB`, `1.5G` or `1048576` (a fraction is rounded down to a
 * whole byte); INVALID_REQUEST when it is not one.
 * @example parseSize('1.5G') === 1610612736
 */
export function parseSize(text: string): number {
  const m = SIZE.exec(text.trim());
  const unit = m?.[2] !== undefined ? UNITS[m[2].toLowerCase()] : undefined;
  const bytes = m?.[1] !== undefined && unit !== undefined ? Math.floor(Number(m[1]) * unit) : NaN;
  if (!Number.isSafeInteger(bytes)) {
    throw new RegistryError(
      'INVALID_REQUEST',
      `${JSON.stringify(text.slice(0, 100))} is not a size: write bytes or a number with a unit, ` +
        'e.g. 10GiB, 500MB, 1.5G (K, M, G, T and KiB… are binary; KB, MB, GB, TB decimal)',
    );
  }
  return bytes;
}

const NAMES = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'] as const;

/**
 * A size as people read it, in the largest binary unit that fits, with at most one decimal. The
 * decimal is cut, not rounded: 9.97 GiB used of 10 GiB reads 9.9, never "10 GiB of 10 GiB".
 * @example formatSize(10 * 1024 ** 3) === '10 GiB'
 */
export function formatSize(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= KIB && unit < NAMES.length - 1) {
    value /= KIB;
    unit++;
  }
  const shown = unit === 0 ? String(value) : String(Math.floor(value * 10) / 10);
  return `${shown} ${NAMES[unit] ?? 'B'}`;
}

/**
 * `403 DENIED`: docker prints the message as is (`denied: quota exceeded: namespace team uses
 * 9.8 GiB of 10 GiB`) and does not retry it. When the write's own size is what does not fit, the
 * message says so: "uses 2 GiB of 10 GiB" alone would puzzle whoever pushes a 9 GiB layer.
 */
export function quotaExceeded(q: QuotaExceeded): RegistryError {
  const adding =
    q.addingBytes !== undefined && q.usedBytes < q.quotaBytes
      ? `; this push needs ${formatSize(q.addingBytes)} more`
      : '';
  return new RegistryError(
    'DENIED',
    `quota exceeded: namespace ${q.namespace} uses ${formatSize(q.usedBytes)} of ${formatSize(q.quotaBytes)}${adding}`,
    { ...q, reason: 'quota' },
  );
}
