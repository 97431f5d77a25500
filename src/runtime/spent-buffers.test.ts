import { afterEach, describe, expect, it, vi } from 'vitest';
import { noteSpentBytes } from './spent-buffers.js';

const MiB = 1024 * 1024;
const global = globalThis as { gc?: unknown };
const original = global.gc;

afterEach(() => {
  global.gc = original;
});

describe('noteSpentBytes', () => {
  it('asks for a young-generation collection once per 8 MiB of streamed bytes', () => {
    const gc = vi.fn();
    global.gc = gc;
    noteSpentBytes(8 * MiB); // whatever was counted before this test is cleared here
    gc.mockClear();
    for (let i = 0; i < 128; i++) noteSpentBytes(64 * 1024); // 8 MiB in 64 KiB reads
    expect(gc).toHaveBeenCalledTimes(1);
    expect(gc).toHaveBeenCalledWith({ type: 'minor' });
    for (let i = 0; i < 3; i++) noteSpentBytes(4 * MiB); // 12 MiB more: one more
    expect(gc).toHaveBeenCalledTimes(2);
  });

  it('does nothing when node runs without --expose-gc', () => {
    global.gc = undefined;
    expect(() => {
      for (let i = 0; i < 4; i++) noteSpentBytes(8 * MiB);
    }).not.toThrow();
  });
});
