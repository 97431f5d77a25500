/**
 * Helpers of the auth suites: users with known passwords, credentials as headers, tokens from the
 * realm, pushes that carry an Authorization header, and the pieces of a JWT and a challenge.
 */
import type { TestServer } from '../helpers/server.js';
import {
  OCI_CONFIG,
  OCI_LAYER,
  OCI_MANIFEST,
  descriptor,
  randomBlob,
  sha256,
} from '../helpers/oci.js';

/** Who makes the identity changes of the tests (the audit log names it). */
export const ACTOR = { name: 'test', client: 'local' };

export const passwordOf = (user: string): string => `${user}-password`;

export function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

/** `Basic` with the user's password as set by {@link addUser}. */
export const basicOf = (user: string): string => basic(user, passwordOf(user));

export const bearer = (token: string): string => `Bearer ${token}`;

/** Creates a user whose password is {@link passwordOf}(name), with role bindings. */
export async function addUser(
  server: TestServer,
  name: string,
  roles: { role: string; namespace?: string }[] = [],
): Promise<string> {
  await server.app.identity.addUser(ACTOR, { name, password: passwordOf(name), roles });
  return basicOf(name);
}

/** A request with an optional Authorization header (undefined = none). */
export function send(
  server: TestServer,
  method: string,
  path: string,
  authorization?: string,
  init: { body?: string | Uint8Array; headers?: Record<string, string> } = {},
): Promise<Response> {
  const headers: Record<string, string> = { ...init.headers };
  if (authorization !== undefined) headers['authorization'] = authorization;
  const url = path.startsWith('http') ? path : `${server.url}${path}`;
  return fetch(url, {
    method,
    headers,
    ...(init.body !== undefined
      ? { body: typeof init.body === 'string' ? init.body : new Uint8Array(init.body) }
      : {}),
  });
}

export interface TokenResponse {
  token?: string;
  access_token?: string;
  expires_in?: number;
  issued_at?: string;
  refresh_token?: string;
  scope?: string;
}

/** GET /v2/token?service=berth&scope=…; `extra` adds raw query parameters. */
export async function getToken(
  server: TestServer,
  options: { authorization?: string; scopes?: string[]; extra?: string } = {},
): Promise<{ status: number; body: TokenResponse; type: string | null }> {
  const query = new URLSearchParams({ service: 'berth' });
  for (const s of options.scopes ?? []) query.append('scope', s);
  const qs = `${query.toString()}${options.extra ? `&${options.extra}` : ''}`;
  const res = await send(server, 'GET', `/v2/token?${qs}`, options.authorization);
  return {
    status: res.status,
    type: res.headers.get('content-type'),
    body: (await res.json()) as TokenResponse,
  };
}

/** A token for `scopes`, or a failed expectation. */
export async function tokenFor(
  server: TestServer,
  authorization: string | undefined,
  scopes: string[],
): Promise<string> {
  const res = await getToken(server, {
    ...(authorization !== undefined ? { authorization } : {}),
    scopes,
  });
  if (res.status !== 200 || res.body.token === undefined)
    throw new Error(`token request failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.token;
}

/** POST /v2/token with a form. */
export async function postToken(
  server: TestServer,
  form: Record<string, string>,
): Promise<{ status: number; body: TokenResponse; type: string | null }> {
  const res = await fetch(`${server.url}/v2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form).toString(),
  });
  return {
    status: res.status,
    type: res.headers.get('content-type'),
    body: (await res.json()) as TokenResponse,
  };
}

export interface AccessClaim {
  type: string;
  name: string;
  actions: string[];
}

export interface JwtParts {
  header: Record<string, unknown>;
  claims: Record<string, unknown> & { access?: AccessClaim[] };
  signature: string;
}

/** Decodes a compact JWT without verifying it. */
export function decodeJwt(token: string): JwtParts {
  const [header = '', payload = '', signature = ''] = token.split('.');
  const json = (part: string): Record<string, unknown> =>
    JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;
  return { header: json(header), claims: json(payload), signature };
}

export const b64url = (value: unknown): string =>
  Buffer.from(JSON.stringify(value)).toString('base64url');

