/**
 * The contract every StorageDriver must pass (filesystem, S3): run it from each driver's own test
 * with a factory for a fresh, empty driver. Uploads go through the session API only, as the
 * registry drives it: each write starts at the acknowledged size with the handle recorded with
 * it, read back as text from the database. With `reopen`, consecutive calls of one upload
 * alternate between two instances on the same storage, as requests land on different replicas.
 * Data is generated and compared by sha256. Sizes sit on both sides of the driver's part size
 * (`minChunkLength`; 5 MiB, S3's smallest, for a driver without parts): about 100 MiB in all
 * with 5 MiB parts, so the suite stays quick on a real object store.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  LengthMismatchError,
  ObjectMissingError,
  StorageError,
  type AppendOptions,
  type StorageDriver,
  type UploadHandle,
} from '../../src/storage/driver.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** The size the tests cross: the driver's part, or S3's smallest part for a driver without parts. */
function partOf(driver: StorageDriver): number {
  return driver.minChunkLength > 0 ? driver.minChunkLength : 5 * MiB;
}

async function readAll(stream: Readable | null): Promise<Buffer> {
  if (!stream) throw new Error('expected a stream');
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}

function sha256(...parts: Buffer[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return hash.digest('hex');
}

/** Digest and length of a stream, without holding it whole. */
async function digestOf(stream: Readable | null): Promise<{ sha256: string; size: number }> {
  if (!stream) throw new Error('expected a stream');
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), size };
}

/** The content address of bytes with this sha256, shaped as registry/layout.ts builds it. */
function blobKey(hex: string): string {
  return `blobs/sha256/${hex.slice(0, 2)}/${hex}`;
}

/** `data` cut in pieces of `size` bytes (the last shorter), as a request body arrives. */
function pieces(data: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < data.length; at += size) out.push(data.subarray(at, at + size));
  return out;
}

/** A body that hands every one of `chunks` to its reader, then fails (a client gone mid-chunk). */
function failingBody(chunks: Buffer[]): Readable {
  function* generate(): Generator<Buffer> {
    for (const chunk of chunks) yield chunk;
    throw new Error('client went away');
  }
  // One chunk buffered at a time: the generator resumes (and fails) only after the reader took
  // the chunk before, so every chunk reached the driver before the error.
  return Readable.from(generate(), { highWaterMark: 1 });
}

/** A handle as the registry reads it back from its database text column. */
function fromDatabase(handle: UploadHandle): UploadHandle {
  expect(typeof handle).toBe('string');
  // PostgreSQL text refuses NUL and stores UTF-8: a lone surrogate would come back changed.
  expect(handle).not.toContain('\u0000');
  const text = Buffer.from(handle, 'utf8').toString('utf8');
  expect(text).toBe(handle);
  return text;
}

/** One upload as the registry tracks it: its id, the acknowledged size and the handle recorded with it. */
interface Session {
  id: string;
  size: number;
  handle: UploadHandle;
}

async function begin(driver: StorageDriver): Promise<Session> {
  const id = randomUUID();
  return { id, size: 0, handle: fromDatabase(await driver.beginUpload(id)) };
}

/**
 * Writes `chunks` as one body at the session's size and records the outcome as the registry does.
 * Checks the new size and that onData saw exactly the body's bytes, in order.
 */
async function write(
  driver: StorageDriver,
  session: Session,
  chunks: Buffer[],
  options: AppendOptions = {},
): Promise<void> {
  const seen: Buffer[] = [];
  const result = await driver.writeUpload(session.handle, session.size, Readable.from(chunks), {
    ...options,
    // A copy: a driver may reuse its buffer once onData returns (the registry hashes right away).
    onData: (chunk) => seen.push(Buffer.from(chunk)),
  });
  const body = Buffer.concat(chunks);
  expect(result.size).toBe(session.size + body.length);
  expect(sha256(Buffer.concat(seen))).toBe(sha256(body));
  session.size = result.size;
  session.handle = fromDatabase(result.handle);
}

