/**
 * @module doctor/token
 * Check 4: the token endpoint (the realm of the `/v2/` challenge) answers a client's GET with JSON
 * holding a token, for the given credentials or anonymously, and says for how long it is valid.
 * Also the token requests of the upload check, with the same fallback: when the advertised realm
 * cannot be reached and its path works on the dialled origin, the checks go on with that.
 */
import {
  asTransportError,
  headerValue,
  send,
  transportAdvice,
  type TransportError,
} from './http-client.js';
import {
  finding,
  type Advice,
  type DoctorOptions,
  type DoctorState,
  type Finding,
  type TokenInfo,
} from './types.js';

/** Clients assume this lifetime when the endpoint gives none, and never less (token spec). */
export const DEFAULT_EXPIRES_IN = 60;

export function basicAuthorization(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

/** The first path segment, which owns permissions; single names live in `library`. */
export function namespaceOf(repository: string): string {
  const slash = repository.indexOf('/');
  return slash < 0 ? 'library' : repository.slice(0, slash);
}

/** The claims of a JWT, unverified (the doctor only reads lifetimes and granted actions). */
export function jwtClaims(token: string): Record<string, unknown> | null {
  const part = token.split('.')[1];
  if (part === undefined) return null;
  try {
    const claims: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return typeof claims === 'object' && claims !== null && !Array.isArray(claims)
      ? (claims as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}

/** Actions the `access` claim grants on `repository`; undefined when the claim is unreadable. */
export function grantedActions(
  claims: Record<string, unknown>,
  repository: string,
): string[] | undefined {
  const access = claims['access'];
  if (!Array.isArray(access)) return undefined;
  const actions = new Set<string>();
  const wanted = repository.includes('/') ? repository : `library/${repository}`;
  for (const entry of access as unknown[]) {
    if (typeof entry !== 'object' || entry === null) continue;
    const e = entry as Record<string, unknown>;
    const name = typeof e['name'] === 'string' ? e['name'] : '';
    const full = name.includes('/') ? name : `library/${name}`;
    if (e['type'] !== 'repository' || full !== wanted || !Array.isArray(e['actions'])) continue;
    for (const a of e['actions'] as unknown[]) if (typeof a === 'string') actions.add(a);
  }
  return [...actions];
}

/** The token in a 200 answer of the token endpoint, or why there is none. */
export function parseTokenAnswer(
  body: Buffer,
  receivedAtMs: number,
  repository: string,
): TokenInfo | Advice {
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    const start = body.toString('utf8', 0, 200).trim();
    return {
      summary: `the token endpoint answered 200 with something that is not JSON${start.startsWith('<') ? ' (HTML)' : ''}`,
      explanation:
        'Clients need JSON with a token. A proxy probably sends the realm path somewhere else (its web UI, a default page).',
      fix: 'route the realm path (/v2/token) to Berth in the proxy, like the rest of /v2/',
    };
  }
  const o = (typeof json === 'object' && json !== null ? json : {}) as Record<string, unknown>;
  const token = typeof o['access_token'] === 'string' ? o['access_token'] : o['token'];
  if (typeof token !== 'string' || token === '') {
    return {
      summary: 'the token endpoint answered JSON without "token" or "access_token"',
      fix: 'route the realm path to Berth, not to another service',
    };
  }
  const given = typeof o['expires_in'] === 'number' && o['expires_in'] > 0;
  const info: TokenInfo = {
    token,
    expiresIn: given ? (o['expires_in'] as number) : DEFAULT_EXPIRES_IN,
    expiresInGiven: given,
    receivedAtMs,
  };
  const claims = jwtClaims(token);
  if (claims) {
    if (typeof claims['iat'] === 'number') info.issuedAtSeconds = claims['iat'];
    const actions = grantedActions(claims, repository);
    if (actions) info.actions = actions;
  }
  return info;
}

export type TokenResult =
  | { kind: 'token'; info: TokenInfo; url: URL; corrected: boolean }
  | {
      kind: 'http';
      status: number;
      body: Buffer;
      contentType: string;
      url: URL;
      corrected: boolean;
    }
  | { kind: 'transport'; error: TransportError; url: URL };

function tokenUrl(realm: URL, service: string | undefined, scope: string): URL {
  const url = new URL(realm);
  if (service !== undefined) url.searchParams.set('service', service);
  url.searchParams.append('scope', scope);
  return url;
}

/** GET realm?service&scope as docker does; Basic credentials when given. */
export async function requestToken(
  state: DoctorState,
  options: Pick<DoctorOptions, 'username' | 'password' | 'repository'>,
  scope: string,
): Promise<TokenResult | null> {
  if (!state.realm) return null;
  const service = state.challenge?.params['service'];
  const headers: Record<string, string> =
    options.username !== undefined
      ? { authorization: basicAuthorization(options.username, options.password ?? '') }
      : {};
  const attempt = async (realm: URL, corrected: boolean): Promise<TokenResult> => {
    const url = tokenUrl(realm, service, scope);
    try {
      const res = await send(state, url, { headers });
      if (res.status === 200) {
        const parsed = parseTokenAnswer(res.body, res.receivedAtMs, options.repository);
        if ('token' in parsed) return { kind: 'token', info: parsed, url, corrected };
      }
      return {
        kind: 'http',
        status: res.status,
        body: res.body,
        contentType: headerValue(res.headers, 'content-type') ?? '',
        url,
        corrected,
      };
    } catch (err) {
      return { kind: 'transport', error: asTransportError(err), url };
    }
  };
  const first = await attempt(state.realm, false);
  if (first.kind === 'transport' && state.correctedRealm) {
    const second = await attempt(state.correctedRealm, true);
    if (second.kind !== 'transport') return second;
  }
  return first;
}

export function pushScope(repository: string): string {
  return `repository:${repository}:pull,push`;
}

export function pushRoleFix(username: string | undefined, repository: string): string {
  const ns = namespaceOf(repository);
  return `pushing to ${repository} needs push in namespace ${ns}: give the user a role with push (developer, maintainer or admin), on the server: berth user bind ${username ?? 'USER'} --role developer --namespace ${ns}; or check with --repository a repository the user may push to`;
}

function errorMessage(body: Buffer): string | undefined {
  try {
    const json = JSON.parse(body.toString('utf8')) as { errors?: { message?: unknown }[] };
    const message = json.errors?.[0]?.message;
    return typeof message === 'string' ? message : undefined;
  } catch {
    return undefined;
  }
}

/** Why a token request answered without a token. */
export function tokenHttpAdvice(
  status: number,
  body: Buffer,
  contentType: string,
  username: string | undefined,
  repository: string,
): Advice {
  if (status === 401) {
    return username !== undefined
      ? {
          summary: `the token endpoint refuses the credentials of ${username} (401)`,
          explanation:
            'Wrong user name or password, a disabled user, or a revoked access token; docker login says "unauthorized: authentication required".',
          fix: `check them; an administrator can reset them on the server: berth user passwd ${username} (or berth user enable ${username})`,
        }
      : {
          summary: 'the token endpoint refuses anonymous requests (401)',
          explanation:
            'The token spec lets anonymous clients get a token with whatever they may do (maybe nothing).',
          fix: 'give --username and --password-stdin',
        };
  }
  if (status === 200) {
    const parsed = parseTokenAnswer(body, 0, repository);
    if (!('token' in parsed)) return parsed;
  }
  if (status === 404) {
    return {
      summary: 'the token endpoint answers 404',
      explanation: 'The realm URL leads nowhere: a proxy does not pass that path to Berth.',
      fix: 'route /v2/token to Berth in the proxy, like the rest of /v2/',
    };
  }
  const message = errorMessage(body);
  return {
    summary: `the token endpoint answers ${status}${message !== undefined ? `: ${message}` : contentType.includes('html') ? ' with an HTML page' : ''}`,
    explanation: 'Clients need 200 with JSON; containerd stops at anything but 400/401/404/405.',
    fix: 'look at the server and proxy logs for the token request',
  };
}

/** Check 4. */
export async function checkToken(state: DoctorState, options: DoctorOptions): Promise<Finding[]> {
  const skip = (summary: string): Finding[] => [finding('token', 'skip', { summary })];
  if (!state.reachable)
    return skip('token endpoint not tried: no registry API answered (see above)');
  if (state.challenge === null) return skip('no token needed: /v2/ asks for no credentials');
  if (state.challenge?.scheme.toLowerCase() === 'basic') {
    if (options.username === undefined)
      return skip('Basic challenge and no --username: nothing to try');
    const res = await send(state, new URL('/v2/', state.target.origin), {
      headers: { authorization: basicAuthorization(options.username, options.password ?? '') },
    }).catch(() => null);
    if (res?.status === 200)
      return [
        finding('token', 'pass', {
          summary: `the Basic credentials of ${options.username} are accepted`,
        }),
      ];
    return [
      finding(
        'token',
        'fail',
        tokenHttpAdvice(
          res?.status ?? 401,
          Buffer.alloc(0),
          '',
          options.username,
          options.repository,
        ),
      ),
    ];
  }
  const result = await requestToken(state, options, pushScope(options.repository));
  if (!result) return skip('token endpoint not tried: no usable realm (see above)');
  if (result.kind === 'transport') {
    return [
      finding('token', 'fail', transportAdvice(result.error, result.url, state.target), {
        url: result.url.origin + result.url.pathname,
      }),
    ];
  }
  const findings: Finding[] = [];
  if (result.corrected) {
    if (state.correctedRealm) state.realm = state.correctedRealm;
    findings.push(
      // A warning: the realm finding above already fails for this cause.
      finding('token', 'warn', {
        summary: `the advertised realm cannot be reached; the same path on ${state.target.origin} works`,
        explanation:
          'Clients use the advertised realm, so logins fail until the realm is fixed (see the realm finding). The checks below use the working one.',
        fix: `start Berth with --external-url ${state.target.origin}, or have the proxy send X-Forwarded-Proto and trust it (--trusted-proxy)`,
      }),
    );
  }
  if (result.kind === 'http') {
    findings.push(
      finding(
        'token',
        'fail',
        tokenHttpAdvice(
          result.status,
          result.body,
          result.contentType,
          options.username,
          options.repository,
        ),
        { status: result.status },
      ),
    );
    return findings;
  }
  const { info } = result;
  state.token = info;
  const who = options.username ?? 'anonymous';
  const actions = info.actions;
  const granted =
    actions === undefined
      ? 'unreadable grants'
      : actions.length > 0
        ? actions.join(',')
        : 'no access';
  const lifetime = info.expiresInGiven
    ? `expires in ${info.expiresIn} s`
    : `no expires_in (clients assume ${DEFAULT_EXPIRES_IN} s)`;
  const data = { user: who, actions, expiresIn: info.expiresIn };
  const summary = `token for ${who}: ${granted} on ${options.repository}, ${lifetime}`;
  if (options.username === undefined) {
    findings.push(
      finding(
        'token',
        'pass',
        { summary: `${summary}; give --username and --password-stdin to check pushes` },
        data,
      ),
    );
  } else if (actions !== undefined && !actions.includes('push')) {
    findings.push(
      finding(
        'token',
        'warn',
        {
          summary: `${summary}: the credentials work but do not allow push`,
          explanation:
            'The token endpoint grants only what the user may do; docker push then fails with "denied: requested access to the resource is denied".',
          fix: pushRoleFix(options.username, options.repository),
        },
        data,
      ),
    );
  } else {
    findings.push(finding('token', 'pass', { summary }, data));
  }
  if (info.expiresInGiven && info.expiresIn < DEFAULT_EXPIRES_IN) {
    findings.push(
      finding('token', 'warn', {
        summary: `expires_in is ${info.expiresIn} s, below the 60 s minimum of the token spec`,
        explanation: 'Clients treat tokens as valid for at least 60 s and then meet 401s.',
        fix: 'raise the token lifetime (Berth: auth.tokenTtlSeconds)',
      }),
    );
  }
  return findings;
}
