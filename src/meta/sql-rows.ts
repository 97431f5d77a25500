/**
 * @module meta/sql-rows
 * Manifest rows as stored (snake_case columns, JSON text, engine-specific number and byte types)
 * into the MetaStore's row types; shared by sql-store.ts and sql-browse.ts.
 */
import type { ManifestRow, ManifestWithPayload } from './store.js';

export interface ManifestSqlRow {
  repository: string;
  digest: string;
  media_type: string;
  size: number | string;
  artifact_type: string | null;
  subject: string | null;
  annotations: string | null;
  created_at: string;
  pushed_by: string | null;
}

export function toManifestRow(row: ManifestSqlRow): ManifestRow {
  return {
    repository: row.repository,
    digest: row.digest,
    mediaType: row.media_type,
    size: Number(row.size),
    artifactType: row.artifact_type,
    subject: row.subject,
    annotations: parseAnnotations(row.annotations),
    createdAt: row.created_at,
    pushedBy: row.pushed_by,
  };
}

/**
 * The stored annotations, or null when the column holds anything but a JSON object of strings: a
 * row written by hand or by an older version must not make a listing (referrers, tags) fail.
 */
function parseAnnotations(text: string | null): Record<string, string> | null {
  if (text === null) return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  // fromEntries defines own properties: a "__proto__" key stays a key, not a prototype.
  return Object.fromEntries(
    Object.entries(value).filter((e): e is [string, string] => typeof e[1] === 'string'),
  );
}

export function toManifestWithPayload(
  row: ManifestSqlRow & { payload: Uint8Array },
): ManifestWithPayload {
  const payload = Buffer.isBuffer(row.payload)
    ? row.payload
    : Buffer.from(row.payload.buffer, row.payload.byteOffset, row.payload.byteLength);
  return { ...toManifestRow(row), payload };
}
