/**
 * The contract every StorageDriver must pass (filesystem now, S3 later): run it from each
 * driver's own test with a factory for a fresh, empty driver.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  LengthMismatchError,
  ObjectMissingError,
  StorageError,
  type StorageDriver,
} from '../../src/storage/driver.js';

async function readAll(stream: Readable | null): Promise<Buffer> {
  if (!stream) throw new Error('expected a stream');
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export function describeStorageDriver(name: string, factory: () => Promise<StorageDriver>): void {
  describe(`StorageDriver contract: ${name}`, () => {
    it('stat and read miss with null, never an exception', async () => {
      const driver = await factory();
      expect(await driver.stat('blobs/sha256/aa/missing')).toBeNull();
      expect(await driver.read('blobs/sha256/aa/missing')).toBeNull();
    });

    it('writeSmall stores and replaces atomically; read returns it; ranges are inclusive', async () => {
      const driver = await factory();
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
        const driver = await factory();
        await expect(driver.stat(key)).rejects.toBeInstanceOf(StorageError);
        await expect(driver.writeSmall(key, Buffer.from('x'))).rejects.toBeInstanceOf(StorageError);
      },
    );

    it('appends at offsets, reports the new length, and hashes in order through onData', async () => {
      const driver = await factory();
      const a = randomBytes(3 * 1024 * 1024 + 17);
      const b = randomBytes(1000);
      const seen = createHash('sha256');
      expect(
        await driver.append('uploads/u1', 0, Readable.from([a]), { onData: (c) => seen.update(c) }),
      ).toBe(a.length);
      expect(
        await driver.append('uploads/u1', a.length, Readable.from([b]), {
          onData: (c) => seen.update(c),
        }),
      ).toBe(a.length + b.length);
      const stored = await readAll(await driver.read('uploads/u1'));
      expect(stored.equals(Buffer.concat([a, b]))).toBe(true);
      expect(seen.digest('hex')).toBe(createHash('sha256').update(stored).digest('hex'));
    });

    it('an append drops bytes stored past its offset (left by a crash)', async () => {
      const driver = await factory();
      await driver.append('uploads/u2', 0, Readable.from([Buffer.from('keep-garbage')]));
      expect(await driver.append('uploads/u2', 4, Readable.from([Buffer.from('!')]))).toBe(5);
      expect((await readAll(await driver.read('uploads/u2'))).toString()).toBe('keep!');
    });

    it('a failed append is cut back to where it started', async () => {
      const driver = await factory();
      await driver.append('uploads/u3', 0, Readable.from([Buffer.from('12345')]));
      const failing = new Readable({
        read() {
          this.push(Buffer.from('more bytes'));
          this.destroy(new Error('client went away'));
        },
      });
      await expect(driver.append('uploads/u3', 5, failing)).rejects.toThrow('client went away');
      expect(await driver.stat('uploads/u3')).toMatchObject({ size: 5 });
    });

    it('expectedLength refuses a longer or shorter body and keeps nothing of it', async () => {
      const driver = await factory();
      await expect(
        driver.append('uploads/u4', 0, Readable.from([Buffer.from('abc')]), { expectedLength: 5 }),
      ).rejects.toBeInstanceOf(LengthMismatchError);
      await expect(
        driver.append('uploads/u4', 0, Readable.from([Buffer.from('abcdefg')]), {
          expectedLength: 5,
        }),
      ).rejects.toBeInstanceOf(LengthMismatchError);
      expect(await driver.stat('uploads/u4')).toMatchObject({ size: 0 });
      expect(
        await driver.append('uploads/u4', 0, Readable.from([Buffer.from('abcde')]), {
          expectedLength: 5,
        }),
      ).toBe(5);
    });

    it('an append at offset 0 creates the object; a later offset needs it to exist', async () => {
      const driver = await factory();
      await expect(
        driver.append('uploads/u5', 3, Readable.from([Buffer.from('x')])),
      ).rejects.toBeInstanceOf(ObjectMissingError);
      expect(await driver.append('uploads/u5', 0, Readable.from([]))).toBe(0);
      expect(await driver.stat('uploads/u5')).toMatchObject({ size: 0 });
    });

    it('moving an object that is not there is ObjectMissingError', async () => {
      const driver = await factory();
      await expect(driver.move('uploads/none', 'blobs/x/aa/none')).rejects.toBeInstanceOf(
        ObjectMissingError,
      );
    });

    it('move puts an object in place; moving onto existing content keeps the target', async () => {
      const driver = await factory();
      await driver.writeSmall('uploads/m1', Buffer.from('same'));
      await driver.move('uploads/m1', 'blobs/x/aa/target');
      expect(await driver.stat('uploads/m1')).toBeNull();
      expect((await readAll(await driver.read('blobs/x/aa/target'))).toString()).toBe('same');
      await driver.writeSmall('uploads/m2', Buffer.from('same'));
      await driver.move('uploads/m2', 'blobs/x/aa/target');
      expect(await driver.stat('uploads/m2')).toBeNull();
      expect(await driver.stat('blobs/x/aa/target')).toMatchObject({ size: 4 });
    });

    it('delete is idempotent and list finds what is stored', async () => {
      const driver = await factory();
      await driver.writeSmall('listing/a', Buffer.from('1'));
      await driver.writeSmall('listing/sub/b', Buffer.from('2'));
      const keys: string[] = [];
      for await (const key of driver.list('listing')) keys.push(key);
      expect(keys.sort()).toEqual(['listing/a', 'listing/sub/b']);
      await driver.delete('listing/a');
      await driver.delete('listing/a');
      expect(await driver.stat('listing/a')).toBeNull();
      const none: string[] = [];
      for await (const key of driver.list('nothing-here')) none.push(key);
      expect(none).toEqual([]);
    });
  });
}
