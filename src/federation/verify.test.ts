import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import { digestOf } from '../core/digest.js';
import { verifying } from './verify.js';

const data = Buffer.from('hello upstream world');
const digest = digestOf(data);

/** Feeds `chunks` through the verifier; what came out, and the error if it failed. */
async function run(
  chunks: Buffer[],
  size: number | null,
): Promise<{ out: Buffer; error: Error | null }> {
  const v = verifying(digest, size);
  const out: Buffer[] = [];
  v.on('data', (c: Buffer) => out.push(c));
  const error = await new Promise<Error | null>((resolve) => {
    v.on('end', () => resolve(null));
    v.on('error', resolve);
    Readable.from(chunks).pipe(v);
  });
  return { out: Buffer.concat(out), error };
}

describe('verifying', () => {
  it('passes the right bytes through whole', async () => {
    const { out, error } = await run([data.subarray(0, 5), data.subarray(5)], data.length);
    expect(error).toBeNull();
    expect(out.equals(data)).toBe(true);
    await expect(text(Readable.from([data]).pipe(verifying(digest, null)))).resolves.toBe(
      data.toString(),
    );
  });

  it('never lets all of a wrong body through: the last chunk is held back', async () => {
    const wrong = Buffer.from(data);
    wrong[wrong.length - 1] = 0x21;
    const { out, error } = await run([wrong.subarray(0, 10), wrong.subarray(10)], data.length);
    expect(error?.message).toMatch(/content of digest/);
    expect(out.length).toBe(10);
  });

  it('fails on a short or a long body', async () => {
    expect((await run([data.subarray(0, 4)], data.length)).error?.message).toMatch(/sent 4 of/);
    expect((await run([data, data], data.length)).error?.message).toMatch(/more than/);
  });
});
