/**
 * @module registry/quota
 * Namespace quotas at the points where a push adds bytes: an upload session starts, a blob is
 * mounted, an upload completes. The manifest PUT, where a push is committed, is checked inside
 * the store's transaction (meta/sql-quota.ts). What a namespace holds counts links younger than
 * the GC grace (a push in progress), so these earlier checks refuse a push that cannot fit before
 * all of its layers are uploaded, not only at its manifest.
 */
import { quotaExceeded } from '../core/quota.js';
import type { RegistryError } from '../core/errors.js';
import type { NamespaceMeta, NamespaceRow, QuotaMeta } from '../meta/store.js';

export interface QuotaService {
  /**
   * The refusal (403 DENIED) for adding to the namespace, or null when it fits or has no quota.
   * Without `blob` (a new upload session, size unknown yet): refused once the namespace holds its
   * quota or more. With it: refused when the blob is new to the namespace and would take it over
   * the quota; a blob the namespace holds already costs nothing. Given the namespace's row (read
   * already by the caller), it is not read again.
   */
  refusal(
    namespace: string | NamespaceRow,
    blob?: { digest: string; size: number },
  ): Promise<RegistryError | null>;
  /** Bytes the namespace holds. */
  usedBytes(namespace: string): Promise<number>;
  /** Bytes each namespace holds (absent: none), in one query. */
  usedBytesByNamespace(): Promise<Map<string, number>>;
}

export function createQuotaService(deps: {
  meta: QuotaMeta & Pick<NamespaceMeta, 'getNamespace'>;
  /** How long an unreferenced blob link counts (the GC grace): a push is that long at most. */
  graceMs: number;
  clock?: () => Date;
}): QuotaService {
  const { meta, graceMs } = deps;
  const clock = deps.clock ?? (() => new Date());
  const linkedSince = (): string => new Date(clock().getTime() - graceMs).toISOString();

  return {
    async refusal(target, blob) {
      const row = typeof target === 'string' ? await meta.getNamespace(target) : target;
      const namespace = typeof target === 'string' ? target : target.name;
      const quotaBytes = row?.quotaBytes ?? null;
      if (quotaBytes === null) return null;
      const since = linkedSince();
      if (blob && (await meta.namespaceHoldsBlob(namespace, blob.digest, since))) return null;
      const usedBytes = await meta.namespaceUsedBytes(namespace, since);
      const fits = blob ? usedBytes + blob.size <= quotaBytes : usedBytes < quotaBytes;
      if (fits) return null;
      return quotaExceeded({
        namespace,
        usedBytes,
        quotaBytes,
        ...(blob ? { addingBytes: blob.size } : {}),
      });
    },
    usedBytes: (namespace) => meta.namespaceUsedBytes(namespace, linkedSince()),
    usedBytesByNamespace: () => meta.usedBytesByNamespace(linkedSince()),
  };
}
