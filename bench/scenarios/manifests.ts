/**
 * Manifests: pushes one after the other (each a distinct manifest under a new tag), then GET and
 * HEAD of one tag by 64 connections for a fixed time, after an untimed warm-up.
 */
import { createHash } from 'node:crypto';
import { ensureImageBlobs } from '../lib/images.js';
import { runLoad } from '../lib/loadgen.js';
import { imageManifest, MANIFEST_ACCEPT } from '../lib/registry-client.js';
import {
  figure,
  measured,
  type Figure,
  type Scenario,
  type ScenarioContext,
} from '../lib/scenario.js';
import { percentile } from '../lib/stats.js';

const REPO = 'library/manifests';

export const manifestPush: Scenario = {
  name: 'manifest-push',
  title: 'manifest pushes, one client, sequential',
  async run(ctx) {
    const n = ctx.sizes.manifestPushes;
    const client = ctx.client();
    const { config, layer } = await ensureImageBlobs(ctx, client, REPO);
    const bodies = Array.from({ length: n }, (_, i) => imageManifest(config, layer, `push-${i}`));
    const label = `manifest push × ${n}`;
    const {
      result: times,
      usage,
      figures,
    } = await measured(
      ctx,
      { scenario: 'manifest-push', id: 'put', label },
      () => ({ ops: n }),
      async () => {
        const times: number[] = [];
        for (const [i, body] of bodies.entries()) {
          const t0 = performance.now();
          await client.putManifest(REPO, `push-${i}`, body);
          times.push(performance.now() - t0);
        }
        return times;
      },
    );
    return [
      figure('manifest-push', 'put.ops', label, 'ops/s', 'higher', n / usage.wallSeconds),
      figure('manifest-push', 'put.p50', `${label}: p50`, 'ms', 'lower', percentile(times, 50)),
      figure('manifest-push', 'put.p99', `${label}: p99`, 'ms', 'lower', percentile(times, 99)),
      ...figures,
    ];
  },
};

/** Tags `latest` once per server run and checks GET returns it. */
async function ensureLatest(ctx: ScenarioContext): Promise<void> {
  if (ctx.state.has('latest')) return;
  const client = ctx.client();
  const { config, layer } = await ensureImageBlobs(ctx, client, REPO);
  const body = imageManifest(config, layer, 'latest');
  await client.putManifest(REPO, 'latest', body);
  const res = await client.getManifest(REPO, 'latest', 'GET');
  const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
  if (!res.body.equals(body) || res.headers['docker-content-digest'] !== digest) {
    throw new Error('GET manifest returned other bytes or digest than were pushed');
  }
  ctx.state.set('latest', true);
}

function manifestLoad(method: 'GET' | 'HEAD'): Scenario {
  const name = method === 'GET' ? 'manifest-get' : 'manifest-head';
  return {
    name,
    title: `manifest ${method} by tag, many connections, fixed time`,
    async run(ctx): Promise<Figure[]> {
      const s = ctx.sizes;
      await ensureLatest(ctx);
      const load = {
        url: `${ctx.registry.url}/v2/${REPO}/manifests/latest`,
        method,
        headers: { Accept: MANIFEST_ACCEPT },
        connections: s.loadConnections,
      };
      const warm = await runLoad({ ...load, durationMs: s.warmupMs });
      const label = `manifest ${method} by tag, ${s.loadConnections} connections`;
      const { result, figures } = await measured(
        ctx,
        { scenario: name, id: 'load', label },
        (r) => ({ ops: r.requests }),
        () => runLoad({ ...load, durationMs: s.loadMs }),
      );
      const failed = result.non2xx + result.errors + warm.non2xx + warm.errors;
      const note =
        failed > 0
          ? `${result.non2xx + warm.non2xx} non-2xx answers, ${result.errors + warm.errors} connection errors`
          : undefined;
      const value = (v: number): number | null => (failed > 0 ? null : v);
      return [
        figure(name, 'load.rps', label, 'req/s', 'higher', value(result.requestsPerSecond), note),
        figure(name, 'load.p50', `${label}: p50`, 'ms', 'lower', value(result.p50Ms), note),
        figure(name, 'load.p99', `${label}: p99`, 'ms', 'lower', value(result.p99Ms), note),
        ...figures,
      ];
    },
  };
}

export const manifestGet = manifestLoad('GET');
export const manifestHead = manifestLoad('HEAD');
