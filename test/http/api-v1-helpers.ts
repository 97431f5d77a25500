/**
 * A small client of the admin API (`/api/v1`) for the api-v1 suites: JSON in and out, and either
 * a browser-like session (cookie + CSRF token) or an Authorization header.
 */
import { expect } from 'vitest';
import { ADMIN_PASSWORD, type TestServer } from '../helpers/server.js';

export interface ApiResult<T> {
  status: number;
  headers: Headers;
  body: T;
}

export interface ErrorResponse {
  errors: { code: string; message: string; detail?: unknown }[];
}

export interface UserBody {
  name: string;
  disabled: boolean;
  roles: { role: string; namespace: string | null }[];
}

export interface TokenBody {
  id: string;
  user: string;
  name: string;
  privileges: { pattern: string; actions: string[] }[];
  expiresAt: string | null;
  revokedAt: string | null;
}

export interface NamespaceBody {
  name: string;
  public: boolean;
  repositories: number;
  actions: string[];
}

export interface AuditBody {
  id: number;
  actor: string;
  action: string;
  target: string;
  outcome: string;
  client: string;
  detail?: Record<string, unknown>;
}

export interface RequestOptions {
  body?: unknown;
  /** A raw body (sent as is, with `contentType`). */
  raw?: string;
  contentType?: string;
  /** Override the CSRF header: false omits it, a string sends that value. */
  csrf?: boolean | string;
  headers?: Record<string, string>;
}

export class ApiClient {
  cookie: string | undefined;
  csrfToken: string | undefined;
  /** The Set-Cookie header of the last login. */
  setCookie: string | undefined;

  constructor(
    readonly server: TestServer,
    readonly authorization?: string,
  ) {}

  async login(username: string, password: string): Promise<ApiResult<Record<string, unknown>>> {
    const res = await this.request<Record<string, unknown>>('POST', '/session', {
      body: { username, password },
    });
    if (res.status === 200) {
      const set = res.headers.getSetCookie().find((c) => c.startsWith('berth_session='));
      this.setCookie = set;
      this.cookie = set?.split(';')[0];
      this.csrfToken = res.body['csrfToken'] as string;
    }
    return res;
  }

  async request<T = ErrorResponse>(
    method: string,
    path: string,
    options: RequestOptions = {},
  ): Promise<ApiResult<T>> {
    const headers: Record<string, string> = { ...options.headers };
    if (this.authorization !== undefined) headers['authorization'] = this.authorization;
    if (this.cookie !== undefined) headers['cookie'] = this.cookie;
    const csrf =
      options.csrf === undefined || options.csrf === true
        ? this.csrfToken
        : options.csrf || undefined;
    if (csrf !== undefined && method !== 'GET') headers['x-csrf-token'] = csrf;
    let body: string | undefined;
    if (options.raw !== undefined) {
      body = options.raw;
      headers['content-type'] = options.contentType ?? 'application/json';
    } else if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers['content-type'] = 'application/json';
    }
    const res = await fetch(`${this.server.url}/api/v1${path}`, {
      method,
      headers,
      ...(body !== undefined ? { body } : {}),
    });
    const text = await res.text();
    return {
      status: res.status,
      headers: res.headers,
      body: (text === '' ? undefined : JSON.parse(text)) as T,
    };
  }

  get<T>(path: string, options?: RequestOptions): Promise<ApiResult<T>> {
    return this.request<T>('GET', path, options);
  }
  post<T>(path: string, body: unknown, options: RequestOptions = {}): Promise<ApiResult<T>> {
    return this.request<T>('POST', path, { ...options, body });
  }
  put<T>(path: string, body: unknown, options: RequestOptions = {}): Promise<ApiResult<T>> {
    return this.request<T>('PUT', path, { ...options, body });
  }
  patch<T>(path: string, body: unknown, options: RequestOptions = {}): Promise<ApiResult<T>> {
    return this.request<T>('PATCH', path, { ...options, body });
  }
  delete<T>(path: string, options?: RequestOptions): Promise<ApiResult<T>> {
    return this.request<T>('DELETE', path, options);
  }
}

/** `STATUS CODE` of an error response (or the bare status), for compact assertions. */
export function outcomeOf(res: ApiResult<unknown>): string {
  const code = (res.body as Partial<ErrorResponse> | undefined)?.errors?.[0]?.code;
  return code === undefined ? String(res.status) : `${res.status} ${code}`;
}

/** The admin, signed in with a session. */
export async function adminSession(server: TestServer): Promise<ApiClient> {
  const client = new ApiClient(server);
  expect((await client.login('admin', ADMIN_PASSWORD)).status).toBe(200);
  return client;
}

let counter = 0;
export const uniqueName = (prefix: string): string => `${prefix}-${++counter}-${process.pid}`;
export const passwordFor = (user: string): string => `${user}-secret-pw`;

/** Creates a user through the API (as `admin`) and returns a signed-in session of theirs. */
export async function userSession(
  server: TestServer,
  admin: ApiClient,
  roles: { role: string; namespace?: string | null }[],
  prefix = 'user',
): Promise<{ name: string; client: ApiClient }> {
  const name = uniqueName(prefix);
  const created = await admin.post('/users', { name, password: passwordFor(name), roles });
  expect(created.status).toBe(201);
  const client = new ApiClient(server);
  expect((await client.login(name, passwordFor(name))).status).toBe(200);
  return { name, client };
}

export function basicAuth(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}
