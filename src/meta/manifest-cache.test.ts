import { describe, expect, it } from 'vitest';
import { ManifestCache } from './manifest-cache.js';
import type { ManifestWithPayload } from './store.js';

function row(digest: string, bytes = 10): ManifestWithPayload {
  return {
    repository: 'library/app',
    digest,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    size: bytes,
    payload: Buffer.alloc(bytes, 1),
    artifactType: null,
    subject: null,
    annotations: null,
    createdAt: '2026-11-29T00:00:00.000Z',
  } as ManifestWithPayload;
}

/** A loader that counts its calls and returns whatever `current` holds when it runs. */
function source(initial: ManifestWithPayload | null) {
  const state = { current: initial, loads: 0 };
  const load = () => {
    state.loads += 1;
    return Promise.resolve(state.current);
  };
  return { state, load };
}

describe('ManifestCache', () => {
  it('answers a second read from memory while the stamp stays', async () => {
    const stamp = { value: '1' };
    const cache = new ManifestCache(() => stamp.value);
    const { state, load } = source(row('sha256:a'));
    expect((await cache.read('t app latest', load))?.digest).toBe('sha256:a');
    expect((await cache.read('t app latest', load))?.digest).toBe('sha256:a');
    expect(state.loads).toBe(1);
  });

  it('reads the database again after any change of the stamp', async () => {
    const stamp = { value: '1' };
    const cache = new ManifestCache(() => stamp.value);
    const { state, load } = source(row('sha256:a'));
    await cache.read('t app latest', load);
    state.current = row('sha256:b');
    stamp.value = '2';
    expect((await cache.read('t app latest', load))?.digest).toBe('sha256:b');
    state.current = null;
    stamp.value = '3';
    expect(await cache.read('t app latest', load)).toBeNull();
    expect(state.loads).toBe(3);
  });

  it('does not keep a row read while something was written', async () => {
    const stamp = { value: '1' };
    const cache = new ManifestCache(() => stamp.value);
    const state = { loads: 0 };
    const load = () => {
      state.loads += 1;
      stamp.value = `moved ${state.loads}`; // a write lands while the read is in flight
      return Promise.resolve(row('sha256:a'));
    };
    await cache.read('t app latest', load);
    await cache.read('t app latest', load);
    expect(state.loads).toBe(2);
    expect(cache.size).toBe(0);
  });

  it('does not remember that something is missing', async () => {
    const cache = new ManifestCache(() => 'same');
    const { state, load } = source(null);
    await cache.read('t app latest', load);
    state.current = row('sha256:a');
    expect((await cache.read('t app latest', load))?.digest).toBe('sha256:a');
  });

  it('evicts the least recently read beyond its limits and skips large manifests', async () => {
    const limits = { maxEntries: 2, maxBytes: 100, maxPayloadBytes: 60 };
    const cache = new ManifestCache(() => 'same', limits);
    const a = source(row('sha256:a'));
    const b = source(row('sha256:b'));
    const c = source(row('sha256:c'));
    await cache.read('a', a.load);
    await cache.read('b', b.load);
    await cache.read('a', a.load); // a is now the most recent
    await cache.read('c', c.load); // evicts b
    await cache.read('a', a.load);
    await cache.read('b', b.load);
    expect([a.state.loads, b.state.loads, c.state.loads]).toEqual([1, 2, 1]);

    const big = source(row('sha256:big', 61));
    await cache.read('big', big.load);
    await cache.read('big', big.load);
    expect(big.state.loads).toBe(2);

    const fifty = [
      source(row('sha256:x', 50)),
      source(row('sha256:y', 50)),
      source(row('sha256:z', 50)),
    ];
    for (const [i, s] of fifty.entries()) await cache.read(`k${i}`, s.load);
    expect(cache.size).toBe(2); // 3 × 50 bytes is over 100
  });

  it('hands out rows that cannot be changed by a caller', async () => {
    const cache = new ManifestCache(() => 'same');
    const { load } = source(row('sha256:a'));
    await cache.read('k', load);
    const cached = await cache.read('k', load);
    expect(Object.isFrozen(cached)).toBe(true);
  });
});
