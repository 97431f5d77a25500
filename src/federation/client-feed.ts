/**
 * @module federation/client-feed
 * The stream a fill's first client reads. It is fed the verified bytes as they pass into the
 * cache without holding the fill back: the cache sets the pace, so a slow or stalled client cannot
 * hold up the fill and every pull waiting for it. A client that falls more than `maxLag` bytes
 * behind stops being fed live; once the blob is cached it goes on from the cache, from the offset
 * it had reached. Memory per fill is therefore bounded by `maxLag`.
 *
 * When the cache cannot take the blob (a full disk, the quota), there is nothing to go on from:
 * the feed is then paced by its client again (`paceWith`), and a client already left behind fails.
 */
import { Readable } from 'node:stream';

export class ClientFeed extends Readable {
  private sent = 0;
  private detached = false;
  private pacer: Readable | null = null;
  private waiting: (() => void) | null = null;

  constructor(private readonly maxLag: number) {
    super();
    // A client that leaves while the feed waits for it to read must not leave that wait hanging.
    this.once('close', () => {
      this.wake();
      this.pacer?.destroy();
    });
  }

  /** True once the client fell behind: it goes on from the cache after the fill. */
  get behind(): boolean {
    return this.detached;
  }

  /** Bytes handed to the client so far. */
  get offset(): number {
    return this.sent;
  }

  /** A verified chunk of the fill. */
  offer(chunk: Buffer): void {
    if (this.detached || this.destroyed) return;
    if (this.pacer === null && this.readableLength + chunk.length > this.maxLag) {
      this.detached = true;
      return;
    }
    this.sent += chunk.length;
    if (!this.push(chunk)) this.pacer?.pause();
  }

  /** The fill's bytes are all verified: a client that kept up has everything. */
  finishLive(): void {
    if (!this.detached && !this.destroyed) this.push(null);
  }

  /**
   * The cache failed: `source` (the verified upstream stream) now waits for this client. False
   * (and the client fails) when it had fallen behind, since the bytes it missed are nowhere.
   */
  paceWith(source: Readable, reason: Error): boolean {
    if (this.destroyed) return false;
    if (this.detached) {
      this.destroy(reason);
      return false;
    }
    this.pacer = source;
    return true;
  }

  /** After the fill: the rest, from `open(offset)` (null when there is nothing more). */
  async continueFrom(open: (offset: number) => Promise<Readable | null>): Promise<void> {
    if (!this.detached || this.destroyed) return;
    let body: Readable | null = null;
    try {
      body = await open(this.sent);
      if (body !== null) {
        for await (const chunk of body as AsyncIterable<Buffer>) {
          if (this.gone()) return;
          this.sent += chunk.length;
          if (!this.push(chunk)) await new Promise<void>((resolve) => (this.waiting = resolve));
        }
      }
      if (!this.gone()) this.push(null);
    } catch (e) {
      this.destroy(e instanceof Error ? e : new Error('reading the cached blob failed'));
    } finally {
      body?.destroy();
    }
  }

  override _read(): void {
    this.wake();
    this.pacer?.resume();
  }

  /** Read anew each time: the client may leave during any await (no narrowing across them). */
  private gone(): boolean {
    return this.destroyed;
  }

  private wake(): void {
    const resolve = this.waiting;
    this.waiting = null;
    resolve?.();
  }
}
