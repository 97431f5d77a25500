import { describe, expect, it } from 'vitest';
import { cleanupFinding } from './cleanup.js';

const options = {
  url: 'https://registry.example.com',
  repository: 'library/berth-doctor-scratch',
  blobSizeBytes: 50_000_000,
  stallSeconds: 30,
};

describe('cleanupFinding', () => {
  it('passes when only the tiny blob file is left for garbage collection, and says so', () => {
    const f = cleanupFinding(
      { session: { done: true }, blob: { done: true }, repository: { done: true } },
      options,
      51,
    );
    expect(f.status).toBe('pass');
    expect(f.summary).toContain('its file, the same on every run, stays until garbage collection');
    expect(f.summary).toContain('library/berth-doctor-scratch deleted');
  });

  it('names everything that stays, with why, as a warning', () => {
    const f = cleanupFinding(
      {
        session: { done: true },
        blob: { done: false, why: 'DELETE of the blob → 403' },
        repository: { done: false, why: 'DELETE → 403: no delete right in namespace library' },
      },
      options,
      51,
    );
    expect(f.status).toBe('warn');
    expect(f.summary).toBe(
      'left behind: the 51-byte test blob in library/berth-doctor-scratch (DELETE of the blob → 403); the scratch repository library/berth-doctor-scratch (DELETE → 403: no delete right in namespace library)',
    );
    expect(f.fix).toContain('delete in namespace library');
  });
});
