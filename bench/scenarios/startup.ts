/** Start-to-ready (spawn to the first 200 on GET /v2/) and resident memory once idle. */
import { rssBytes } from '../lib/proc-stats.js';
import { figure, MB, type Scenario } from '../lib/scenario.js';
import { sleep } from '../lib/stats.js';

export const startup: Scenario = {
  name: 'startup',
  title: 'start to ready, idle RSS',
  async run(ctx) {
    await sleep(ctx.sizes.idleMs);
    return [
      figure('startup', 'ready', 'start to ready', 'ms', 'lower', ctx.registry.readyMs),
      figure('startup', 'idle-rss', 'idle RSS', 'MB', 'lower', rssBytes(ctx.registry.pid) / MB),
    ];
  },
};
