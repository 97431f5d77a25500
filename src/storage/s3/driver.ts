/**
 * @module storage/s3/driver
 * The S3 StorageDriver (any S3-compatible store: AWS, Ceph RGW, …). Design and costs:
 * docs/adr/0007-s3-blob-storage.md. In short: S3 has no rename, so an upload's bytes are
 * assembled once into `data/<upload id>` and a committed blob's key holds a 0-byte pointer object
 * naming them (pointer.ts); uploads write through bounded part buffers (upload.ts) and keep their
 * state in the handle the registry stores (handle.ts), so any replica continues any upload.
 *
 * Every method that resolves has completed its requests: S3 acknowledges a write once durable.
 */
import {
  AbortMultipartUploadCommand,
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { Readable } from 'node:stream';
import type { ByteRange } from '../../core/types.js';
import {
  assertKey,
  ObjectMissingError,
  StorageError,
  type AppendOptions,
  type ObjectStat,
  type StorageDriver,
  type UploadHandle,
} from '../driver.js';
import {
  createClient,
  errorCode,
  causeOf,
  isMissing,
  isNoSuchUpload,
  isNotImplemented,
  isPreconditionFailed,
  statusOf,
  wrap,
  type S3Context,
  type S3Traffic,
} from './client.js';
import { DEFAULT_JOIN_PIECES_AT, validateS3Options, type S3DriverOptions } from './config.js';
import {
  assertUploadId,
  dataKey,
  formatHandle,
  newUpload,
  parseHandle,
  piecesPrefix,
  type UploadState,
} from './handle.js';
import { pointerMetadata, PointerCache, readPointer, type Pointer } from './pointer.js';
import { assemble, copySource, writeUpload } from './upload.js';

export type { S3DriverOptions } from './config.js';
export { parseS3Url } from './config.js';

const UPLOADS = 'uploads';
const DATA = 'data';
/** Deletes in flight when clearing an upload's pieces (one DeleteObject each: Swift's s3api needs MD5 on DeleteObjects). */
const DELETE_CONCURRENCY = 8;

/** Opens the driver and checks that the bucket answers, so a wrong name or key fails at start. */
export async function createS3Driver(options: S3DriverOptions): Promise<S3Driver> {
  const driver = new S3Driver(options);
  try {
    await driver.client.send(new HeadBucketCommand({ Bucket: driver.bucket }));
  } catch (e) {
    const status = statusOf(e);
    const why =
      status === 404
        ? 'no such bucket'
        : status === 403
          ? 'access denied (check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)'
          : errorCode(e);
    driver.destroy();
    throw new StorageError(`S3 bucket ${driver.bucket} cannot be used: ${why}`, {
      cause: causeOf(e),
    });
  }
  return driver;
}

interface Head {
  size: number;
  modifiedAt?: Date;
  pointer: Pointer | null;
}

export class S3Driver implements StorageDriver, S3Context {
  readonly name = 's3';
  readonly minChunkLength: number;
  readonly partSize: number;
  readonly joinPiecesAt: number;
  readonly bucket: string;
  readonly client: S3Client;
  /** What this driver sent to the store (tests and benchmarks). */
  readonly traffic: S3Traffic = { requests: 0, bytesSent: 0 };
  private readonly prefix: string;
  private readonly pointers = new PointerCache();
  /** Cleared when the store answers a conditional PUT with 501 (Swift's s3api). */
  private conditionalPut = true;
  /** Set by `redirect=true`: reads may be handed off as presigned URLs. */
  private readonly redirect: boolean;

  constructor(options: S3DriverOptions) {
    const valid = validateS3Options(options);
    this.bucket = valid.bucket;
    this.prefix = valid.prefix === '' ? '' : `${valid.prefix}/`;
    this.partSize = valid.partSize;
    this.joinPiecesAt = valid.joinPiecesAt ?? DEFAULT_JOIN_PIECES_AT;
    this.minChunkLength = valid.partSize;
    this.redirect = valid.redirect ?? false;
    this.client = createClient(valid, this.traffic);
  }

  objectKey(key: string): string {
    assertKey(key);
    return this.prefix + key;
  }

  /** Closes the client's sockets. */
  destroy(): void {
    this.client.destroy();
  }

  async stat(key: string): Promise<ObjectStat | null> {
    const head = await this.head(key);
    if (!head) return null;
    return {
      size: head.pointer ? head.pointer.size : head.size,
      ...(head.modifiedAt ? { modifiedAt: head.modifiedAt } : {}),
    };
  }

  async read(
    key: string,
    options: { range?: ByteRange; signal?: AbortSignal } = {},
  ): Promise<Readable | null> {
    const { range, signal } = options;
    assertKey(key);
    const cached = this.pointers.get(key);
    if (cached) {
      const body = await this.readData(cached, range, signal);
      if (body) return body;
      // The data is gone, so the pointer probably is too: resolve it again, once.
      this.pointers.delete(key);
    } else if (!range) {
      // A plain object (a manifest) is served by this one request; a pointer answers with its
      // metadata and an empty body.
      const got = await this.get(key, undefined, signal);
      if (!got) return null;
      const pointer = readPointer(got.metadata, key);
      if (!pointer) return got.body;
      got.body.destroy();
      this.pointers.set(key, pointer);
      return this.readData(pointer, range, signal);
    }
    const head = await this.head(key);
    if (!head) return null;
    if (head.pointer) return this.readData(head.pointer, range, signal);
    return (await this.get(key, range, signal))?.body ?? null;
  }

  /**
   * A presigned GET of the object's bytes (a pointer's data object), or null without `redirect`
   * or when the object is absent. The pointer is HEADed each time rather than taken from the
   * cache: a read can notice a cached pointer's data is gone and resolve again, a client holding
   * a URL cannot (a blob collected and pushed again on another replica has new data). A 0-byte
   * HEAD per pull is still far less than the blob. Signing is local: no request.
   */
  async readUrl(key: string, options: { expiresInSeconds: number }): Promise<string | null> {
    if (!this.redirect) return null;
    const head = await this.head(key);
    if (!head) return null;
    const target = head.pointer ? head.pointer.dataKey : key;
    try {
      return await getSignedUrl(
        this.client,
        new GetObjectCommand({ Bucket: this.bucket, Key: this.objectKey(target) }),
        { expiresIn: options.expiresInSeconds },
      );
    } catch (e) {
      throw wrap(e, 'sign', key);
    }
  }

  async writeSmall(key: string, data: Uint8Array): Promise<void> {
    this.pointers.delete(key);
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.objectKey(key),
          Body: data,
          ContentLength: data.byteLength,
        }),
      );
    } catch (e) {
      throw wrap(e, 'write', key);
    }
  }

  async delete(key: string): Promise<void> {
    const head = await this.head(key);
    if (!head) return;
    await this.deleteHeaded(key, head);
  }

  /**
   * A pointer is moved by copying the 0-byte pointer (its metadata with it) and deleting the
   * source pointer: the data object stays where it is, so GC's trash and fsck's quarantine cost
   * two small requests whatever the blob's size. A plain object is copied server-side.
   */
  async move(from: string, to: string): Promise<void> {
    const source = await this.head(from);
    if (!source) throw new ObjectMissingError(`${from} does not exist`);
    const target = await this.head(to);
    if (target) {
      // Same content at the target: keep it. Our pointer's data goes too, unless the target
      // names it (a move that crashed between its copy and its delete).
      if (source.pointer && target.pointer?.dataKey === source.pointer.dataKey)
        await this.deleteObject(from);
      else await this.deleteHeaded(from, source);
      return;
    }
    try {
      await this.client.send(
        new CopyObjectCommand({
          Bucket: this.bucket,
          Key: this.objectKey(to),
          CopySource: copySource(this, from),
          MetadataDirective: 'COPY',
        }),
      );
    } catch (e) {
      if (isMissing(e))
        throw new ObjectMissingError(`${from} does not exist`, { cause: causeOf(e) });
      throw wrap(e, 'move', `${from} -> ${to}`);
    }
    await this.deleteObject(from);
  }

  async *list(prefix: string): AsyncIterable<string> {
    for await (const object of this.listObjects(prefix)) yield object.key;
  }

  // Uploads (handle.ts holds the state, upload.ts the byte path).

  // eslint-disable-next-line @typescript-eslint/require-await -- a bad id rejects, as any failure
  async beginUpload(id: string): Promise<UploadHandle> {
    return formatHandle(newUpload(id));
  }

  async writeUpload(
    handle: UploadHandle,
    offset: number,
    body: Readable,
    options?: AppendOptions,
  ): Promise<{ size: number; handle: UploadHandle }> {
    const state = parseHandle(handle);
    // Bytes past the recorded size were never acknowledged, so they are not stored: the write
    // would leave a gap.
    if (offset > state.size)
      throw new ObjectMissingError(`upload ${state.id} holds ${state.size} bytes, not ${offset}`);
    if (offset < state.size)
      throw new StorageError(
        `upload ${state.id} is at ${state.size} bytes: a write at ${offset} cannot continue it`,
      );
    const next = await writeUpload(this, state, body, options);
    return { size: next.size, handle: formatHandle(next) };
  }

  async readUpload(handle: UploadHandle): Promise<{ body: Readable; handle: UploadHandle } | null> {
    const state = parseHandle(handle);
    try {
      await assemble(this, state);
    } catch (e) {
      if (e instanceof ObjectMissingError) return null;
      throw e;
    }
    const done: UploadState = { v: 1, id: state.id, size: state.size, pieces: [], done: true };
    const got = await this.get(dataKey(state.id));
    return got ? { body: got.body, handle: formatHandle(done) } : null;
  }

  async commitUpload(handle: UploadHandle, size: number, key: string): Promise<void> {
    const state = parseHandle(handle);
    if (size !== state.size)
      throw new StorageError(`upload ${state.id} holds ${state.size} bytes, not ${size}`);
    const data = dataKey(state.id);
    const pointer: Pointer = { dataKey: data, size, home: key };
    const existing = await this.head(key);
    if (!existing) {
      await assemble(this, state);
      if (await this.putPointer(key, pointer)) {
        this.pointers.set(key, pointer);
        // The pieces, and multipart uploads that failed writes started and no handle recorded.
        await this.discard(newUpload(state.id), false);
        return;
      }
    }
    // The key holds the same content already (another push of this blob won, or our own commit
    // did before a crash): keep it and drop this upload, unless the pointer names our data.
    const winner = existing ?? (await this.head(key));
    const ours = winner?.pointer?.dataKey === data;
    await this.discard(state, !ours);
  }

  async abortUpload(id: string, handle?: UploadHandle): Promise<void> {
    assertUploadId(id);
    const state = handle === undefined ? undefined : parseHandle(handle, id);
    // Without a handle the data object is left alone: a committed blob's bytes live there.
    await this.discard(state ?? newUpload(id), state?.done === true || state?.assembled === true);
  }

  async *listUploads(): AsyncIterable<{ id: string; modifiedAt?: Date; size: number }> {
    const found = new Map<string, { size: number; modifiedAt?: Date }>();
    const note = (id: string, end: number, modifiedAt: Date | undefined): void => {
      const seen = found.get(id) ?? { size: 0 };
      seen.size = Math.max(seen.size, end);
      if (modifiedAt && (!seen.modifiedAt || modifiedAt > seen.modifiedAt))
        seen.modifiedAt = modifiedAt;
      found.set(id, seen);
    };
    for await (const object of this.listObjects(UPLOADS)) {
      const [, id, name] = object.key.split('/');
      if (id === undefined) continue;
      // piece-<offset>-<nonce>: the bytes known stored end where the last piece ends.
      const offset = Number(/^piece-([0-9]+)-[0-9a-f]+$/.exec(name ?? '')?.[1] ?? 0);
      note(id, offset + object.size, object.modifiedAt);
    }
    for await (const upload of this.listMultipart(DATA)) {
      const id = upload.key.slice(DATA.length + 1);
      if (id.includes('/')) continue;
      note(id, await this.partsStored(upload.key, upload.uploadId), upload.initiated);
    }
    for (const [id, seen] of found) yield { id, ...seen };
  }

  /**
   * Data objects no pointer names and no upload owns, last written before `olderThan`: left by a
   * crash between assembling an upload into `data/<id>` and writing its pointer, or by a session
   * that expired after readUpload assembled it (ADR 0007 §10). Removed unless `dryRun`; their
   * number. `hasSession(id)` says whether an upload session still owns `data/<id>`. The pointers
   * are listed after those checks: a commit writes its pointer before its session row goes, so
   * one that ends meanwhile is seen. Every committed blob's data is a candidate until its
   * pointer is seen, so this costs a listing of the store and a HEAD per pointer not in the
   * cache (GC runs it once a day by default).
   */
  async collectUnreferenced(options: {
    olderThan: Date;
    dryRun: boolean;
    hasSession: (id: string) => Promise<boolean>;
  }): Promise<number> {
    const candidates = new Set<string>();
    for await (const object of this.listObjects(DATA)) {
      if (!object.modifiedAt || object.modifiedAt >= options.olderThan) continue;
      const id = object.key.slice(DATA.length + 1);
      if (id.includes('/') || (await options.hasSession(id))) continue;
      candidates.add(object.key);
    }
    if (candidates.size === 0) return 0;
    // Pointers are wherever commitUpload and move put them: every 0-byte object outside the
    // driver's own folders.
    for await (const object of this.listEverything()) {
      if (object.size !== 0 || object.key.startsWith(`${DATA}/`)) continue;
      if (object.key.startsWith(`${UPLOADS}/`)) continue;
      const pointer = this.pointers.get(object.key) ?? (await this.head(object.key))?.pointer;
      if (pointer) candidates.delete(pointer.dataKey);
      if (candidates.size === 0) return 0;
    }
    if (!options.dryRun) for (const key of candidates) await this.deleteObject(key);
    return candidates.size;
  }

  // Internals.

  /** The bytes of a multipart upload's parts (its first 1000: a listing's estimate). */
  private async partsStored(key: string, uploadId: string): Promise<number> {
    try {
      const page = await this.client.send(
        new ListPartsCommand({ Bucket: this.bucket, Key: this.objectKey(key), UploadId: uploadId }),
      );
      return (page.Parts ?? []).reduce((n, p) => n + (p.Size ?? 0), 0);
    } catch (e) {
      if (isNoSuchUpload(e)) return 0;
      throw wrap(e, 'list parts', key);
    }
  }

  /** HEAD: size, time and pointer of an object; null when absent. */
  private async head(key: string): Promise<Head | null> {
    try {
      const head = await this.client.send(
        new HeadObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }),
      );
      const pointer = readPointer(head.Metadata, key);
      if (pointer) this.pointers.set(key, pointer);
      else this.pointers.delete(key);
      return {
        size: head.ContentLength ?? 0,
        pointer,
        ...(head.LastModified ? { modifiedAt: head.LastModified } : {}),
      };
    } catch (e) {
      if (isMissing(e)) {
        this.pointers.delete(key);
        return null;
      }
      throw wrap(e, 'stat', key);
    }
  }

  private async get(
    key: string,
    range?: ByteRange,
    signal?: AbortSignal,
  ): Promise<{ body: Readable; metadata: Record<string, string> | undefined } | null> {
    try {
      const got = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: this.objectKey(key),
          ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}),
        }),
        signal ? { abortSignal: signal } : {},
      );
      const body = got.Body as Readable;
      if (signal) destroyOnAbort(body, signal);
      return { body, metadata: got.Metadata };
    } catch (e) {
      if (isMissing(e)) return null;
      // A range starting past the end: nothing to send, as a file read there gives.
      if (statusOf(e) === 416) return { body: Readable.from([]), metadata: undefined };
      throw wrap(e, 'read', key);
    }
  }

  private async readData(
    pointer: Pointer,
    range: ByteRange | undefined,
    signal: AbortSignal | undefined,
  ): Promise<Readable | null> {
    if (range && range.start >= pointer.size) return Readable.from([]);
    return (await this.get(pointer.dataKey, range, signal))?.body ?? null;
  }

  /**
   * Writes a pointer unless the key exists (`If-None-Match: *`, so two replicas committing the
   * same blob cannot both win and orphan one data object). False when another one is there.
   */
  private async putPointer(key: string, pointer: Pointer): Promise<boolean> {
    const put = (conditional: boolean): Promise<unknown> =>
      this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.objectKey(key),
          Body: Buffer.alloc(0),
          ContentLength: 0,
          Metadata: pointerMetadata(pointer),
          ...(conditional ? { IfNoneMatch: '*' } : {}),
        }),
      );
    try {
      await put(this.conditionalPut);
      return true;
    } catch (e) {
      if (isPreconditionFailed(e)) return false;
      if (!(this.conditionalPut && isNotImplemented(e))) throw wrap(e, 'write', key);
    }
    this.conditionalPut = false;
    try {
      await put(false);
      return true;
    } catch (e) {
      throw wrap(e, 'write', key);
    }
  }

  /** Deletes an object already HEADed: a pointer with its data, unless another pointer names it. */
  private async deleteHeaded(key: string, head: Head): Promise<void> {
    await this.deleteObject(key);
    const pointer = head.pointer;
    if (!pointer) return;
    // A pointer away from home (trash, quarantine) whose home pointer still names the same data
    // is a move's crash leftover: the data is still in use.
    if (pointer.home !== key) {
      const home = await this.head(pointer.home).catch(() => null);
      if (home?.pointer?.dataKey === pointer.dataKey) return;
    }
    await this.deleteObject(pointer.dataKey);
  }

  private async deleteObject(key: string): Promise<void> {
    this.pointers.delete(key);
    try {
      await this.client.send(
        new DeleteObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }),
      );
    } catch (e) {
      if (!isMissing(e)) throw wrap(e, 'delete', key);
    }
  }

  /**
   * Removes an upload's multipart uploads (every one at `data/<id>`: a failed write may have
   * started one its handle never recorded), its pieces and, with `withData`, `data/<id>`.
   */
  private async discard(state: UploadState, withData: boolean): Promise<void> {
    const data = dataKey(state.id);
    const uploadIds = new Set<string>();
    if (state.multipart) uploadIds.add(state.multipart.uploadId);
    for await (const upload of this.listMultipart(data))
      if (upload.key === data) uploadIds.add(upload.uploadId);
    for (const uploadId of uploadIds) {
      try {
        await this.client.send(
          new AbortMultipartUploadCommand({
            Bucket: this.bucket,
            Key: this.objectKey(data),
            UploadId: uploadId,
          }),
        );
      } catch (e) {
        if (!isNoSuchUpload(e) && !isMissing(e)) throw wrap(e, 'abort', data);
      }
    }
    await this.deleteUnder(piecesPrefix(state.id));
    if (withData) await this.deleteObject(data);
  }

  private async deleteUnder(prefix: string): Promise<void> {
    const keys: string[] = [];
    for await (const key of this.list(prefix)) keys.push(key);
    for (let i = 0; i < keys.length; i += DELETE_CONCURRENCY)
      await Promise.all(keys.slice(i, i + DELETE_CONCURRENCY).map((k) => this.deleteObject(k)));
  }

  /** Every object of this driver (under its prefix). */
  private listEverything(): AsyncIterable<{ key: string; size: number; modifiedAt?: Date }> {
    return this.listFolder(this.prefix);
  }

  private listObjects(
    prefix: string,
  ): AsyncIterable<{ key: string; size: number; modifiedAt?: Date }> {
    // The prefix is a folder, as on a filesystem: `uploads` lists `uploads/…`, not `uploads2`.
    return this.listFolder(`${this.objectKey(prefix)}/`);
  }

  /** Objects whose full key starts with `folder` (which includes the driver's prefix). */
  private async *listFolder(
    folder: string,
  ): AsyncIterable<{ key: string; size: number; modifiedAt?: Date }> {
    let token: string | undefined;
    do {
      let page;
      try {
        page = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: folder,
            ...(token ? { ContinuationToken: token } : {}),
          }),
        );
      } catch (e) {
        throw wrap(e, 'list', folder);
      }
      for (const object of page.Contents ?? []) {
        if (!object.Key?.startsWith(folder)) continue;
        yield {
          key: object.Key.slice(this.prefix.length),
          size: object.Size ?? 0,
          ...(object.LastModified ? { modifiedAt: object.LastModified } : {}),
        };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /** Open multipart uploads whose key starts with `prefix` (keys without the driver's prefix). */
  private async *listMultipart(
    prefix: string,
  ): AsyncIterable<{ key: string; uploadId: string; initiated?: Date }> {
    const full = this.objectKey(prefix);
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    do {
      let page;
      try {
        page = await this.client.send(
          new ListMultipartUploadsCommand({
            Bucket: this.bucket,
            Prefix: full,
            ...(keyMarker ? { KeyMarker: keyMarker } : {}),
            ...(uploadIdMarker ? { UploadIdMarker: uploadIdMarker } : {}),
          }),
        );
      } catch (e) {
        throw wrap(e, 'list uploads', prefix);
      }
      for (const upload of page.Uploads ?? []) {
        if (!upload.Key?.startsWith(full) || !upload.UploadId) continue;
        yield {
          key: upload.Key.slice(this.prefix.length),
          uploadId: upload.UploadId,
          ...(upload.Initiated ? { initiated: upload.Initiated } : {}),
        };
      }
      const more = page.IsTruncated === true;
      keyMarker = more ? page.NextKeyMarker : undefined;
      uploadIdMarker = more ? page.NextUploadIdMarker : undefined;
    } while (keyMarker);
  }
}

/** A pull cancelled after the response began: the body stream is ended with the reason. */
function destroyOnAbort(body: Readable, signal: AbortSignal): void {
  if (signal.aborted) {
    body.destroy(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    return;
  }
  const onAbort = (): void => {
    body.destroy(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
  };
  signal.addEventListener('abort', onAbort, { once: true });
  body.once('close', () => signal.removeEventListener('abort', onAbort));
}
