/**
 * @module http/errors
 * The one place where errors become HTTP: an OCI error code maps to a status, and the body is the
 * spec's `{"errors":[{"code","message","detail"}]}`. Anything that is not a RegistryError is a 500
 * whose cause is logged, never echoed.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { RegistryError, storageFull, type OciErrorCode } from '../core/errors.js';
import { StorageFullError } from '../storage/driver.js';

export const STATUS = {
  BLOB_UNKNOWN: 404,
  BLOB_UPLOAD_INVALID: 400,
  BLOB_UPLOAD_UNKNOWN: 404,
  DIGEST_INVALID: 400,
  MANIFEST_BLOB_UNKNOWN: 400,
  MANIFEST_INVALID: 400,
  MANIFEST_UNKNOWN: 404,
  NAME_INVALID: 400,
  NAME_UNKNOWN: 404,
  SIZE_INVALID: 400,
  TAG_INVALID: 400,
  UNAUTHORIZED: 401,
  DENIED: 403,
  UNSUPPORTED: 405,
  TOOMANYREQUESTS: 429,
  RANGE_INVALID: 416,
  PAGINATION_NUMBER_INVALID: 400,
  TOO_LARGE: 413,
  REFERENCED: 409,
  STORAGE_FULL: 507,
  UNAVAILABLE: 503,
  UNKNOWN: 500,
  INVALID_REQUEST: 400,
  NOT_FOUND: 404,
  CONFLICT: 409,
} as const satisfies Record<OciErrorCode, number>;

/** Internal codes that the spec spells differently on the wire. */
const WIRE_CODE: Partial<Record<OciErrorCode, OciErrorCode>> = {
  TOO_LARGE: 'SIZE_INVALID',
  REFERENCED: 'DENIED',
  STORAGE_FULL: 'UNKNOWN',
};

export interface ErrorBody {
  errors: { code: OciErrorCode; message: string; detail?: unknown }[];
}

export function errorBody(err: RegistryError): ErrorBody {
  const code = WIRE_CODE[err.code] ?? err.code;
  return {
    errors: [{ code, message: err.message, ...(err.detail ? { detail: err.detail } : {}) }],
  };
}

/** Converts whatever was thrown into a RegistryError fit to show a client. */
export function toRegistryError(err: unknown): RegistryError {
  if (err instanceof RegistryError) return err;
  const full = fullStorage(err);
  if (full) return storageFull(full.reason, { cause: err });
  if (databaseBusy(err)) {
    // Another process (a CLI command, a second server) held SQLite's write lock for longer than
    // busy_timeout: the request can succeed if repeated, so say so instead of a bare 500.
    return new RegistryError(
      'UNAVAILABLE',
      'the metadata database is busy (another process holds its write lock); retry shortly',
      undefined,
      { 'retry-after': '1' },
      { cause: err },
    );
  }
  const fastifyError = err as Partial<FastifyError>;
  const status = fastifyError.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    // Fastify's own refusals (a body it could not parse, an unknown method…), status kept.
    if (status === 413) return new RegistryError('TOO_LARGE', 'request body too large');
    if (status === 404) return new RegistryError('NOT_FOUND', 'not found');
    if (status === 405 || status === 415)
      return new RegistryError('UNSUPPORTED', 'unsupported request');
    return new RegistryError('INVALID_REQUEST', 'malformed request');
  }
  return new RegistryError('UNKNOWN', 'internal server error');
}

export function statusOf(err: RegistryError): number {
  return STATUS[err.code];
}

export function handleError(err: unknown, request: FastifyRequest, reply: FastifyReply): void {
  if (reply.raw.headersSent) {
    // A stream died mid-response: the only honest signal left is to cut the connection.
    request.log.warn({ err }, 'response aborted mid-stream');
    reply.raw.destroy();
    return;
  }
  const regErr = toRegistryError(err);
  const status = statusOf(regErr);
  const full = regErr.code === 'STORAGE_FULL' ? fullStorage(regErr.cause) : null;
  // An operator's problem, not a bug: one line that says what is full, no stack.
  if (full) request.log.error({ path: full.where }, `storage full: ${full.reason}`);
  else if (status >= 500) request.log.error({ err }, 'request failed');
  else if (isClientGone(err))
    request.log.info({ code: (err as NodeJS.ErrnoException).code }, 'client went away');
  else request.log.info({ code: regErr.code, status }, regErr.message);
  const send = (): void =>
    void reply
      .code(status)
      .headers(regErr.headers ?? {})
      .header('docker-distribution-api-version', 'registry/2.0')
      .type('application/json')
      .send(errorBody(regErr));
  if (!request.raw.complete && declaresBody(request)) replyAfterBody(request, reply, send);
  else send();
}

/** better-sqlite3's codes for a lock it could not get within busy_timeout. */
function databaseBusy(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && (code.startsWith('SQLITE_BUSY') || code === 'SQLITE_LOCKED');
}

/** What ran out of room, when `err` says the disk or a quota is full. */
function fullStorage(err: unknown): { reason: string; where: string } | null {
  const reason = (code: string | undefined): string =>
    code === 'EDQUOT' ? 'disk quota exceeded' : 'no space left on device';
  if (err instanceof StorageFullError)
    return {
      reason: reason((err.cause as NodeJS.ErrnoException | undefined)?.code),
      where: err.where,
    };
  const e = err as NodeJS.ErrnoException | undefined;
  if (e?.code === 'ENOSPC' || e?.code === 'EDQUOT')
    return { reason: reason(e.code), where: e.path ?? 'the data directory' };
  // better-sqlite3's code when the database file cannot grow.
  if (e?.code === 'SQLITE_FULL')
    return { reason: 'the metadata database cannot grow', where: 'meta.sqlite' };
  return null;
}

/**
 * An error found before the request's body has all arrived (a chunk the disk had no room for):
 * the rest of the body is read and dropped first, and only then is the error sent, with
 * `Connection: close`. Sent while the client was still writing, the answer raced the connection's
 * close: a socket closed with unread bytes is reset, and a client still sending (skopeo, docker:
 * Go's HTTP client) then reported a broken pipe instead of the 507, about one time in eight here.
 * A body still coming after LINGER_MS is not waited for any longer: the error goes out and the
 * connection closes after it. Left half-read, the connection would instead hold a graceful
 * shutdown for its whole grace period.
 */
function replyAfterBody(request: FastifyRequest, reply: FastifyReply, send: () => void): void {
  const body = request.raw;
  let sent = false;
  const finish = (): void => {
    if (sent) return;
    sent = true;
    clearTimeout(timer);
    reply.header('connection', 'close');
    send();
  };
  const timer = setTimeout(finish, LINGER_MS).unref();
  body.once('end', finish);
  body.once('close', finish);
  body.once('error', finish);
  body.resume();
}

const LINGER_MS = 5000;

function declaresBody(request: FastifyRequest): boolean {
  const { headers } = request;
  return headers['transfer-encoding'] !== undefined || Number(headers['content-length'] ?? 0) > 0;
}

function isClientGone(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ECONNRESET' || code === 'ABORT_ERR';
}
