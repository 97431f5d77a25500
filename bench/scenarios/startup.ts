/**
 * Start-to-ready (spawn to the first 200 on GET /v2/) and resident memory once idle, with its
 * anonymous and file-backed parts (a Node process maps about 34 MB of its executable before it
 * runs a line; the anonymous part is what the program itself holds).
 */
import { rssBytes, rssParts } from '../lib/proc-stats.js';
import { figure, MB, type Scenario } from '../lib/scenario.js';
import { sleep } from '../lib/stats.js';

export const startup: Scenario = {
  name: 'startup',
  title: 'start to ready, idle RSS',
  async run(ctx) {
    await sleep(ctx.sizes.idleMs);
    const { pid } = ctx.registry;
    const { anonBytes, fileBytes } = rssParts(pid);
    return [
      figure('startup', 'ready', 'start to ready', 'ms', 'lower', ctx.registry.readyMs),
      figure('startup', 'idle-rss', 'idle RSS', 'MB', 'lower', rssBytes(pid) / MB),
      figure('startup', 'idle-rss-anon', 'idle RSS: anonymous', 'MB', 'lower', anonBytes / MB),
      figure('startup', 'idle-rss-file', 'idle RSS: file-backed', 'MB', 'lower', fileBytes / MB),
    ];
  },
};
