/**
 * @module storage/s3/upload
 * Writing an upload's bytes to S3 and assembling them into `data/<id>`.
 *
 * A write streams its body through one part buffer: each time the buffer fills, it goes out as
 * the next part of the multipart upload at `data/<id>` (created at the first full part), and what
 * is left at the end (less than a part) is stored as a new piece object,
 * `uploads/<id>/piece-<offset>`. Pieces left by earlier writes head the next part: when the new
 * bytes fill a part, the pieces are read back into the front of the buffer first. Nothing a
 * handle names is ever overwritten or deleted by a write, so a write that fails, or whose new
 * handle is never recorded, leaves the old handle valid.
 *
 * Bytes Berth sends per blob: each byte once, plus the bytes that waited in a piece for a later
 * write to fill their part (sent again inside that part). A blob written in one request is sent
 * exactly once: its last piece becomes the last part by a server-side copy (UploadPartCopy).
 */
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListPartsCommand,
  PutObjectCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { Writable, type Readable } from 'node:stream';
import { noteSpentBytes } from '../../runtime/spent-buffers.js';
import {
  LengthMismatchError,
  ObjectMissingError,
  StorageError,
  type AppendOptions,
} from '../driver.js';
import { partBuffers } from './buffers.js';
import { MAX_PART_SIZE, MIN_PART_SIZE } from './config.js';
import {
  causeOf,
  isMissing,
  isNoSuchUpload,
  isPreconditionFailed,
  wrap,
  type S3Context,
} from './client.js';
import {
  dataKey,
  pieceKey,
  piecesSize,
  type Part,
  type Piece,
  type UploadState,
} from './handle.js';
import { pump } from '../pump.js';

/** Writes `body` after the upload's `state.size` bytes; resolves with the new state. */
export async function writeUpload(
  ctx: S3Context,
  state: UploadState,
  body: Readable,
  options: AppendOptions = {},
): Promise<UploadState> {
  const from = state.done ? await reopen(ctx, state) : state;
  // Checked while the body starts arriving; awaited before anything is stored.
  const alive = assertAlive(ctx, from, options.signal);
  alive.catch(() => undefined);
  const writer = new PartWriter(ctx, from, alive, options);
  await pump(body, writer, options.signal);
  return writer.result();
}

/**
 * Continues an upload that readUpload assembled into `data/<id>`: those bytes become the first
 * part (a server-side copy; S3 copies at most 5 GiB per part) or, under 5 MiB, the first piece.
 * `data/<id>` itself is left as it is until the next assembly replaces it, so the handle of the
 * assembly stays valid if the new one is never recorded.
 */
async function reopen(ctx: S3Context, state: UploadState): Promise<UploadState> {
  const next: UploadState = { v: 1, id: state.id, size: state.size, pieces: [], assembled: true };
  if (state.size === 0) return next;
  const source = copySource(ctx, dataKey(state.id));
  const key = ctx.objectKey(dataKey(state.id));
  try {
    if (state.size < MIN_PART_SIZE) {
      const piece = pieceKey(state.id, 0);
      const copied = await ctx.client.send(
        new CopyObjectCommand({
          Bucket: ctx.bucket,
          Key: ctx.objectKey(piece),
          CopySource: source,
        }),
      );
      const etag = copied.CopyObjectResult?.ETag;
      if (!etag) throw new StorageError(`CopyObject into ${piece} returned no ETag`);
      next.pieces.push({ key: piece, size: state.size, etag });
      return next;
    }
    const created = await ctx.client.send(
      new CreateMultipartUploadCommand({ Bucket: ctx.bucket, Key: key }),
    );
    if (!created.UploadId) throw new StorageError('CreateMultipartUpload returned no UploadId');
    const parts: Part[] = [];
    const count = Math.ceil(state.size / MAX_PART_SIZE);
    const each = Math.ceil(state.size / count);
    for (let start = 0; start < state.size; start += each) {
      const end = Math.min(state.size, start + each) - 1;
      const n = parts.length + 1;
      const copied = await ctx.client.send(
        new UploadPartCopyCommand({
          Bucket: ctx.bucket,
          Key: key,
          UploadId: created.UploadId,
          PartNumber: n,
          CopySource: source,
          CopySourceRange: `bytes=${start}-${end}`,
        }),
      );
      const etag = copied.CopyPartResult?.ETag;
      if (!etag) throw new StorageError(`UploadPartCopy into ${key} returned no ETag`);
      parts.push({ n, etag, size: end - start + 1 });
    }
    next.multipart = { uploadId: created.UploadId, parts };
    return next;
  } catch (e) {
    if (isMissing(e))
      throw new ObjectMissingError(`upload ${state.id} does not exist any more`, {
        cause: causeOf(e),
      });
    throw wrap(e, 'reopen', key);
  }
}

