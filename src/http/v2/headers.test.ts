import { describe, expect, it } from 'vitest';
import { acceptsManifest, parseContentRange, parseRange } from './headers.js';

describe('parseRange (blob GET)', () => {
  it.each([
    ['bytes=500-1499', { kind: 'partial', range: { start: 500, end: 1499 } }],
    ['bytes=500-', { kind: 'partial', range: { start: 500, end: 2047 } }],
    ['bytes=-500', { kind: 'partial', range: { start: 1548, end: 2047 } }],
    ['bytes=2000-5000', { kind: 'partial', range: { start: 2000, end: 2047 } }],
    ['bytes=-5000', { kind: 'partial', range: { start: 0, end: 2047 } }],
    ['bytes=500-0', { kind: 'unsatisfiable' }],
    ['bytes=5000-10000', { kind: 'unsatisfiable' }],
    ['bytes=2048-', { kind: 'unsatisfiable' }],
    ['bytes=-0', { kind: 'unsatisfiable' }],
    ['bytes=0-1,5-6', { kind: 'full' }],
    ['items=0-1', { kind: 'full' }],
    ['bytes=-', { kind: 'full' }],
  ])('%s of 2048 bytes', (header, expected) => {
    expect(parseRange(header, 2048)).toEqual(expected);
  });

  it('any range of an empty blob is unsatisfiable', () => {
    expect(parseRange('bytes=0-', 0)).toEqual({ kind: 'unsatisfiable' });
  });
});

describe('parseContentRange (upload chunk)', () => {
  it('reads the spec form and tolerates a bytes prefix', () => {
    expect(parseContentRange({ 'content-range': '0-21' })).toEqual({ start: 0, end: 21 });
    expect(parseContentRange({ 'content-range': 'bytes 22-41/42' })).toEqual({
      start: 22,
      end: 41,
    });
    expect(parseContentRange({})).toBeNull();
  });
  it('refuses garbage, reversed ranges and a Content-Length that disagrees', () => {
    expect(() => parseContentRange({ 'content-range': 'x' })).toThrow(/Content-Range/);
    expect(() => parseContentRange({ 'content-range': '10-5' })).toThrow(/before its start/);
    expect(() => parseContentRange({ 'content-range': '0-9', 'content-length': '5' })).toThrow(
      /Content-Length/,
    );
  });
});

describe('acceptsManifest', () => {
  const types = [
    'application/vnd.oci.image.manifest.v1+json',
    'application/vnd.docker.distribution.manifest.v2+json',
  ];
  it('refuses only when Accept names manifest types and not this one', () => {
    expect(
      acceptsManifest('application/vnd.oci.image.manifest.v1+json', types[1] ?? '', types),
    ).toBe(false);
    expect(acceptsManifest(undefined, types[1] ?? '', types)).toBe(true);
    expect(acceptsManifest('application/json', types[1] ?? '', types)).toBe(true);
    expect(
      acceptsManifest(
        '*/*;q=0.8, application/vnd.oci.image.manifest.v1+json',
        types[1] ?? '',
        types,
      ),
    ).toBe(true);
    expect(
      acceptsManifest(`${types[0] ?? ''}; q=0.5, ${types[1] ?? ''}`, types[1] ?? '', types),
    ).toBe(true);
  });
});
