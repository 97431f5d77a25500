/**
 * @module storage/s3/buffers
 * The memory budget of S3 uploads. A multipart part must be sent with its length known (a Buffer
 * body: RGW 16 refuses streamed `aws-chunked` bodies, ENGINES.md §4), so an upload gathers up
 * to one part in memory. All uploads of the process share {@link PART_BUDGET} bytes of part
 * buffers: an upload that finds the budget spent waits for a buffer rather than allocating
 * beyond it, so memory stays flat however many clients push. Buffers are kept and reused: a
 * fresh 8 MiB allocation per part would leave the heap to the collector's timing.
 */
const MiB = 1024 * 1024;

/** 64 MiB: eight 8 MiB part buffers, i.e. eight uploads streaming parts at once. */
export const PART_BUDGET = 64 * MiB;

/** Smaller buffers (a short write's exact length) are not kept for reuse. */
const KEEP_FROM = MiB;

interface Waiter {
  size: number;
  resolve: (buffer: Buffer) => void;
  reject: (error: Error) => void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

class PartBuffers {
  private inUse = 0;
  private readonly free = new Map<number, Buffer[]>();
  private readonly waiting: Waiter[] = [];

  constructor(private readonly budget: number) {}

  /** Bytes held by buffers lent out (for tests and diagnostics). */
  get lent(): number {
    return this.inUse;
  }

  /** A buffer of `size` bytes (contents undefined) once the budget allows; give it back with release. */
  acquire(size: number, signal?: AbortSignal): Promise<Buffer> {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    if (this.waiting.length === 0 && this.fits(size)) return Promise.resolve(this.take(size));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        size,
        resolve,
        reject,
        signal,
        onAbort: () => {
          this.waiting.splice(this.waiting.indexOf(waiter), 1);
          reject(abortReason(signal));
          this.wake();
        },
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      this.waiting.push(waiter);
    });
  }

  release(buffer: Buffer): void {
    this.inUse -= buffer.length;
    if (buffer.length < KEEP_FROM) return this.wake();
    const list = this.free.get(buffer.length) ?? [];
    list.push(buffer);
    this.free.set(buffer.length, list);
    this.wake();
  }

  /** A single buffer bigger than the budget is still lent, alone: one upload must always progress. */
  private fits(size: number): boolean {
    return this.inUse === 0 || this.inUse + size <= this.budget;
  }

  private take(size: number): Buffer {
    this.inUse += size;
    const reused = this.free.get(size)?.pop();
    if (reused) return reused;
    if (size < KEEP_FROM) return Buffer.allocUnsafe(size);
    // Cached buffers of other sizes (another driver's part size) are dropped, not hoarded.
    this.dropCached(size);
    return Buffer.allocUnsafeSlow(size);
  }

  private dropCached(keep: number): void {
    let cached = 0;
    for (const [size, list] of this.free) cached += size * list.length;
    if (this.inUse + cached <= this.budget) return;
    for (const size of [...this.free.keys()]) if (size !== keep) this.free.delete(size);
  }

  private wake(): void {
    // First come, first served: a big request at the head is not overtaken by small ones.
    while (this.waiting.length > 0) {
      const next = this.waiting[0];
      if (!next || !this.fits(next.size)) return;
      this.waiting.shift();
      next.signal?.removeEventListener('abort', next.onAbort);
      next.resolve(this.take(next.size));
    }
  }
}

function abortReason(signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason;
  return reason instanceof Error ? reason : new Error('aborted');
}

/** The process-wide pool every S3 driver's uploads draw from. */
export const partBuffers = new PartBuffers(PART_BUDGET);
