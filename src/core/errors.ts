/**
 * @module core/errors
 * Typed registry errors. The domain throws these with an OCI error code; exactly one place
 * (`http/errors.ts`) turns a code into an HTTP status and the spec's JSON error body.
 */

export type OciErrorCode =
  | 'BLOB_UNKNOWN'
  | 'BLOB_UPLOAD_INVALID'
  | 'BLOB_UPLOAD_UNKNOWN'
  | 'DIGEST_INVALID'
  | 'MANIFEST_BLOB_UNKNOWN'
  | 'MANIFEST_INVALID'
  | 'MANIFEST_UNKNOWN'
  | 'NAME_INVALID'
  | 'NAME_UNKNOWN'
  | 'SIZE_INVALID'
  | 'TAG_INVALID'
  | 'UNAUTHORIZED'
  | 'DENIED'
  | 'UNSUPPORTED'
  | 'TOOMANYREQUESTS'
  | 'RANGE_INVALID'
  | 'PAGINATION_NUMBER_INVALID'
  /** A body over its size limit (413); sent on the wire as SIZE_INVALID. */
  | 'TOO_LARGE'
  /** A delete refused while a manifest of the repository lists the content (409); wire: DENIED. */
  | 'REFERENCED'
  /** The registry's disk or quota is full (507); sent on the wire as UNKNOWN, the spec has no code. */
  | 'STORAGE_FULL'
  | 'UNAVAILABLE'
  | 'UNKNOWN'
  // Admin API (not distribution-spec codes):
  | 'INVALID_REQUEST'
  | 'NOT_FOUND'
  | 'CONFLICT';

export class RegistryError extends Error {
  override readonly name = 'RegistryError';
  constructor(
    readonly code: OciErrorCode,
    message: string,
    readonly detail?: Readonly<Record<string, unknown>>,
    /** Headers the response must carry (a 416's Range, a 401's challenge). */
    readonly headers?: Readonly<Record<string, string>>,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export const isRegistryError = (e: unknown): e is RegistryError => e instanceof RegistryError;

export const blobUnknown = (digest: string): RegistryError =>
  new RegistryError('BLOB_UNKNOWN', 'blob unknown to registry', { digest });

export const manifestUnknown = (reference: string, message = 'manifest unknown'): RegistryError =>
  new RegistryError('MANIFEST_UNKNOWN', message, { reference });

export const uploadUnknown = (id: string): RegistryError =>
  new RegistryError('BLOB_UPLOAD_UNKNOWN', 'blob upload unknown to registry', { id });

export const digestInvalid = (message: string, detail?: Record<string, unknown>): RegistryError =>
  new RegistryError('DIGEST_INVALID', message, detail);

export const manifestInvalid = (message: string, detail?: Record<string, unknown>): RegistryError =>
  new RegistryError('MANIFEST_INVALID', message, detail);

export const nameInvalid = (name: string, reason: string): RegistryError =>
  new RegistryError('NAME_INVALID', `invalid repository name: ${reason}`, { name });

/**
 * A delete refused because manifests of the repository list the content (an index its child, an
 * image its config or layer): deleting it would leave their tags pointing at content that cannot
 * be pulled. 409, as GitLab's registry answers (the repository's state is the obstacle, and
 * deleting the referrer first resolves it); the code on the wire is DENIED, the spec code zot
 * sends for the same refusals (with 405), because clients know only the spec's codes. The message
 * names the referring manifests, so the fix is plain.
 */
export const stillReferenced = (
  what: 'manifest' | 'blob',
  digest: string,
  by: readonly string[],
): RegistryError =>
  new RegistryError(
    'REFERENCED',
    `${what} ${digest} is listed by ${what === 'manifest' ? 'index' : 'manifest'} ${by.join(', ')} in this repository; delete that first`,
    { digest, referencedBy: by },
  );

/**
 * Nothing the request wrote was kept: a failed chunk is cut back, so an upload keeps the bytes
 * acknowledged before it and resumes there once space is freed. `reason` is the system's word
 * (no space left on device, disk quota exceeded).
 */
export const storageFull = (reason: string, options?: ErrorOptions): RegistryError =>
  new RegistryError(
    'STORAGE_FULL',
    `the registry's storage is full (${reason}): nothing of this request was kept; ` +
      'an upload keeps its acknowledged bytes and can resume once space is freed',
    undefined,
    undefined,
    options,
  );

export const nameUnknown = (name: string, message = 'repository name not known to registry') =>
  new RegistryError('NAME_UNKNOWN', message, { name });
