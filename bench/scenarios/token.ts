/**
 * The token endpoint: `GET /v2/token` with Basic credentials and a push scope, as docker, skopeo
 * and podman send before a push, from 16 keep-alive connections for a fixed time after a warm-up.
 * Only the first request pays for argon2 (verified credentials are cached), so the load measures
 * what every later token costs: the credential cache, the policy lookup and an ES256 signature.
 *
 * Runs against a Berth with authentication on. The reference has no token realm (Distribution
 * delegates tokens to a separate auth server), so only Berth is measured.
 */
import { expectStatus } from '../lib/http.js';
import { runLoad } from '../lib/loadgen.js';
import { figure, measured, type Figure, type Scenario } from '../lib/scenario.js';

const REPO = 'library/bench-token';
const SCOPE = `repository:${REPO}:pull,push`;
const PATH = `/v2/token?service=berth&scope=${encodeURIComponent(SCOPE)}`;

interface TokenBody {
  token?: string;
  access_token?: string;
}

function loadFigures(
  connections: number,
  values: { rate: number | null; p50: number | null; p99: number | null; first: number | null },
  note?: string,
): Figure[] {
  const label = `token endpoint, cached credentials, ${connections} connections`;
  return [
    figure('token', 'tokens', label, 'tokens/s', 'higher', values.rate, note),
    figure('token', 'p50', `${label}: p50`, 'ms', 'lower', values.p50, note),
    figure('token', 'p99', `${label}: p99`, 'ms', 'lower', values.p99, note),
    figure(
      'token',
      'first',
      'token endpoint, first request (password checked with argon2)',
      'ms',
      'lower',
      values.first,
      note,
    ),
  ];
}

/** Throws unless the answer is a token granting pull and push on REPO. */
function checkToken(body: Buffer): void {
  const parsed = JSON.parse(body.toString('utf8')) as TokenBody;
  const jwt = parsed.access_token ?? parsed.token;
  if (jwt === undefined) throw new Error('the token endpoint answered without a token');
  const payload = JSON.parse(
    Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8'),
  ) as {
    access?: { type: string; name: string; actions: string[] }[];
  };
  const actions = payload.access?.find((a) => a.type === 'repository' && a.name === REPO)?.actions;
  if (!actions?.includes('pull') || !actions.includes('push')) {
    throw new Error(`the token does not grant ${SCOPE}: ${JSON.stringify(payload.access)}`);
  }
}

export const token: Scenario = {
  name: 'token',
  title: 'token endpoint, cached credentials',
  auth: {
    unsupported: (sizes) =>
      loadFigures(
        sizes.tokenConnections,
        { rate: null, p50: null, p99: null, first: null },
        'n/a: no token realm (Distribution delegates tokens to a separate auth server)',
      ),
  },
  async run(ctx) {
    const s = ctx.sizes;
    const credentials = ctx.registry.credentials;
    if (!credentials) throw new Error('the token scenario needs a registry with authentication');
    const authorization = `Basic ${Buffer.from(`${credentials.user}:${credentials.password}`).toString('base64')}`;

    // Untimed check of the answer; this first request also verifies the password with argon2.
    const client = ctx.client();
    const t0 = performance.now();
    const first = await client.http.request({
      method: 'GET',
      path: PATH,
      headers: { authorization },
      timeoutMs: 30_000,
    });
    const firstMs = performance.now() - t0;
    expectStatus(first, 'GET /v2/token', 200);
    checkToken(first.body);

    const load = {
      url: `${ctx.registry.url}${PATH}`,
      method: 'GET' as const,
      headers: { Authorization: authorization },
      connections: s.tokenConnections,
    };
    const warm = await runLoad({ ...load, durationMs: s.warmupMs });
    const label = `token endpoint, cached credentials, ${s.tokenConnections} connections`;
    const { result, figures } = await measured(
      ctx,
      { scenario: 'token', id: 'load', label },
      (r) => ({ ops: r.requests }),
      () => runLoad({ ...load, durationMs: s.loadMs }),
    );
    ctx.log(
      `${result.requests} tokens in ${(s.loadMs / 1000).toFixed(0)} s: ${result.requestsPerSecond.toFixed(0)}/s, p50 ${result.p50Ms.toFixed(2)} ms, p99 ${result.p99Ms.toFixed(2)} ms`,
    );
    const failed = result.non2xx + result.errors + warm.non2xx + warm.errors;
    const note =
      failed > 0
        ? `${result.non2xx + warm.non2xx} non-2xx answers, ${result.errors + warm.errors} connection errors`
        : undefined;
    const value = (v: number): number | null => (failed > 0 ? null : v);
    return [
      ...loadFigures(
        s.tokenConnections,
        {
          rate: value(result.requestsPerSecond),
          p50: value(result.p50Ms),
          p99: value(result.p99Ms),
          first: firstMs,
        },
        note,
      ),
      ...figures,
    ];
  },
};