/**
 * The upload's objects are still there (an abort or a leftover sweep may have removed them): a
 * write that only adds a piece would otherwise succeed on an upload that no longer exists.
 */
async function assertAlive(
  ctx: S3Context,
  state: UploadState,
  signal: AbortSignal | undefined,
): Promise<void> {
  const last = state.pieces.at(-1);
  try {
    if (last) {
      await ctx.client.send(
        new HeadObjectCommand({ Bucket: ctx.bucket, Key: ctx.objectKey(last.key) }),
        sendOptions(signal),
      );
    } else if (state.multipart) {
      await ctx.client.send(
        new ListPartsCommand({
          Bucket: ctx.bucket,
          Key: ctx.objectKey(dataKey(state.id)),
          UploadId: state.multipart.uploadId,
          MaxParts: 1,
        }),
        sendOptions(signal),
      );
    }
  } catch (e) {
    if (isMissing(e) || isNoSuchUpload(e))
      throw new ObjectMissingError(`upload ${state.id} does not exist any more`, {
        cause: causeOf(e),
      });
    throw wrap(e, 'check', `upload ${state.id}`);
  }
}

/**
 * The sink of one write. The buffer's first `reserve` bytes are kept for the pieces carried over
 * from earlier writes (read back only when a part fills); new bytes follow them.
 */
class PartWriter extends Writable {
  private readonly id: string;
  private multipart: { uploadId: string; parts: Part[] } | undefined;
  /** Pieces not yet sent inside a part; their bytes are `buffer[0, reserve)` once read back. */
  private pieces: Piece[];
  private reserve: number;
  private buffer: Buffer | undefined;
  /** Pending bytes: the reserve, then the new bytes held in the buffer. */
  private fill: number;
  /**
   * Where pending byte 0 would sit before the buffer: the reserve for a buffer sized for a short
   * write (which keeps no room for pieces, as it will not send a part), else 0.
   */
  private shift = 0;
  private received = 0;
  private readonly endAt: number | undefined;
  private readonly onData: ((chunk: Buffer) => void) | undefined;
  /** Cancels this write's requests when it is destroyed. */
  private readonly controller = new AbortController();
  /** The part being sent. */
  private sending: Promise<void> | undefined;
  /** The piece being stored at the end. */
  private storing: Promise<string> | undefined;

  constructor(
    private readonly ctx: S3Context,
    private readonly start: UploadState,
    /** The upload still exists: awaited before this write stores anything. */
    private readonly alive: Promise<void>,
    options: AppendOptions,
  ) {
    super({ highWaterMark: 1024 * 1024 });
    this.id = start.id;
    this.multipart = start.multipart && {
      uploadId: start.multipart.uploadId,
      parts: [...start.multipart.parts],
    };
    this.pieces = [...start.pieces];
    this.reserve = piecesSize(start);
    this.fill = this.reserve;
    this.endAt = options.expectedLength;
    this.onData = options.onData;
  }

  result(): UploadState {
    const state: UploadState = {
      v: 1,
      id: this.id,
      size: this.start.size + this.received,
      pieces: this.pieces,
    };
    if (this.multipart) state.multipart = this.multipart;
    return state;
  }

  /** This write ends by joining the pieces into one (a part sent on the way empties them). */
  private get joining(): boolean {
    return this.pieces.length >= this.ctx.joinPiecesAt;
  }

  /**
   * One part, or all the carried-over pieces when another replica's bigger part size left more
   * than a part of them (they go out together as one part then).
   */
  private get capacity(): number {
    return Math.max(this.ctx.partSize, this.reserve);
  }

  override _write(
    chunk: Buffer,
    _encoding: BufferEncoding,
    callback: (e?: Error | null) => void,
  ): void {
    this.take(chunk).then(() => callback(), callback);
  }

  override _final(callback: (e?: Error | null) => void): void {
    this.finish().then(() => callback(), callback);
  }

  override _destroy(error: Error | null, callback: (e?: Error | null) => void): void {
    this.controller.abort(error ?? new Error('write ended'));
    // The buffer goes back only once no request still reads from it.
    Promise.allSettled([this.sending, this.storing]).then(() => {
      if (this.buffer) partBuffers.release(this.buffer);
      this.buffer = undefined;
      callback(error);
    }, callback);
  }

