/**
 * @module registry/trash
 * GC's trash (layout.ts `trashKey`): GC moves a collected blob's file there inside the
 * transaction that deletes its row, and empties it after the commit. A crash in between leaves a
 * file there; whether it is garbage or must go back depends on the row, decided under the same
 * lock as GC's delete: a row means the transaction did not commit (the blob is still in use), so
 * the file goes back; no row means it committed, so the file goes.
 */
import type { Digest } from '../core/digest.js';
import type { MetaStore } from '../meta/store.js';
import type { StorageDriver } from '../storage/driver.js';
import { blobKey, digestOfTrashKey, TRASH_PREFIX, trashKey } from './layout.js';

export type TrashOutcome = 'restored' | 'removed' | 'absent';

/** Settles one trashed file: back into `blobs/` when its row exists, else deleted. */
export async function settleTrashed(
  meta: Pick<MetaStore, 'withBlobRow'>,
  storage: StorageDriver,
  digest: Digest,
): Promise<TrashOutcome> {
  const trashed = trashKey(digest);
  return meta.withBlobRow(digest, async (hasRow) => {
    if (!(await storage.stat(trashed))) return 'absent';
    if (hasRow && !(await storage.stat(blobKey(digest)))) {
      await storage.move(trashed, blobKey(digest));
      return 'restored';
    }
    await storage.delete(trashed);
    return 'removed';
  });
}

/** Settles everything a crashed collection left in the trash (at server start and before GC). */
export async function settleTrash(
  meta: Pick<MetaStore, 'withBlobRow'>,
  storage: StorageDriver,
): Promise<{ restored: number; removed: number }> {
  const counts = { restored: 0, removed: 0 };
  for await (const key of storage.list(TRASH_PREFIX)) {
    const digest = digestOfTrashKey(key);
    if (!digest) continue;
    const outcome = await settleTrashed(meta, storage, digest);
    if (outcome !== 'absent') counts[outcome] += 1;
  }
  return counts;
}
