/**
 * @module storage/pump
 * Streams a request body into a driver's sink as pipeline() would, except that a failing sink (a
 * full disk, a failed part upload) only unpipes the body instead of destroying it: the body is
 * the caller's. An HTTP request destroyed here would leave its connection stuck with the unread
 * rest of the body; left alone, the server reads the rest of it, then answers and closes
 * (http/errors.ts). Shared by the filesystem and S3 drivers.
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
