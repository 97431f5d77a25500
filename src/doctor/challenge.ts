/**
 * @module doctor/challenge
 * Check 3: `GET /v2/` answers as a registry (`Docker-Distribution-API-Version: registry/2.0`) and,
 * when it asks for credentials, with a `Bearer` challenge whose realm is an ABSOLUTE URL with the
 * scheme and host:port the client dialled. An `http://` realm on an https URL is the classic
 * reverse-proxy mistake: TLS ends at the proxy and the registry builds the realm from what it sees.
 */
import { headerValue, send, transportAdvice, asTransportError } from './http-client.js';
import {
  finding,
  type Advice,
  type Challenge,
  type DoctorState,
  type Finding,
  type Target,
} from './types.js';

const TOKEN = /[A-Za-z0-9!#$%&'*+.^_`|~-]+/y;
const PARAM = /\s*([A-Za-z0-9!#$%&'*+.^_`|~-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))\s*(,|$)/y;

/**
 * The first challenge of a `WWW-Authenticate` value (RFC 9110 §11.6.1): the scheme and its
 * `key=value` / `key="quoted"` parameters (names lower-cased). Quoted values may hold commas, as
 * scopes do (`repository:a:pull,push`). Null when there is no scheme.
 */
export function parseChallenge(header: string): Challenge | null {
  const text = header.trim();
  TOKEN.lastIndex = 0;
  const scheme = TOKEN.exec(text);
  if (!scheme) return null;
  const params: Record<string, string> = {};
  let at = TOKEN.lastIndex;
  while (at < text.length) {
    PARAM.lastIndex = at;
    const m = PARAM.exec(text);
    if (!m?.[1]) break;
    params[m[1].toLowerCase()] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : (m[3] ?? '');
    at = PARAM.lastIndex;
    // A new challenge (`, Basic realm=…`) starts with a bare token: stop at the first one.
    if (m[4] === '' || /^\s*[A-Za-z0-9!#$%&'*+.^_`|~-]+\s+[A-Za-z0-9]/.test(text.slice(at))) break;
  }
  return { scheme: scheme[0], params };
}

function defaultPort(protocol: string): number {
  return protocol === 'https:' ? 443 : 80;
}

const PROXY_FIX =
  'TLS ends at a proxy and Berth sees plain HTTP. Either start Berth with --external-url ORIGIN, or let it believe the proxy (berth serve --trusted-proxy PROXY_ADDRESS) and have the proxy send the original scheme and host (nginx: proxy_set_header X-Forwarded-Proto $scheme; proxy_set_header Host $http_host; — berth nginx-config prints a complete server block)';

export interface ChallengeAnalysis {
  findings: Finding[];
  challenge: Challenge | null;
  /** The advertised realm, when it is an absolute URL. */
  realm?: URL;
  /** The realm moved onto the dialled origin, when the advertised one points elsewhere. */
  correctedRealm?: URL;
}

/** Judges the challenge of a 401 from `/v2/` (no header at all is a failure too). */
export function analyzeChallenge(target: Target, header: string | undefined): ChallengeAnalysis {
  const fix = PROXY_FIX.replace('ORIGIN', target.origin);
  const fail = (advice: Advice): Finding => finding('realm', 'fail', advice);
  const challenge = header === undefined ? null : parseChallenge(header);
  if (!challenge) {
    return {
      challenge: null,
      findings: [
        fail({
          summary: '/v2/ answers 401 without a WWW-Authenticate challenge',
          explanation:
            'Clients cannot learn how to log in. Berth always sends one, so something else answered: a proxy with its own authentication or error page.',
          fix: 'let the proxy pass /v2/ to Berth unchanged, without its own auth (no auth_basic for /v2/)',
        }),
      ],
    };
  }
  const scheme = challenge.scheme.toLowerCase();
  if (scheme === 'basic') {
    return {
      challenge,
      findings: [
        // Only what the answer shows: a registry of another kind may ask for Basic on purpose.
        finding('realm', 'warn', {
          summary: 'the registry asks for Basic credentials (no token realm)',
          explanation:
            'Clients then send the password with every request instead of a short-lived token. Berth itself always asks for Bearer tokens.',
          fix: 'if this address should reach Berth, whatever answers it must pass /v2/ on to Berth unchanged, without authentication of its own',
        }),
      ],
    };
  }
  if (scheme !== 'bearer') {
    return {
      challenge,
      findings: [
        fail({
          summary: `the challenge scheme is ${challenge.scheme}: clients understand Bearer and Basic`,
          fix: 'let the proxy pass /v2/ to Berth unchanged',
        }),
      ],
    };
  }
  const rawRealm = challenge.params['realm'];
  if (rawRealm === undefined || rawRealm === '') {
    return {
      challenge,
      findings: [
        fail({
          summary: 'the Bearer challenge has no realm',
          explanation: 'Clients do not know where to get a token.',
          fix: `upgrade or configure the registry; Berth sends realm="${target.origin}/v2/token"`,
        }),
      ],
    };
  }
  let realm: URL;
  try {
    realm = new URL(rawRealm);
    if (realm.protocol !== 'http:' && realm.protocol !== 'https:') throw new Error('not http');
  } catch {
    return {
      challenge,
      findings: [
        fail({
          summary: `the realm "${rawRealm}" is not an absolute http(s) URL`,
          explanation:
            'The token spec requires an absolute realm; docker and containerd cannot resolve a relative one.',
          fix,
        }),
      ],
    };
  }
  const findings: Finding[] = [];
  const corrected = new URL(`${realm.pathname}${realm.search}`, target.origin);
  const realmPort = realm.port === '' ? defaultPort(realm.protocol) : Number(realm.port);
  const sameScheme = realm.protocol === target.url.protocol;
  if (target.https && realm.protocol === 'http:') {
    findings.push(
      fail({
        summary: `the realm is ${rawRealm}: http:// on an https registry`,
        explanation:
          'Clients fetch their token over plain HTTP from there: docker fails ("http: server gave HTTP response to HTTPS client", or connection refused on port 80) or sends the password unencrypted.',
        fix,
      }),
    );
  } else if (!target.https && realm.protocol === 'https:') {
    findings.push(
      finding('realm', 'warn', {
        summary: `the realm is ${rawRealm}: https on a plain-HTTP registry`,
        explanation:
          'Clients must trust that certificate too; usually this means the registry believes a proxy that is not on this path.',
        fix,
      }),
    );
  }
  const hostDiffers =
    realm.hostname.toLowerCase() !== target.url.hostname.toLowerCase() ||
    ((sameScheme || realm.port !== '') && realmPort !== target.port);
  if (hostDiffers) {
    findings.push(
      finding('realm', 'warn', {
        summary: `the realm points at ${realm.host}, but the client dialled ${target.dialled}`,
        explanation:
          'Clients must reach that host:port as well and trust its certificate; when Berth sees the proxy’s upstream address as Host, the realm names an address clients cannot reach.',
        fix: `start Berth with --external-url ${target.origin}, or have the proxy pass the original Host (nginx: proxy_set_header Host $http_host;) and trust it (--trusted-proxy)`,
      }),
    );
  }
  if (challenge.params['service'] === undefined) {
    findings.push(
      finding('realm', 'warn', {
        summary: 'the Bearer challenge names no service',
        explanation:
          'Token servers issue tokens for a service (the audience); clients send it back.',
        fix: 'configure the registry’s token service name',
      }),
    );
  }
  if (challenge.params['error'] !== undefined) {
    findings.push(
      finding('realm', 'warn', {
        summary: `an anonymous /v2/ gets error="${challenge.params['error']}"`,
        explanation:
          'An error code tells clients their token was bad; containerd retries once and then fails instead of logging in.',
        fix: 'send the error parameter only when a token was presented',
      }),
    );
  }
  if (findings.length === 0) {
    findings.push(
      finding(
        'realm',
        'pass',
        {
          summary: `Bearer challenge, realm ${rawRealm} (absolute, ${realm.protocol.slice(0, -1)}, same host:port), service "${challenge.params['service'] ?? ''}"`,
        },
        { realm: rawRealm, service: challenge.params['service'] },
      ),
    );
  }
  const analysis: ChallengeAnalysis = { findings, challenge, realm };
  if (!sameScheme || hostDiffers) analysis.correctedRealm = corrected;
  return analysis;
}

/** Check 3: `GET /v2/` without credentials. */
export async function checkRegistry(state: DoctorState): Promise<Finding[]> {
  const { target } = state;
  const url = new URL('/v2/', target.origin);
  const started = Date.now();
  let res;
  try {
    res = await send(state, url);
  } catch (err) {
    state.reachable = false;
    const e = asTransportError(err);
    return [finding('registry', 'fail', transportAdvice(e, url, target), { code: e.code })];
  }
  const date = headerValue(res.headers, 'date');
  if (date !== undefined && !Number.isNaN(Date.parse(date))) {
    state.serverDate = { serverMs: Date.parse(date), localMs: (started + res.receivedAtMs) / 2 };
  }
  const version = headerValue(res.headers, 'docker-distribution-api-version');
  const findings: Finding[] = [];
  const versionOk = version === 'registry/2.0';
  const registryLine = (what: string): Finding =>
    versionOk
      ? finding('registry', 'pass', {
          summary: `GET /v2/ → ${what} with Docker-Distribution-API-Version: registry/2.0`,
        })
      : finding('registry', 'warn', {
          summary: `GET /v2/ → ${what} without Docker-Distribution-API-Version: registry/2.0`,
          explanation:
            'Berth sends the header on every answer; without it something else answered (a proxy’s own page), and older docker versions do not recognise a registry.',
          fix: 'let the proxy pass /v2/ to Berth unchanged (and its 401 answers with their headers)',
        });
  if (res.status === 200) {
    state.challenge = null;
    findings.push(registryLine('200'));
    findings.push(
      finding('realm', 'warn', {
        summary: 'the registry asks for no credentials',
        explanation:
          'Anyone who reaches it may pull and probably push (berth serve --no-auth, BERTH_AUTH=off).',
        fix: 'turn authentication on (the default) unless the network is trusted',
      }),
    );
    return findings;
  }
  if (res.status === 401) {
    findings.push(registryLine('401'));
    const analysis = analyzeChallenge(target, headerValue(res.headers, 'www-authenticate'));
    state.challenge = analysis.challenge;
    if (analysis.realm) state.realm = analysis.realm;
    if (analysis.correctedRealm) state.correctedRealm = analysis.correctedRealm;
    findings.push(...analysis.findings);
    return findings;
  }
  state.reachable = false;
  findings.push(
    finding(
      'registry',
      'fail',
      statusAdvice(res.status, headerValue(res.headers, 'location'), target),
    ),
  );
  return findings;
}

/** `/v2/` answered neither 200 nor 401. */
export function statusAdvice(status: number, location: string | undefined, target: Target): Advice {
  if (status >= 300 && status < 400) {
    return {
      summary: `GET /v2/ → ${status} redirect to ${location ?? '(no Location)'}`,
      explanation:
        'Clients dial the registry by host:port and do not follow a redirect of /v2/ to another URL.',
      fix: location
        ? `use the URL it redirects to (${new URL(location, target.origin).origin})`
        : 'serve /v2/ directly',
    };
  }
  if (status === 404) {
    return {
      summary: 'GET /v2/ → 404: no registry API at this URL',
      explanation:
        'A proxy in front does not pass /v2/ to Berth, or the URL has a path (registries live at the root of a host: clients cannot use https://host/some/path).',
      fix: 'proxy /v2/ to Berth (nginx: location /v2/ { proxy_pass http://BERTH; } — berth nginx-config prints the whole block)',
    };
  }
  if (status === 502 || status === 503 || status === 504) {
    return {
      summary: `GET /v2/ → ${status}: the proxy cannot reach Berth`,
      explanation: 'The proxy answers, the registry behind it does not.',
      fix: 'check that Berth runs and listens where the proxy’s proxy_pass points',
    };
  }
  return { summary: `GET /v2/ → ${status}: not a registry answer` };
}
