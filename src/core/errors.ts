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
  /** A manifest delete refused while an index lists it (409); sent on the wire as DENIED. */
  | 'MANIFEST_REFERENCED'
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

export const nameUnknown = (name: string, message = 'repository name not known to registry') =>
  new RegistryError('NAME_UNKNOWN', message, { name });
