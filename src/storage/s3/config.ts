/**
 * @module storage/s3/config
 * The S3 driver's options and the `s3://BUCKET[/PREFIX]?endpoint=…&region=…&forcePathStyle=true`
 * storage URL they are read from (`--storage` / `BERTH_STORAGE_URL`). Credentials never appear
 * in the URL: they come from the AWS default chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY,
 * profiles, instance roles).
 */
import { StorageError } from '../driver.js';

const MiB = 1024 * 1024;
/** S3's smallest part (all parts but the last); RGW and Swift enforce it at Complete. */
export const MIN_PART_SIZE = 5 * MiB;
/** S3's largest part. */
export const MAX_PART_SIZE = 5 * 1024 * MiB;
/** See docs/adr/0007-s3-blob-storage.md for the measurements behind the default. */
export const DEFAULT_PART_SIZE = 8 * MiB;
/**
 * Pieces pile up only under clients of tiny chunks (1 KiB PATCHes: 8192 per 8 MiB part). Each
 * adds ~70 bytes to the handle, rewritten with every write, and a GET when the part fills; at
 * 1000 they are joined (re-sending at most a part's bytes, once per 1000 writes).
 */
export const DEFAULT_JOIN_PIECES_AT = 1000;

export interface S3DriverOptions {
  bucket: string;
  /** Key prefix inside the bucket (no leading or trailing slash), so a bucket can be shared. */
  prefix?: string;
  /** A custom endpoint (Ceph RGW, MinIO, …); AWS when absent. */
  endpoint?: string;
  region?: string;
  /** Path-style addressing (`endpoint/bucket/key`): needed where no wildcard DNS exists. */
  forcePathStyle?: boolean;
  /** Explicit keys (tests); the AWS default credential chain when absent. */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Multipart part size in bytes, at least 5 MiB; announced as `OCI-Chunk-Min-Length`. */
  partSize?: number;
  /**
   * A write that finds this many pieces (tails of writes under a part) joins them into one;
   * default {@link DEFAULT_JOIN_PIECES_AT}. Only tests set it.
   */
  joinPiecesAt?: number;
  /**
   * Blob pulls are answered with a 307 to a presigned GET of the blob's data object, so the
   * bytes flow from the store to the client and not through Berth (`redirect=true`).
   */
  redirect?: boolean;
}

/** S3's bucket naming rules (the DNS-compatible subset every engine accepts). */
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const PREFIX_SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;

/** Throws a StorageError naming what is wrong with the options; returns them normalized. */
export function validateS3Options(
  options: S3DriverOptions,
): Required<Pick<S3DriverOptions, 'bucket' | 'prefix' | 'partSize'>> & S3DriverOptions {
  const { bucket, prefix = '', partSize = DEFAULT_PART_SIZE } = options;
  if (!BUCKET.test(bucket) || bucket.includes('..'))
    throw new StorageError(
      `invalid S3 bucket name ${JSON.stringify(bucket)}: 3-63 characters of a-z, 0-9, '.' and '-'`,
    );
  const trimmed = prefix.replace(/^\/+|\/+$/g, '');
  if (trimmed !== '' && !trimmed.split('/').every((s) => PREFIX_SEGMENT.test(s)))
    throw new StorageError(
      `invalid S3 key prefix ${JSON.stringify(prefix)}: segments of A-Z, a-z, 0-9, '.', '_' and '-'`,
    );
  if (!Number.isSafeInteger(partSize) || partSize < MIN_PART_SIZE || partSize > MAX_PART_SIZE)
    throw new StorageError(
      `invalid S3 part size ${partSize}: between ${MIN_PART_SIZE} (5 MiB) and ${MAX_PART_SIZE} bytes`,
    );
  if (options.endpoint !== undefined) parseEndpoint(options.endpoint);
  const join = options.joinPiecesAt;
  if (join !== undefined && (!Number.isSafeInteger(join) || join < 1 || join > 5000))
    throw new StorageError(`invalid joinPiecesAt ${join}: between 1 and 5000`);
  return { ...options, bucket, prefix: trimmed, partSize };
}

function parseEndpoint(value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new StorageError(`invalid S3 endpoint ${JSON.stringify(value)}: not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new StorageError(`invalid S3 endpoint ${JSON.stringify(value)}: http(s) only`);
  if (url.username || url.password)
    throw new StorageError(
      'the S3 endpoint must not carry credentials: use AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY',
    );
  return url;
}

const KNOWN_PARAMS = new Set(['endpoint', 'region', 'forcePathStyle', 'partSize', 'redirect']);

/**
 * Reads `s3://BUCKET[/PREFIX]?endpoint=…&region=…&forcePathStyle=true[&partSize=BYTES][&redirect=true]`.
 */
export function parseS3Url(value: string): S3DriverOptions {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new StorageError(`invalid S3 storage URL ${JSON.stringify(value)}`);
  }
  const shown = redact(url);
  if (url.protocol !== 's3:')
    throw new StorageError(`not an S3 storage URL: ${shown} (expected s3://BUCKET[/PREFIX])`);
  if (url.username || url.password)
    throw new StorageError(
      `the S3 storage URL must not carry credentials (${shown}): use AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY`,
    );
  if (url.port)
    throw new StorageError(`unexpected port in the S3 storage URL ${shown}: use ?endpoint=`);
  if (url.hash) throw new StorageError(`unexpected #fragment in the S3 storage URL ${shown}`);
  for (const name of url.searchParams.keys())
    if (!KNOWN_PARAMS.has(name))
      throw new StorageError(
        `unknown parameter ${JSON.stringify(name)} in the S3 storage URL ${shown} (known: ${[...KNOWN_PARAMS].join(', ')})`,
      );
  const options: S3DriverOptions = { bucket: url.hostname };
  const prefix = decodeURIComponent(url.pathname);
  if (prefix !== '' && prefix !== '/') options.prefix = prefix;
  const endpoint = url.searchParams.get('endpoint');
  if (endpoint !== null) options.endpoint = endpoint;
  const region = url.searchParams.get('region');
  if (region !== null) {
    if (!/^[a-z0-9-]{1,64}$/.test(region))
      throw new StorageError(`invalid S3 region ${JSON.stringify(region)}`);
    options.region = region;
  }
  const pathStyle = flag(url, 'forcePathStyle');
  if (pathStyle !== undefined) options.forcePathStyle = pathStyle;
  const redirect = flag(url, 'redirect');
  if (redirect !== undefined) options.redirect = redirect;
  const partSize = url.searchParams.get('partSize');
  if (partSize !== null) {
    if (!/^[0-9]{1,12}$/.test(partSize))
      throw new StorageError(`partSize must be a number of bytes, not ${JSON.stringify(partSize)}`);
    options.partSize = Number(partSize);
  }
  validateS3Options(options);
  return options;
}

function flag(url: URL, name: string): boolean | undefined {
  const value = url.searchParams.get(name);
  if (value === null) return undefined;
  if (value !== 'true' && value !== 'false')
    throw new StorageError(`${name} must be true or false, not ${JSON.stringify(value)}`);
  return value === 'true';
}

/** The URL for messages and logs: no password, even a mistaken one. */
function redact(url: URL): string {
  if (!url.password) return url.href;
  const copy = new URL(url.href);
  copy.password = '***';
  return copy.href;
}