  private async take(chunk: Buffer): Promise<void> {
    if (this.endAt !== undefined && this.received + chunk.length > this.endAt)
      throw new LengthMismatchError(this.endAt, this.received + chunk.length);
    this.received += chunk.length;
    this.onData?.(chunk);
    noteSpentBytes(chunk.length);
    let at = 0;
    while (at < chunk.length) {
      const buffer = this.buffer ?? (await this.acquire(chunk.length - at));
      const n = Math.min(buffer.length - (this.fill - this.shift), chunk.length - at);
      chunk.copy(buffer, this.fill - this.shift, at, at + n);
      this.fill += n;
      at += n;
      if (this.fill === this.capacity) await this.flush();
    }
  }

  /**
   * A full part buffer, or just what this write still brings when its length is known and will
   * not fill a part (a small PATCH need not hold 8 MiB of the shared budget).
   */
  private async acquire(incoming: number): Promise<Buffer> {
    const room = this.capacity - this.reserve;
    const remaining = this.endAt === undefined ? Infinity : this.endAt - this.received + incoming;
    // A write that will join the pieces (see finish) reads them into the front of its buffer.
    const short = remaining < room && !this.joining;
    this.buffer = await partBuffers.acquire(
      short ? remaining : this.capacity,
      this.controller.signal,
    );
    this.shift = short ? this.reserve : 0;
    return this.buffer;
  }

  private async finish(): Promise<void> {
    if (this.endAt !== undefined && this.received !== this.endAt)
      throw new LengthMismatchError(this.endAt, this.received);
    await this.alive;
    const buffer = this.buffer;
    if (!buffer || this.fill === this.reserve) return;
    const sent = (this.multipart?.parts ?? []).reduce((n, p) => n + p.size, 0);
    if (this.joining && this.shift === 0) {
      // A client of tiny chunks: the pieces and this write's tail become one piece, so the
      // handle (rewritten on every write) and the read-back at the next part stay small. It
      // gets a key of its own, as every piece does.
      await readPieces(this.ctx, this.pieces, buffer, this.controller.signal);
      const key = pieceKey(this.id, sent);
      this.storing = this.put(key, buffer.subarray(0, this.fill));
      this.pieces = [{ key, size: this.fill, etag: await this.storing }];
      return;
    }
    const offset = sent + this.reserve;
    const key = pieceKey(this.id, offset);
    const size = this.fill - this.reserve;
    this.storing = this.put(
      key,
      buffer.subarray(this.reserve - this.shift, this.fill - this.shift),
    );
    this.pieces.push({ key, size, etag: await this.storing });
  }

  /**
   * Sends the full buffer as the next part and refills it after. The body waits meanwhile (its
   * socket's backpressure): a second buffer to fill during the send measured no faster against
   * RGW here, and would double each upload's memory (docs/adr/0007-s3-blob-storage.md).
   */
  private async flush(): Promise<void> {
    const buffer = this.buffer;
    if (!buffer) return;
    await this.alive;
    this.sending = this.sendPart(buffer, this.fill, this.pieces, this.reserve);
    await this.sending;
    this.pieces = [];
    this.reserve = this.fill = this.shift = 0;
  }

  private async sendPart(
    buffer: Buffer,
    size: number,
    pieces: readonly Piece[],
    reserve: number,
  ): Promise<void> {
    const signal = this.controller.signal;
    if (reserve > 0) await readPieces(this.ctx, pieces, buffer, signal);
    const key = this.ctx.objectKey(dataKey(this.id));
    try {
      if (!this.multipart) {
        const created = await this.ctx.client.send(
          new CreateMultipartUploadCommand({ Bucket: this.ctx.bucket, Key: key }),
          sendOptions(signal),
        );
        if (!created.UploadId) throw new StorageError('CreateMultipartUpload returned no UploadId');
        this.multipart = { uploadId: created.UploadId, parts: [] };
      }
      const n = this.multipart.parts.length + 1;
      const sent = await this.ctx.client.send(
        new UploadPartCommand({
          Bucket: this.ctx.bucket,
          Key: key,
          UploadId: this.multipart.uploadId,
          PartNumber: n,
          Body: buffer.subarray(0, size),
          ContentLength: size,
        }),
        sendOptions(signal),
      );
      if (!sent.ETag) throw new StorageError(`UploadPart ${n} of ${key} returned no ETag`);
      this.multipart.parts.push({ n, etag: sent.ETag, size });
    } catch (e) {
      if (isNoSuchUpload(e))
        throw new ObjectMissingError(`upload ${this.id} does not exist any more`, {
          cause: causeOf(e),
        });
      throw wrap(e, 'upload part', key);
    }
    // The pieces now live inside the part; their objects stay until commit or abort, since the
    // handle this write started from still names them.
  }

