/**
 * Concurrent monolithic pushes: N clients, each with its own connection, each pushing its blobs
 * one after the other. Aggregate throughput over the wall time, and the time of each blob (POST to
 * the final 201), which is what a user waiting on `docker push` of a many-layer image sees.
 */
import { MiB, type Blob } from '../lib/blobs.js';
import { figure, measured, MB, type Scenario, type Sizes } from '../lib/scenario.js';
import { percentile } from '../lib/stats.js';

function blobsOf(get: (id: string, size: number) => Blob, s: Sizes): Blob[][] {
  return Array.from({ length: s.concurrentClients }, (_, c) =>
    Array.from({ length: s.concurrentBlobs }, (_, i) =>
      get(`concurrent-${c}-${i}`, s.concurrentBlob),
    ),
  );
}

export const concurrent: Scenario = {
  name: 'concurrent',
  title: 'concurrent monolithic pushes',
  prepare: (blobs, s) => void blobsOf((id, size) => blobs.blob(id, size), s),
  async run(ctx) {
    const s = ctx.sizes;
    const workers = blobsOf((id, size) => ctx.blobs.blob(id, size), s).map((list, c) => ({
      list,
      repo: `library/concurrent-${c}`,
      client: ctx.client(),
    }));
    const bytes = s.concurrentClients * s.concurrentBlobs * s.concurrentBlob;
    const label = `concurrent push ${s.concurrentClients} clients × ${s.concurrentBlobs} × ${Math.round(s.concurrentBlob / MiB)} MiB`;
    const {
      result: times,
      usage,
      figures,
    } = await measured(
      ctx,
      { scenario: 'concurrent', id: 'push', label },
      () => ({ bytes }),
      async () => {
        const times: number[] = [];
        await Promise.all(
          workers.map(async ({ list, repo, client }) => {
            for (const blob of list) {
              const t0 = performance.now();
              await client.pushMonolithic(repo, blob);
              times.push(performance.now() - t0);
            }
          }),
        );
        return times;
      },
    );
    return [
      figure('concurrent', 'push.mbps', label, 'MB/s', 'higher', bytes / MB / usage.wallSeconds),
      figure(
        'concurrent',
        'push.p50',
        `${label}: p50 per blob`,
        'ms',
        'lower',
        percentile(times, 50),
      ),
      figure(
        'concurrent',
        'push.p99',
        `${label}: p99 per blob`,
        'ms',
        'lower',
        percentile(times, 99),
      ),
      ...figures,
    ];
  },
};
