/** The token endpoint (tokens/s with cached credentials): Berth has no token auth yet. */
import { figure, type Scenario } from '../lib/scenario.js';

export const token: Scenario = {
  name: 'token',
  title: 'token endpoint, cached credentials',
  run: () =>
    Promise.resolve([
      figure(
        'token',
        'tokens',
        'token endpoint, cached credentials',
        'tokens/s',
        'higher',
        null,
        'n/a: Berth has no token endpoint yet',
      ),
    ]),
};