  /** Stores a piece; its ETag. */
  private async put(key: string, body: Buffer): Promise<string> {
    try {
      const stored = await this.ctx.client.send(
        new PutObjectCommand({
          Bucket: this.ctx.bucket,
          Key: this.ctx.objectKey(key),
          Body: body,
          ContentLength: body.length,
        }),
        { abortSignal: this.controller.signal },
      );
      if (!stored.ETag) throw new StorageError(`PutObject of ${key} returned no ETag`);
      return stored.ETag;
    } catch (e) {
      throw wrap(e, 'write', key);
    }
  }
}

/** GETs in flight when reading pieces back (a part of 1 KiB PATCHes is thousands of pieces). */
const READ_CONCURRENCY = 16;

/** Reads the pieces, in order, into the front of `into`. */
async function readPieces(
  ctx: S3Context,
  pieces: readonly Piece[],
  into: Buffer,
  signal?: AbortSignal,
): Promise<void> {
  const starts: number[] = [];
  let at = 0;
  for (const piece of pieces) {
    starts.push(at);
    at += piece.size;
  }
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < pieces.length) {
      const i = next++;
      const piece = pieces[i];
      const start = starts[i] ?? 0;
      if (piece) await readInto(ctx, piece, into.subarray(start, start + piece.size), signal);
    }
  };
  await Promise.all(Array.from({ length: Math.min(READ_CONCURRENCY, pieces.length) }, worker));
}

async function readInto(
  ctx: S3Context,
  piece: Piece,
  into: Buffer,
  signal?: AbortSignal,
): Promise<void> {
  let body: Readable;
  try {
    const got = await ctx.client.send(
      new GetObjectCommand({
        Bucket: ctx.bucket,
        Key: ctx.objectKey(piece.key),
        IfMatch: piece.etag,
      }),
      sendOptions(signal),
    );
    body = got.Body as Readable;
  } catch (e) {
    if (isMissing(e))
      throw new ObjectMissingError(`${piece.key} does not exist any more`, { cause: causeOf(e) });
    if (isPreconditionFailed(e)) throw pieceReplaced(piece, e);
    throw wrap(e, 'read', piece.key);
  }
  let at = 0;
  try {
    for await (const chunk of body) {
      const c = chunk as Buffer;
      if (at + c.length > into.length) break;
      c.copy(into, at);
      at += c.length;
    }
  } catch (e) {
    throw wrap(e, 'read', piece.key);
  } finally {
    body.destroy();
  }
  if (at !== into.length)
    throw new StorageError(
      `${piece.key} holds another size than the ${into.length} bytes recorded`,
    );
}

/**
 * Makes `data/<id>` hold the upload's bytes: the pieces become the last part (one piece by a
 * server-side copy, several read back and sent as one part), then CompleteMultipartUpload; without
 * a multipart upload the pieces are copied or concatenated into a plain object. Checked with a
 * HEAD (RGW answers Complete with an empty ETag). Safe to repeat after a crash: an upload found
 * already completed is accepted when `data/<id>` has the expected size.
 */
export async function assemble(ctx: S3Context, state: UploadState): Promise<void> {
  if (state.done) return;
  const target = ctx.objectKey(dataKey(state.id));
  try {
    if (state.multipart) await completeMultipart(ctx, state, state.multipart);
    else await assembleSmall(ctx, state);
  } catch (e) {
    // Missing pieces or upload: an earlier attempt that completed and then cleaned up?
    if (!(e instanceof ObjectMissingError)) throw e;
    if ((await sizeOf(ctx, dataKey(state.id))) !== state.size) throw e;
    return;
  }
  const stored = await sizeOf(ctx, dataKey(state.id));
  if (stored !== state.size)
    throw new StorageError(
      `${target} holds ${stored ?? 'no'} bytes, not the ${state.size} uploaded`,
    );
}