/** The actions a token grants on one repository (none if absent). */
export function actionsFor(token: string, repository: string): string[] {
  const access = decodeJwt(token).claims.access ?? [];
  return access
    .filter((a) => a.type === 'repository' && a.name === repository)
    .flatMap((a) => a.actions)
    .sort();
}

export interface Challenge {
  realm?: string;
  service?: string;
  scope?: string;
  error?: string;
}

/** The parameters of a `Bearer k="v",…` challenge. */
export function parseChallenge(header: string | null): Challenge {
  const params: Record<string, string> = {};
  if (header === null || !header.startsWith('Bearer ')) return params;
  for (const m of header.slice('Bearer '.length).matchAll(/(\w+)="([^"]*)"/g)) {
    if (m[1] !== undefined && m[2] !== undefined) params[m[1]] = m[2];
  }
  return params;
}

export async function codeOf(res: Response): Promise<string | undefined> {
  const text = await res.text();
  try {
    return (JSON.parse(text) as { errors?: { code?: string }[] }).errors?.[0]?.code;
  } catch {
    return `(not JSON: ${text.slice(0, 80)})`;
  }
}

/** Status and error code of a response (`201`, `403 DENIED`), for compact assertions. */
export async function outcome(res: Response): Promise<string> {
  if (res.status < 400) {
    await res.arrayBuffer();
    return String(res.status);
  }
  return `${res.status} ${(await codeOf(res)) ?? ''}`.trim();
}

/**
 * Pushes a blob monolithically (POST, then PUT with the body) with `authorization`; returns the
 * outcome of the first request that failed, or `201` and the digest.
 */
export async function pushBlobAs(
  server: TestServer,
  repository: string,
  data: Uint8Array | string,
  authorization: string | undefined,
): Promise<{ outcome: string; digest: string }> {
  const digest = sha256(data);
  const post = await send(server, 'POST', `/v2/${repository}/blobs/uploads/`, authorization);
  if (post.status !== 202) return { outcome: await outcome(post), digest };
  const location = post.headers.get('location') ?? '';
  const put = await send(
    server,
    'PUT',
    new URL(`${location}${location.includes('?') ? '&' : '?'}digest=${digest}`, server.url).href,
    authorization,
    {
      body: typeof data === 'string' ? data : new Uint8Array(data),
      headers: { 'content-type': 'application/octet-stream' },
    },
  );
  return { outcome: await outcome(put), digest };
}

/**
 * Pushes a small image (config, one layer, manifest under `tag`); returns the outcome of the first
 * failing request, or `201` and the manifest digest.
 */
export async function pushImageAs(
  server: TestServer,
  repository: string,
  tag: string,
  authorization: string | undefined,
): Promise<{ outcome: string; digest: string }> {
  const config = JSON.stringify({ architecture: 'amd64', os: 'linux', n: Math.random() });
  const layer = randomBlob(512);
  for (const blob of [config, layer]) {
    const pushed = await pushBlobAs(server, repository, blob, authorization);
    if (pushed.outcome !== '201') return pushed;
  }
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: descriptor(OCI_CONFIG, config),
    layers: [descriptor(OCI_LAYER, layer)],
  });
  const put = await send(server, 'PUT', `/v2/${repository}/manifests/${tag}`, authorization, {
    body: manifest,
    headers: { 'content-type': OCI_MANIFEST },
  });
  return { outcome: await outcome(put), digest: sha256(manifest) };
}

/** GET of a manifest by tag or digest: its outcome. */
export async function pullAs(
  server: TestServer,
  repository: string,
  reference: string,
  authorization: string | undefined,
): Promise<string> {
  return outcome(
    await send(server, 'GET', `/v2/${repository}/manifests/${reference}`, authorization, {
      headers: { accept: OCI_MANIFEST },
    }),
  );
}

/** DELETE of a manifest: its outcome. */
export async function deleteAs(
  server: TestServer,
  repository: string,
  reference: string,
  authorization: string | undefined,
): Promise<string> {
  return outcome(
    await send(server, 'DELETE', `/v2/${repository}/manifests/${reference}`, authorization),
  );
}
