/**
 * @module doctor/lifetime
 * Check 7: the token lifetime against a slow push. A client gets one token per push; a layer that
 * uploads for longer than the token lives outlasts it. Berth binds an upload session to the
 * principal that opened it, so the push still completes here, but proxies or other registries
 * that check the token on every request answer 401 in the middle of the layer.
 */
import { finding, type Finding } from './types.js';

/** The layer size the estimate is made for. */
export const LARGE_LAYER_BYTES = 2_000_000_000;

export function formatDuration(seconds: number): string {
  if (seconds < 90) return `${Math.max(1, Math.round(seconds))} s`;
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

export function formatRate(bytesPerSecond: number): string {
  const mb = bytesPerSecond / 1_000_000;
  return `${mb >= 10 ? Math.round(mb) : mb.toFixed(1)} MB/s`;
}

/** Below this, connection set-up and the final fsync dominate and the rate means little. */
export const MIN_SAMPLE_BYTES = 10_000_000;

export function judgeLifetime(
  expiresInSeconds: number | undefined,
  upload: { bytes: number; bytesPerSecond: number } | undefined,
): Finding {
  if (upload === undefined || upload.bytesPerSecond <= 0)
    return finding('lifetime', 'skip', { summary: 'no upload rate measured' });
  if (upload.bytes < MIN_SAMPLE_BYTES)
    return finding('lifetime', 'skip', {
      summary: `the test upload was too small to measure a rate (--blob-size-mb ${MIN_SAMPLE_BYTES / 1_000_000} or more)`,
    });
  const { bytesPerSecond } = upload;
  if (expiresInSeconds === undefined)
    return finding('lifetime', 'skip', {
      summary: 'no token lifetime to compare (no Bearer token)',
    });
  const seconds = LARGE_LAYER_BYTES / bytesPerSecond;
  const data = {
    estimateSeconds: Math.round(seconds),
    expiresIn: expiresInSeconds,
    bytesPerSecond: Math.round(bytesPerSecond),
  };
  const head = `a 2 GB layer takes about ${formatDuration(seconds)} at the measured ${formatRate(bytesPerSecond)}`;
  if (seconds <= expiresInSeconds) {
    return finding(
      'lifetime',
      'pass',
      { summary: `${head}, within the token lifetime (${formatDuration(expiresInSeconds)})` },
      data,
    );
  }
  return finding(
    'lifetime',
    'warn',
    {
      summary: `${head}, longer than the token lifetime (${formatDuration(expiresInSeconds)})`,
      explanation:
        'The token expires in the middle of such a layer. Berth binds an upload to the user who started it, so the push still completes here; other registries, or a proxy that checks tokens on every request, answer 401 mid-layer and docker starts the layer again.',
      fix: 'if something in front checks tokens, make the token lifetime longer than the longest push (Berth: auth.tokenTtlSeconds) or push over a faster path',
    },
    data,
  );
}
