/**
 * Pull of a large blob, the client hashing every byte and checking the digest (as clients do).
 * The blob is pushed untimed first; the pulls are timed one after the other.
 */
import { MiB } from '../lib/blobs.js';
import { figure, measured, MB, type Scenario } from '../lib/scenario.js';

const mib = (bytes: number): string => `${Math.round(bytes / MiB)} MiB`;

export const pull: Scenario = {
  name: 'pull',
  title: 'blob pull with sha256 verification by the client',
  prepare: (blobs, s) => void blobs.blob('pull', s.largeBlob),
  async run(ctx) {
    const s = ctx.sizes;
    const blob = ctx.blobs.blob('pull', s.largeBlob);
    const client = ctx.client();
    const repo = 'library/pull';
    await client.pushMonolithic(repo, blob);
    const label = `pull ${mib(s.largeBlob)} × ${s.pullCount} (client verifies sha256)`;
    const { usage, figures } = await measured(
      ctx,
      { scenario: 'pull', id: 'pull', label },
      () => ({ bytes: blob.size * s.pullCount }),
      async () => {
        for (let i = 0; i < s.pullCount; i++) await client.pullVerified(repo, blob);
      },
    );
    const mbps = (blob.size * s.pullCount) / MB / usage.wallSeconds;
    return [figure('pull', 'pull.mbps', label, 'MB/s', 'higher', mbps), ...figures];
  },
};