async function completeMultipart(
  ctx: S3Context,
  state: UploadState,
  multipart: { uploadId: string; parts: Part[] },
): Promise<void> {
  const key = ctx.objectKey(dataKey(state.id));
  const parts = multipart.parts.map((p) => ({ PartNumber: p.n, ETag: p.etag }));
  const n = parts.length + 1;
  const common = { Bucket: ctx.bucket, Key: key, UploadId: multipart.uploadId, PartNumber: n };
  try {
    const [only] = state.pieces;
    if (only && state.pieces.length === 1) {
      const copied = await ctx.client.send(
        new UploadPartCopyCommand({
          ...common,
          CopySource: copySource(ctx, only.key),
          CopySourceIfMatch: only.etag,
        }),
      );
      const etag = copied.CopyPartResult?.ETag;
      if (!etag) throw new StorageError(`UploadPartCopy into ${key} returned no ETag`);
      parts.push({ PartNumber: n, ETag: etag });
    } else if (state.pieces.length > 1) {
      const etag = await withPieces(ctx, state.pieces, async (bytes) => {
        const sent = await ctx.client.send(
          new UploadPartCommand({ ...common, Body: bytes, ContentLength: bytes.length }),
        );
        return sent.ETag;
      });
      if (!etag) throw new StorageError(`UploadPart into ${key} returned no ETag`);
      parts.push({ PartNumber: n, ETag: etag });
    }
    // The ETag of the answer is not read: RGW 16 returns it empty (ENGINES.md §1a).
    await ctx.client.send(
      new CompleteMultipartUploadCommand({
        Bucket: ctx.bucket,
        Key: key,
        UploadId: multipart.uploadId,
        MultipartUpload: { Parts: parts },
      }),
    );
  } catch (e) {
    if (isNoSuchUpload(e) || isMissing(e))
      throw new ObjectMissingError(`upload ${state.id} does not exist any more`, {
        cause: causeOf(e),
      });
    if (isPreconditionFailed(e) && state.pieces.length === 1 && state.pieces[0])
      throw pieceReplaced(state.pieces[0], e);
    throw wrap(e, 'complete', key);
  }
}

async function assembleSmall(ctx: S3Context, state: UploadState): Promise<void> {
  const key = ctx.objectKey(dataKey(state.id));
  const put = (bytes: Buffer): Promise<unknown> =>
    ctx.client.send(
      new PutObjectCommand({
        Bucket: ctx.bucket,
        Key: key,
        Body: bytes,
        ContentLength: bytes.length,
      }),
    );
  try {
    const [only] = state.pieces;
    if (!only) await put(Buffer.alloc(0));
    else if (state.pieces.length === 1)
      await ctx.client.send(
        new CopyObjectCommand({
          Bucket: ctx.bucket,
          Key: key,
          CopySource: copySource(ctx, only.key),
          CopySourceIfMatch: only.etag,
        }),
      );
    else await withPieces(ctx, state.pieces, put);
  } catch (e) {
    if (isMissing(e))
      throw new ObjectMissingError(`upload ${state.id} does not exist any more`, {
        cause: causeOf(e),
      });
    if (isPreconditionFailed(e) && state.pieces.length === 1 && state.pieces[0])
      throw pieceReplaced(state.pieces[0], e);
    throw wrap(e, 'assemble', key);
  }
}

/** Runs `use` with the pieces' bytes concatenated, in a buffer of the shared budget. */
async function withPieces<T>(
  ctx: S3Context,
  pieces: readonly Piece[],
  use: (bytes: Buffer) => Promise<T>,
): Promise<T> {
  const size = pieces.reduce((n, p) => n + p.size, 0);
  const buffer = await partBuffers.acquire(size);
  try {
    const bytes = buffer.subarray(0, size);
    await readPieces(ctx, pieces, bytes);
    return await use(bytes);
  } finally {
    partBuffers.release(buffer);
  }
}

/** A piece whose object another writer replaced: the upload cannot be trusted any more. */
function pieceReplaced(piece: Piece, e: unknown): StorageError {
  return new StorageError(
    `${piece.key} was replaced by another write to the same upload (two writers at once)`,
    { cause: causeOf(e) },
  );
}

function sendOptions(signal: AbortSignal | undefined): { abortSignal?: AbortSignal } {
  return signal ? { abortSignal: signal } : {};
}

/** `x-amz-copy-source`: the bucket and the URL-encoded key. */
export function copySource(ctx: S3Context, key: string): string {
  return `${ctx.bucket}/${encodeURIComponent(ctx.objectKey(key)).replace(/%2F/g, '/')}`;
}

/** The stored size of an object, or null when it is absent. */
export async function sizeOf(ctx: S3Context, key: string): Promise<number | null> {
  try {
    const head = await ctx.client.send(
      new HeadObjectCommand({ Bucket: ctx.bucket, Key: ctx.objectKey(key) }),
    );
    return head.ContentLength ?? 0;
  } catch (e) {
    if (isMissing(e)) return null;
    throw wrap(e, 'stat', key);
  }
}