/** Commits the session to the content address of `data` and checks the key holds exactly `data`. */
async function commit(
  driver: StorageDriver,
  session: Session,
  data: Buffer,
  reader: StorageDriver = driver,
): Promise<string> {
  const key = blobKey(sha256(data));
  await driver.commitUpload(session.handle, session.size, key);
  await expectContent(reader, key, data);
  return key;
}

async function expectContent(driver: StorageDriver, key: string, data: Buffer): Promise<void> {
  expect(await driver.stat(key)).toMatchObject({ size: data.length });
  expect(await digestOf(await driver.read(key))).toEqual({
    sha256: sha256(data),
    size: data.length,
  });
}

function sizes(uploads: { id: string; size: number }[]): { id: string; size: number }[] {
  return uploads.map(({ id, size }) => ({ id, size })).sort((a, b) => a.id.localeCompare(b.id));
}

/**
 * @param open a fresh, empty driver (its own folder, bucket or prefix).
 * @param reopen another instance on the same storage as `driver` (a second replica).
 * @param leftovers what `driver` holds for uploads that neither listUploads nor list('uploads')
 *   shows (S3: multipart uploads in progress); empty once every upload is committed or aborted.
 */
export function describeStorageDriver(
  name: string,
  open: () => Promise<StorageDriver>,
  reopen?: (driver: StorageDriver) => Promise<StorageDriver>,
  leftovers?: (driver: StorageDriver) => Promise<string[]>,
): void {
  /** Two instances on one storage (the same one twice without `reopen`). */
  async function pair(): Promise<[StorageDriver, StorageDriver]> {
    const first = await open();
    return [first, reopen ? await reopen(first) : first];
  }

  /** No upload is left: neither listed, nor under uploads/, nor anywhere the driver knows of. */
  async function expectNoUploads(driver: StorageDriver): Promise<void> {
    expect(await collect(driver.listUploads())).toEqual([]);
    expect(await collect(driver.list('uploads'))).toEqual([]);
    if (leftovers) expect(await leftovers(driver)).toEqual([]);
  }

  describe(`StorageDriver contract: ${name}`, () => {
    it('stat and read miss with null, never an exception', async () => {
      const driver = await open();
      expect(await driver.stat('blobs/sha256/aa/missing')).toBeNull();
      expect(await driver.read('blobs/sha256/aa/missing')).toBeNull();
    });

    it('writeSmall stores and replaces atomically; read returns it; ranges are inclusive', async () => {
      const driver = await open();
      await driver.writeSmall('small/one', Buffer.from('first'));
      await driver.writeSmall('small/one', Buffer.from('0123456789'));
      expect(await driver.stat('small/one')).toMatchObject({ size: 10 });
      // A store that records the last write says so (fsck's grace period rests on it).
      const modifiedAt = (await driver.stat('small/one'))?.modifiedAt;
      if (modifiedAt) expect(Math.abs(Date.now() - modifiedAt.getTime())).toBeLessThan(60_000);
      expect((await readAll(await driver.read('small/one'))).toString()).toBe('0123456789');
      const part = await readAll(await driver.read('small/one', { range: { start: 2, end: 4 } }));
      expect(part.toString()).toBe('234');
    });

    it.each(['../escape', 'a/../../b', '/abs', 'a//b', '.hidden', 'a/.', ''])(
      'refuses the key %j',
      async (key) => {
        const driver = await open();
        await expect(driver.stat(key)).rejects.toBeInstanceOf(StorageError);
        await expect(driver.writeSmall(key, Buffer.from('x'))).rejects.toBeInstanceOf(StorageError);
      },
    );

    it('moving an object that is not there is ObjectMissingError', async () => {
      const driver = await open();
      await expect(driver.move('trash/none', 'blobs/x/aa/none')).rejects.toBeInstanceOf(
        ObjectMissingError,
      );
    });

    it('move puts an object in place; moving onto existing content keeps the target', async () => {
      const driver = await open();
      await driver.writeSmall('trash/m1', Buffer.from('same'));
      await driver.move('trash/m1', 'blobs/x/aa/target');
      expect(await driver.stat('trash/m1')).toBeNull();
      expect((await readAll(await driver.read('blobs/x/aa/target'))).toString()).toBe('same');
      await driver.writeSmall('trash/m2', Buffer.from('same'));
      await driver.move('trash/m2', 'blobs/x/aa/target');
      expect(await driver.stat('trash/m2')).toBeNull();
      expect(await driver.stat('blobs/x/aa/target')).toMatchObject({ size: 4 });
    });

    it('delete is idempotent and list finds what is stored', async () => {
      const driver = await open();
      await driver.writeSmall('listing/a', Buffer.from('1'));
      await driver.writeSmall('listing/sub/b', Buffer.from('2'));
      expect((await collect(driver.list('listing'))).sort()).toEqual([
        'listing/a',
        'listing/sub/b',
      ]);
      await driver.delete('listing/a');
      await driver.delete('listing/a');
      expect(await driver.stat('listing/a')).toBeNull();
      expect(await collect(driver.list('nothing-here'))).toEqual([]);
    });

    describe('uploads', () => {
      it('begin, one write, commit: the key holds the bytes and the upload is gone', async () => {
        const driver = await open();
        const data = randomBytes(100 * KiB + 7);
        const session = await begin(driver);
        await write(driver, session, [data]);
        const key = await commit(driver, session, data);
        const part = await readAll(await driver.read(key, { range: { start: 1000, end: 1999 } }));
        expect(part.equals(data.subarray(1000, 2000))).toBe(true);
        await expectNoUploads(driver);
        // A request still holding the handle (another replica, racing the commit) cannot write
        // into the committed object.
        await expect(
          driver.writeUpload(session.handle, session.size, Readable.from([Buffer.from('late')])),
        ).rejects.toBeInstanceOf(ObjectMissingError);
        await expectContent(driver, key, data);
        await expectNoUploads(driver);
      });

      it('an upload of no bytes commits to an empty object', async () => {
        const driver = await open();
        const session = await begin(driver);
        await write(driver, session, []);
        await commit(driver, session, Buffer.alloc(0));
        await expectNoUploads(driver);
      });

      it('many tiny chunks (1 KiB and 1 byte) commit to exactly their concatenation', async () => {
        const [first, second] = await pair();
        const chunks = Array.from({ length: 205 }, (_, i) => randomBytes(i % 41 === 40 ? 1 : KiB));
        const session = await begin(first);
        for (const [i, chunk] of chunks.entries())
          await write(i % 2 === 0 ? first : second, session, [chunk]);
        await commit(second, session, Buffer.concat(chunks), first);
        await expectNoUploads(first);
      });

      it('large chunks across parts (7 MiB, 1 byte, 6 MiB with 5 MiB parts) commit byte for byte', async () => {
        const [first, second] = await pair();
        const part = partOf(first);
        const chunks = [randomBytes(part + 2 * MiB), randomBytes(1), randomBytes(part + MiB)];
        const session = await begin(first);
        for (const [i, chunk] of chunks.entries()) {
          // Bodies arrive in pieces of an odd size; the last one states its length, as a PATCH
          // with Content-Range does.
          const options = i === 2 ? { expectedLength: chunk.length } : {};
          await write(i % 2 === 0 ? first : second, session, pieces(chunk, 777_777), options);
        }
        const all = Buffer.concat(chunks);
        const key = await commit(second, session, all, first);
        // Ranges across both part boundaries, around the 1-byte chunk, and the last byte.
        const ranges = [
          [part - 3, part + 3],
          [part + 2 * MiB - 1, part + 2 * MiB + 1],
          [2 * part - 3, 2 * part + 3],
          [all.length - 1, all.length - 1],
        ] as const;
        for (const [start, end] of ranges) {
          const got = await readAll(await first.read(key, { range: { start, end } }));
          expect(got.equals(all.subarray(start, end + 1))).toBe(true);
        }
        await expectNoUploads(first);
      });

      it('a stream of unknown length (12 MiB with 5 MiB parts) goes in one write', async () => {
        const driver = await open();
        const total = 2 * partOf(driver) + 2 * MiB;
        const sent = createHash('sha256');
        const seen = createHash('sha256');
        function* generate(): Generator<Buffer> {
          for (let at = 0; at < total; at += 64 * KiB) {
            const chunk = randomBytes(Math.min(64 * KiB, total - at));
            sent.update(chunk);
            yield chunk;
          }
        }
        const session = await begin(driver);
        const result = await driver.writeUpload(session.handle, 0, Readable.from(generate()), {
          onData: (chunk) => seen.update(chunk),
        });
        expect(result.size).toBe(total);
        const hex = sent.digest('hex');
        expect(seen.digest('hex')).toBe(hex);
        await driver.commitUpload(fromDatabase(result.handle), result.size, blobKey(hex));
        expect(await digestOf(await driver.read(blobKey(hex)))).toEqual({
          sha256: hex,
          size: total,
        });
        await expectNoUploads(driver);
      });

      it('an upload continues from its recorded id, size and handle alone, on another instance', async () => {
        const [first, second] = await pair();
        const session = await begin(first);
        const begun = Buffer.from('begun on one instance, ');
        await write(first, session, [begun]);
        // Nothing else crosses over, as through the database.
        const recorded = JSON.parse(JSON.stringify(session)) as Session;
        const continued = Buffer.from('continued on another');
        await write(second, recorded, [continued]);
        expect(sizes(await collect(first.listUploads()))).toEqual([
          { id: session.id, size: begun.length + continued.length },
        ]);
        await commit(second, recorded, Buffer.concat([begun, continued]), first);
        await expectNoUploads(first);
      });

      it.each([
        ['a few bytes', () => 1000],
        ['more than a part', (part: number) => part + MiB],
      ])(
        'a write whose body fails after %s rejects; a retry with the old handle keeps nothing of it',
        async (_, length) => {
          const [first, second] = await pair();
          const delivered = pieces(randomBytes(length(partOf(first))), MiB);
          const session = await begin(first);
          const acknowledged = randomBytes(100);
          await write(first, session, [acknowledged]);
          await expect(
            second.writeUpload(session.handle, session.size, failingBody(delivered)),
          ).rejects.toThrow();
          const retry = randomBytes(50);
          await write(first, session, [retry]);
          await commit(second, session, Buffer.concat([acknowledged, retry]), first);
          await expectNoUploads(first);
        },
      );

      /**
       * An upload with 100 bytes written and recorded, then a write of more than a part on the
       * second instance that succeeds, but the registry fails before recording its new handle (a
       * crash, a lost race): `recorded` is what the database still holds.
       */
      async function unrecordedWrite(): Promise<{
        first: StorageDriver;
        second: StorageDriver;
        recorded: Session;
        acknowledged: Buffer;
      }> {
        const [first, second] = await pair();
        const session = await begin(first);
        const acknowledged = randomBytes(100);
        await write(first, session, [acknowledged]);
        const recorded = { ...session };
        await write(second, session, pieces(randomBytes(partOf(first) + 100), MiB));
        return { first, second, recorded, acknowledged };
      }

      it('a write whose new handle was never recorded is replaced by a write with the old one', async () => {
        const { first, second, recorded, acknowledged } = await unrecordedWrite();
        const retry = randomBytes(50);
        await write(second, recorded, [retry]);
        await commit(first, recorded, Buffer.concat([acknowledged, retry]));
        await expectNoUploads(first);
      });

      it('a commit of the recorded handle and size leaves out a later write never recorded', async () => {
        const { first, second, recorded, acknowledged } = await unrecordedWrite();
        await commit(first, recorded, acknowledged, second);
        await expectNoUploads(first);
      });

      it('a write past the stored bytes is ObjectMissingError, never a gap of zeros', async () => {
        const driver = await open();
        const session = await begin(driver);
        await write(driver, session, [Buffer.from('abc')]);
        await expect(
          driver.writeUpload(session.handle, 10, Readable.from([Buffer.from('x')])),
        ).rejects.toBeInstanceOf(ObjectMissingError);
        await write(driver, session, [Buffer.from('def')]);
        await commit(driver, session, Buffer.from('abcdef'));
        await expectNoUploads(driver);
      });

      it('a write past offset 0 to an aborted or never written upload is ObjectMissingError', async () => {
        const [first, second] = await pair();
        const aborted = await begin(first);
        await write(first, aborted, [Buffer.from('12345')]);
        await first.abortUpload(aborted.id, aborted.handle);
        await expect(
          second.writeUpload(aborted.handle, 5, Readable.from([Buffer.from('x')])),
        ).rejects.toBeInstanceOf(ObjectMissingError);
        expect(await second.readUpload(aborted.handle)).toBeNull();
        const unwritten = await begin(first);
        await expect(
          second.writeUpload(unwritten.handle, 3, Readable.from([Buffer.from('x')])),
        ).rejects.toBeInstanceOf(ObjectMissingError);
        await second.abortUpload(unwritten.id, unwritten.handle);
        await expectNoUploads(first);
      });

      it('a commit of an aborted upload is ObjectMissingError and writes nothing at the key', async () => {
        const [first, second] = await pair();
        const session = await begin(first);
        const data = Buffer.from('gone before the commit');
        await write(first, session, [data]);
        await first.abortUpload(session.id, session.handle);
        const key = blobKey(sha256(data));
        await expect(second.commitUpload(session.handle, session.size, key)).rejects.toBeInstanceOf(
          ObjectMissingError,
        );
        expect(await first.stat(key)).toBeNull();
        await expectNoUploads(first);
      });

      it('a body longer or shorter than expectedLength is LengthMismatchError; the upload stays at its offset', async () => {
        const [first, second] = await pair();
        const session = await begin(first);
        await write(first, session, [Buffer.from('abc')]);
        const short = await second
          .writeUpload(session.handle, 3, Readable.from([Buffer.from('de')]), { expectedLength: 5 })
          .catch((e: unknown) => e);
        expect(short).toBeInstanceOf(LengthMismatchError);
        expect(short).toMatchObject({ expected: 5, actual: 2 });
        const long = await second
          .writeUpload(session.handle, 3, Readable.from([Buffer.from('defghij')]), {
            expectedLength: 5,
          })
          .catch((e: unknown) => e);
        expect(long).toBeInstanceOf(LengthMismatchError);
        expect(long).toMatchObject({ expected: 5 });
        // Where it stopped reading is the driver's; past the expected length, in any case.
        expect((long as LengthMismatchError).actual).toBeGreaterThan(5);
        await write(second, session, [Buffer.from('defgh')], { expectedLength: 5 });
        await commit(first, session, Buffer.from('abcdefgh'));
        await expectNoUploads(first);
      });

      it('readUpload returns the bytes so far, with a handle that continues and commits', async () => {
        const [first, second] = await pair();
        const session = await begin(first);
        const begun = randomBytes(partOf(first) + 3);
        await write(first, session, pieces(begun, MiB));
        const read = await second.readUpload(session.handle);
        if (!read) throw new Error('readUpload found no bytes');
        expect(await digestOf(read.body)).toEqual({ sha256: sha256(begun), size: begun.length });
        session.handle = fromDatabase(read.handle);
        const tail = Buffer.from('tail');
        await write(first, session, [tail]);
        await commit(second, session, Buffer.concat([begun, tail]), first);
        await expectNoUploads(first);
      });

      it('a commit onto a key that exists keeps the stored object and removes the upload', async () => {
        const [first, second] = await pair();
        const data = randomBytes(KiB);
        const earlier = await begin(first);
        await write(first, earlier, [data]);
        const key = await commit(first, earlier, data);
        // The same content pushed again (callers only commit content-addressed data).
        const again = await begin(second);
        await write(second, again, [data]);
        await commit(second, again, data, first);
        expect(await collect(first.list('blobs'))).toEqual([key]);
        await expectNoUploads(first);
      });

      it('abortUpload with the handle removes everything the upload stored, and again is a no-op', async () => {
        const [first, second] = await pair();
        const session = await begin(first);
        await write(first, session, [randomBytes(3 * KiB)]);
        await second.abortUpload(session.id, session.handle);
        await expectNoUploads(first);
        await first.abortUpload(session.id, session.handle);
        await first.abortUpload(session.id);
        await expectNoUploads(first);
      });

      it('abortUpload without a handle removes what it finds under the id (a leftover with no session)', async () => {
        const [first, second] = await pair();
        const written = await begin(first);
        const data = pieces(randomBytes(partOf(first) + 1), MiB);
        await write(first, written, data);
        // Begun, then the registry failed before it recorded the session.
        const idle = await begin(first);
        expect(sizes(await collect(second.listUploads()))).toContainEqual({
          id: written.id,
          size: partOf(first) + 1,
        });
        await second.abortUpload(written.id);
        await second.abortUpload(idle.id);
        await expectNoUploads(first);
        await second.abortUpload(written.id);
        await second.abortUpload(randomUUID());
        await expectNoUploads(first);
      });

      it('two uploads written at the same time keep their bytes apart', async () => {
        const [first, second] = await pair();
        const a = await begin(first);
        const b = await begin(second);
        // 3 MiB and 2.5 MiB each with 5 MiB parts: the second write of each crosses a part.
        const lengths = [0.6, 0.5].map((share) => Math.round(share * partOf(first)));
        const dataA = lengths.map((length) => randomBytes(length));
        const dataB = lengths.map((length) => randomBytes(length));
        for (const i of [0, 1]) {
          await Promise.all([
            write(i === 0 ? first : second, a, pieces(dataA[i] ?? Buffer.alloc(0), 256 * KiB)),
            write(i === 0 ? second : first, b, pieces(dataB[i] ?? Buffer.alloc(0), 256 * KiB)),
          ]);
        }
        await Promise.all([
          commit(first, a, Buffer.concat(dataA), second),
          commit(second, b, Buffer.concat(dataB), first),
        ]);
        await expectNoUploads(first);
      });

      it('listUploads yields each upload that has bytes, with its size', async () => {
        const [first, second] = await pair();
        const a = await begin(first);
        await write(first, a, [randomBytes(10)]);
        const b = await begin(second);
        await write(second, b, [randomBytes(3 * KiB)]);
        await write(first, b, [randomBytes(1)]);
        const listed = await collect(first.listUploads());
        expect(sizes(listed)).toEqual(
          sizes([
            { id: a.id, size: 10 },
            { id: b.id, size: 3 * KiB + 1 },
          ]),
        );
        for (const { modifiedAt } of listed)
          if (modifiedAt) expect(Math.abs(Date.now() - modifiedAt.getTime())).toBeLessThan(60_000);
        await first.abortUpload(a.id, a.handle);
        expect(sizes(await collect(second.listUploads()))).toEqual([
          { id: b.id, size: 3 * KiB + 1 },
        ]);
        await second.abortUpload(b.id, b.handle);
        await expectNoUploads(first);
      });

      it.each(['../escape', 'a/b', '.hidden', ''])('refuses the upload id %j', async (id) => {
        const driver = await open();
        await expect(driver.beginUpload(id)).rejects.toBeInstanceOf(StorageError);
        await expect(driver.abortUpload(id)).rejects.toBeInstanceOf(StorageError);
      });

      it.each(['', '../escape', 'blobs/sha256/aa/bb', 'uploads/a/b', '{}', '[]', 'null'])(
        'refuses the handle %j (read back from the database, so not trusted)',
        async (handle) => {
          const driver = await open();
          const key = blobKey(sha256(Buffer.from('x')));
          await expect(
            driver.writeUpload(handle, 0, Readable.from([Buffer.from('x')])),
          ).rejects.toBeInstanceOf(StorageError);
          await expect(driver.readUpload(handle)).rejects.toBeInstanceOf(StorageError);
          await expect(driver.commitUpload(handle, 1, key)).rejects.toBeInstanceOf(StorageError);
          await expect(driver.abortUpload(randomUUID(), handle)).rejects.toBeInstanceOf(
            StorageError,
          );
          expect(await driver.stat(key)).toBeNull();
        },
      );
    });
  });
}
