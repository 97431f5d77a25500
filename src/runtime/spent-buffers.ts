/**
 * @module runtime/spent-buffers
 * Keeps the memory of streamed blob bytes flat.
 *
 * Every socket read of an upload is a fresh 64 KiB buffer. V8 frees it only when a garbage
 * collection finds its small JavaScript wrapper dead, and with a 2 MiB young generation (npm
 * start's flags) wrappers fill it slowly: tens of MB of spent buffers pile up between
 * collections, and glibc keeps the heap they grew (a 256 MiB push took the server from 73 to
 * ~108 MB and it stayed there). When node runs with `--expose-gc` (npm start does), a
 * young-generation collection every 8 MiB of streamed bytes, from all uploads together, frees
 * them as they go: peak 89–90 MB for the same push, for ~0.3 ms per collection. Without the
 * flag this does nothing.
 */
const COLLECT_EVERY_BYTES = 8 * 1024 * 1024;

type Gc = (options: { type: 'minor' | 'major' }) => void;

let sinceCollect = 0;

/** Counts bytes a stream has finished with; collects the young generation every 8 MiB. */
export function noteSpentBytes(bytes: number): void {
  sinceCollect += bytes;
  if (sinceCollect < COLLECT_EVERY_BYTES) return;
  sinceCollect = 0;
  (globalThis as { gc?: Gc }).gc?.({ type: 'minor' });
}
