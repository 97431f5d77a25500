/**
 * The admin API client: JSON over fetch with the session cookie, the CSRF token on every change,
 * errors turned into words, and one place that reacts to an ended session (401).
 */
import { useCallback, useEffect, useState } from 'preact/hooks';

const PREFIX = '/api/v1';

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

let csrfToken: string | null = null;
let onSessionEnded: () => void = () => undefined;

/** The token from POST/GET /session; sent as X-CSRF-Token on every request that changes something. */
export function setCsrfToken(token: string | null): void {
  csrfToken = token === '' ? null : token;
}

/** Called when any request answers 401: the session expired, was ended, or never existed. */
export function onUnauthorized(handler: () => void): void {
  onSessionEnded = handler;
}

const STATUS_WORDS: Readonly<Record<number, string>> = {
  400: 'The registry did not accept that request.',
  401: 'You are not signed in.',
  403: 'You do not have permission to do that.',
  404: 'That does not exist (any more).',
  409: 'That conflicts with something that already exists.',
  413: 'That is too large.',
  429: 'Too many attempts. Wait a little and try again.',
  500: 'The registry hit an internal error. Its log says more.',
  502: 'The registry is not reachable behind its proxy.',
  503: 'The registry is not ready yet. Try again in a moment.',
};

interface ErrorBody {
  errors?: { code?: unknown; message?: unknown }[];
}

async function errorFrom(response: Response): Promise<ApiError> {
  let code = 'UNKNOWN';
  let message = STATUS_WORDS[response.status] ?? `The registry answered ${response.status}.`;
  try {
    const body = (await response.json()) as ErrorBody;
    const first = body.errors?.[0];
    if (typeof first?.code === 'string') code = first.code;
    if (typeof first?.message === 'string' && first.message !== '') {
      message = sentence(first.message);
    }
  } catch {
    // Not JSON (a proxy's error page): the status words above say enough.
  }
  if (response.status === 429) {
    const retry = Number(response.headers.get('retry-after'));
    if (retry > 0) message = `${message} Try again in ${String(retry)} seconds.`;
  }
  return new ApiError(message, response.status, code);
}

/** Server messages are lower-case fragments ("sign in first"); shown to people as sentences. */
function sentence(text: string): string {
  const capital = text.charAt(0).toUpperCase() + text.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

export interface RequestOptions {
  body?: unknown;
  signal?: AbortSignal;
  /** Whether a 401 means "the session ended" (false for the sign-in request itself). */
  redirectOn401?: boolean;
}

export async function request<T>(
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
  path: string,
  options: RequestOptions = {},
): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken !== null) headers['x-csrf-token'] = csrfToken;
  let response: Response;
  try {
    response = await fetch(`${PREFIX}${path}`, {
      method,
      headers,
      credentials: 'same-origin',
      ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (e) {
    if (e instanceof DOMException && e.name === 'AbortError') throw e;
    throw new ApiError(
      'Cannot reach the registry. Check the connection and try again.',
      0,
      'NETWORK',
    );
  }
  if (!response.ok) {
    const error = await errorFrom(response);
    if (response.status === 401 && options.redirectOn401 !== false) onSessionEnded();
    throw error;
  }
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  return (text === '' ? undefined : JSON.parse(text)) as T;
}

export const get = <T>(path: string, signal?: AbortSignal): Promise<T> =>
  request<T>('GET', path, signal ? { signal } : {});
export const post = <T>(path: string, body?: unknown): Promise<T> =>
  request<T>('POST', path, { body });
export const put = <T>(path: string, body?: unknown): Promise<T> =>
  request<T>('PUT', path, { body });
export const patch = <T>(path: string, body?: unknown): Promise<T> =>
  request<T>('PATCH', path, { body });
export const del = (path: string): Promise<undefined> => request<undefined>('DELETE', path);

/** A query string from the parameters that have a value: `?q=x&limit=50`, or ''. */
export function query(
  params: Record<string, string | number | boolean | null | undefined>,
): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(key, String(value));
  }
  const text = search.toString();
  return text === '' ? '' : `?${text}`;
}

/** A path segment for a repository name, tag or digest (names contain slashes). */
export const segment = encodeURIComponent;

export function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  return 'Something went wrong.';
}

export interface Resource<T> {
  data: T | undefined;
  error: ApiError | undefined;
  loading: boolean;
  /** Fetches again (after a change), keeping the old data on screen meanwhile. */
  reload: () => void;
}

/**
 * GETs `path` (null: nothing yet) and refetches when it changes. Answers for an older path are
 * dropped, and data of another path is never shown under this one.
 */
export function useResource<T>(path: string | null): Resource<T> {
  const [state, setState] = useState<{ path: string; data?: T; error?: ApiError } | null>(null);
  const [loading, setLoading] = useState(path !== null);
  const [generation, setGeneration] = useState(0);

  useEffect(() => {
    if (path === null) return;
    const controller = new AbortController();
    setLoading(true);
    get<T>(path, controller.signal).then(
      (data) => {
        setState({ path, data });
        setLoading(false);
      },
      (e: unknown) => {
        if (controller.signal.aborted) return;
        const error = e instanceof ApiError ? e : new ApiError(messageOf(e), 0, 'UNKNOWN');
        setState({ path, error });
        setLoading(false);
      },
    );
    return () => controller.abort();
  }, [path, generation]);

  const reload = useCallback(() => setGeneration((g) => g + 1), []);
  const current = state !== null && state.path === path ? state : null;
  return { data: current?.data, error: current?.error, loading, reload };
}
