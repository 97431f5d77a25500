import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ClientFeed } from './client-feed.js';

const chunk = (n: number, fill: number): Buffer => Buffer.alloc(n, fill);

async function readAll(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r as AsyncIterable<Buffer>) parts.push(c);
  return Buffer.concat(parts);
}

describe('ClientFeed', () => {
  it('hands a client that keeps up every chunk as it comes', async () => {
    const feed = new ClientFeed(1024);
    const reading = readAll(feed);
    for (let i = 0; i < 10; i++) feed.offer(chunk(100, i));
    feed.finishLive();
    const got = await reading;
    expect(got.length).toBe(1000);
    expect(got[950]).toBe(9);
  });

  it('stops feeding a client that falls behind, which then goes on from the cache', async () => {
    const feed = new ClientFeed(250);
    // Nobody reads yet: the client is stalled.
    for (let i = 0; i < 10; i++) feed.offer(chunk(100, i));
    feed.finishLive();
    expect(feed.behind).toBe(true);
    expect(feed.offset).toBe(200);
    const whole = Buffer.concat(Array.from({ length: 10 }, (_, i) => chunk(100, i)));
    let askedFrom = -1;
    const continuing = feed.continueFrom((offset) => {
      askedFrom = offset;
      return Promise.resolve(Readable.from([whole.subarray(offset)]));
    });
    const got = await readAll(feed);
    await continuing;
    expect(askedFrom).toBe(200);
    expect(got.equals(whole)).toBe(true);
  });

  it('is paced by its client once the cache fails, and fails if it was already behind', async () => {
    const source = new PassThrough();
    const feed = new ClientFeed(250);
    expect(feed.paceWith(source, new Error('disk full'))).toBe(true);
    source.on('data', (c: Buffer) => feed.offer(c));
    source.on('end', () => feed.finishLive());
    for (let i = 0; i < 10; i++) source.write(chunk(100, i));
    source.end();
    // Past the lag, yet nothing was dropped: the source waited for the client.
    const got = await readAll(feed);
    expect(got.length).toBe(1000);

    const late = new ClientFeed(100);
    late.offer(chunk(200, 1));
    expect(late.behind).toBe(true);
    const failed = new Promise<Error>((resolve) => late.on('error', resolve));
    expect(late.paceWith(new PassThrough(), new Error('disk full'))).toBe(false);
    expect((await failed).message).toBe('disk full');
  });
});
