/**
 * @module storage/s3/client
 * The S3 client with the settings real engines force (ENGINES.md §4), the traffic counter, and
 * the reading of S3 errors.
 */
import { S3Client } from '@aws-sdk/client-s3';
import { StorageError } from '../driver.js';
import type { S3DriverOptions } from './config.js';

/** Bytes and requests sent to the store, retries included (tests and benchmarks read it). */
export interface S3Traffic {
  requests: number;
  /**
   * Object bytes uploaded (PutObject and UploadPart bodies, retries included); server-side
   * copies send none. Request XML (CompleteMultipartUpload's part list) is not counted.
   */
  bytesSent: number;
}

/**
 * Attempts per request, the first included. The SDK's standard retry strategy backs off
 * exponentially with jitter on 5xx, throttling (SlowDown, 503) and transient network errors;
 * every body Berth sends is a Buffer, so any request can be sent again.
 */
const MAX_ATTEMPTS = 5;

/** The commands whose body is object data. */
const DATA_COMMANDS = new Set(['PutObjectCommand', 'UploadPartCommand']);

export function createClient(options: S3DriverOptions, traffic: S3Traffic): S3Client {
  const client = new S3Client({
    region: options.region ?? 'us-east-1',
    ...(options.endpoint !== undefined ? { endpoint: options.endpoint } : {}),
    forcePathStyle: options.forcePathStyle ?? false,
    ...(options.credentials ? { credentials: options.credentials } : {}),
    // Mandatory: with the SDK's default a streamed body goes out aws-chunked with a CRC32
    // trailer, which Ceph RGW 16 answers 411, Swift 501, and emulators store inside the object.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: MAX_ATTEMPTS,
    retryMode: 'standard',
    // Keep-alive sockets (the handler's agents keep them by default); no request timeout, which
    // would cut a pull whose client reads slowly (the socket idles while it is paused).
    requestHandler: { connectionTimeout: 10_000 },
  });
  // Innermost step: runs once per attempt, so retried bodies are counted too.
  client.middlewareStack.add(
    (next, context) => async (args) => {
      traffic.requests += 1;
      const body = (args.request as { body?: unknown }).body;
      if (DATA_COMMANDS.has(context.commandName ?? '') && body instanceof Uint8Array)
        traffic.bytesSent += body.byteLength;
      return next(args);
    },
    { step: 'deserialize', name: 'berthTraffic', priority: 'low' },
  );
  return client;
}

interface S3ErrorShape {
  name?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
}

function shape(e: unknown): S3ErrorShape {
  return typeof e === 'object' && e !== null ? e : {};
}

export function errorCode(e: unknown): string {
  const s = shape(e);
  return s.Code ?? s.name ?? 'error';
}

export function statusOf(e: unknown): number | undefined {
  return shape(e).$metadata?.httpStatusCode;
}

/** No such object (GET answers NoSuchKey, HEAD a bare 404 the SDK names NotFound). */
export function isMissing(e: unknown): boolean {
  const code = errorCode(e);
  return (
    code === 'NoSuchKey' ||
    code === 'NotFound' ||
    (statusOf(e) === 404 && code !== 'NoSuchBucket' && code !== 'NoSuchUpload')
  );
}

export function isNoSuchUpload(e: unknown): boolean {
  return errorCode(e) === 'NoSuchUpload';
}

export function isPreconditionFailed(e: unknown): boolean {
  return statusOf(e) === 412 || errorCode(e) === 'PreconditionFailed';
}

/** The engine does not do conditional PUTs (Swift's s3api answers 501). */
export function isNotImplemented(e: unknown): boolean {
  return statusOf(e) === 501 || errorCode(e) === 'NotImplemented';
}

export function isAbort(e: unknown): boolean {
  return errorCode(e) === 'AbortError';
}

/**
 * What an S3 failure keeps as a StorageError's cause: its code, status, message and request id
 * (for the store's logs). The SDK's error also holds the raw response with its socket, which
 * would make every logged storage error a huge record.
 */
export function causeOf(e: unknown): Error {
  if (!(e instanceof Error)) return new Error(String(e));
  const meta = (e as { $metadata?: { requestId?: string } }).$metadata;
  return Object.assign(new Error(e.message), {
    name: e.name,
    code: errorCode(e),
    ...(statusOf(e) === undefined ? {} : { status: statusOf(e) }),
    ...(meta?.requestId === undefined ? {} : { requestId: meta.requestId }),
  });
}

export function wrap(e: unknown, op: string, key: string): Error {
  if (e instanceof StorageError) return e;
  if (isAbort(e) && e instanceof Error) return e;
  const status = statusOf(e);
  return new StorageError(
    `storage ${op} failed for ${key}: ${errorCode(e)}${status ? ` (HTTP ${status})` : ''}`,
    { cause: causeOf(e) },
  );
}

/** What the driver's parts share: the client, where objects go, the part size. */
export interface S3Context {
  readonly client: S3Client;
  readonly bucket: string;
  readonly partSize: number;
  /** A write that finds this many pieces joins them into one (config.ts). */
  readonly joinPiecesAt: number;
  /** The object key of a storage key (the prefix added). */
  objectKey(key: string): string;
}
