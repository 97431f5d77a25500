/**
 * Listings: the tags list of a repository with many tags, and the catalog. Each is requested one
 * request at a time (the latency a client sees), after an untimed setup that pushes the tags or
 * repositories.
 */
import { ensureImageBlobs } from '../lib/images.js';
import { imageManifest } from '../lib/registry-client.js';
import {
  figure,
  measured,
  type Figure,
  type Scenario,
  type ScenarioContext,
} from '../lib/scenario.js';
import { forEachLimit, percentile } from '../lib/stats.js';

/** Parallel requests while setting up: quicker, and not what is measured. */
const SETUP_CONCURRENCY = 8;

/** Upper bound on the requests of one listing measurement, whatever the time. */
const MAX_REQUESTS = 100_000;

/**
 * GETs `path` one request at a time, at least `listingMinRequests` times and for at least
 * `listingMs` (so the server's CPU time, counted in 10 ms ticks, is many ticks).
 */
async function timedGets(
  ctx: ScenarioContext,
  scenario: string,
  id: string,
  label: string,
  path: string,
  note?: string,
): Promise<Figure[]> {
  const { listingMinRequests, listingMs } = ctx.sizes;
  const client = ctx.client();
  await client.getJson(path); // warm-up, untimed
  const { result: times, figures } = await measured(
    ctx,
    { scenario, id, label },
    (times) => ({ ops: times.length }),
    async () => {
      const times: number[] = [];
      const t0 = performance.now();
      while (
        times.length < MAX_REQUESTS &&
        (times.length < listingMinRequests || performance.now() - t0 < listingMs)
      ) {
        const t = performance.now();
        await client.getJson(path);
        times.push(performance.now() - t);
      }
      return times;
    },
  );
  return [
    figure(scenario, `${id}.p50`, `${label}: p50`, 'ms', 'lower', percentile(times, 50), note),
    figure(scenario, `${id}.p99`, `${label}: p99`, 'ms', 'lower', percentile(times, 99)),
    ...figures,
  ];
}

export const tags: Scenario = {
  name: 'tags',
  title: 'tags list of repositories with many tags, one request at a time',
  async run(ctx) {
    const out: Figure[] = [];
    for (const count of ctx.sizes.tagCounts) {
      const repo = `library/tags-${count}`;
      const client = ctx.client(SETUP_CONCURRENCY);
      const { config, layer } = await ensureImageBlobs(ctx, client, repo);
      const body = imageManifest(config, layer, 'tags');
      const names = Array.from({ length: count }, (_, t) => `t-${String(t).padStart(5, '0')}`);
      ctx.log(`pushing ${count} tags`);
      await forEachLimit(names, SETUP_CONCURRENCY, (tag) => client.putManifest(repo, tag, body));
      const list = (await client.getJson(`/v2/${repo}/tags/list`)) as { tags?: unknown[] };
      if (list.tags?.length !== count) {
        throw new Error(`tags list of ${repo} has ${list.tags?.length} tags, expected ${count}`);
      }
      out.push(
        ...(await timedGets(
          ctx,
          'tags',
          `t${count}`,
          `tags list (${count} tags)`,
          `/v2/${repo}/tags/list`,
        )),
      );
    }
    return out;
  },
};

export const catalog: Scenario = {
  name: 'catalog',
  title: 'catalog, one request at a time',
  async run(ctx) {
    const s = ctx.sizes;
    const client = ctx.client(SETUP_CONCURRENCY);
    const repos = Array.from(
      { length: s.catalogRepos },
      (_, i) => `library/catalog-${String(i).padStart(4, '0')}`,
    );
    ctx.log(`pushing ${repos.length} repositories`);
    await forEachLimit(repos, SETUP_CONCURRENCY, async (repo) => {
      const { config, layer } = await ensureImageBlobs(ctx, client, repo);
      await client.putManifest(repo, 'latest', imageManifest(config, layer, repo));
    });
    const listed = (await client.getJson('/v2/_catalog')) as { repositories?: unknown[] };
    const names = listed.repositories ?? [];
    if (!names.includes(repos[0])) throw new Error(`the catalog does not list ${repos[0]}`);
    const label = `catalog (${s.catalogRepos} repositories + those of other scenarios)`;
    return timedGets(ctx, 'catalog', 'get', label, '/v2/_catalog', `lists ${names.length}`);
  },
};
