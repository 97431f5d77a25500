/**
 * @module storage/s3/pump
 * Streams a request body into a sink the way the filesystem driver does (fs/driver.ts `pump`):
 * a failing sink only unpipes the body, which is the caller's (an HTTP request destroyed here
 * would leave its connection stuck with the unread rest of the body).
 */
import { finished, type Readable, type Writable } from 'node:stream';

export function pump(
  body: Readable,
  sink: Writable,
  signal: AbortSignal | undefined,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const abort = (): void => {
      sink.destroy(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
    };
    // The body failing (a client gone mid-chunk) fails the write.
    const stopWatchingBody = finished(body, (err) => {
      if (err) sink.destroy(err);
    });
    finished(sink, (err) => {
      stopWatchingBody();
      signal?.removeEventListener('abort', abort);
      if (err) {
        body.unpipe(sink);
        reject(err);
      } else resolve();
    });
    if (signal?.aborted) return abort();
    signal?.addEventListener('abort', abort, { once: true });
    body.pipe(sink);
  });
}
