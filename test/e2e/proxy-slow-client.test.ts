/**
 * The first client of a fill does not set its pace (federation/client-feed.ts): a client that
 * starts the fill of an uncached blob and then stops reading holds up neither the fill nor the
 * other pullers, and when it reads again it gets the rest from the cache, whole and right. Against
 * the built server (`dist/`) in front of a real CNCF Distribution.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDistribution, type Distribution } from '../helpers/distribution.js';
import { pullBlobHashed, pushBlob, sha256 } from '../helpers/oci.js';
import { CLI, startServerProcess, type ServerProcess } from '../helpers/server.js';
import { createProxyNamespace } from './proxy-helpers.js';

const MiB = 1024 * 1024;

let upstream: Distribution | undefined;
let berth: ServerProcess | undefined;
let work = '';

function registry(): Distribution {
  if (!upstream) throw new Error('upstream not started');
  return upstream;
}

function server(): ServerProcess {
  if (!berth) throw new Error('Berth not started');
  return berth;
}

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
  work = await mkdtemp(path.join(tmpdir(), 'berth-slow-'));
  upstream = await startDistribution({ label: 'berth-proxy-slow' });
  berth = await startServerProcess({ dataDir: path.join(work, 'data') });
  await createProxyNamespace(server().dataDir, 'hub', { url: registry().url, public: true });
});

afterAll(async () => {
  await berth?.stop();
  await upstream?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('a slow first client of a fill', () => {
  it('holds back neither the fill nor the others, and gets the rest from the cache', async () => {
    const size = 64 * MiB;
    const blob = randomBytes(size);
    const digest = sha256(blob);
    await pushBlob(registry().url, 'team/stall', blob);

    // The first client reads a little, then stops reading and keeps its connection open.
    const hash = createHash('sha256');
    let received = 0;
    let paused = false;
    let response: http.IncomingMessage | undefined;
    let leader: http.ClientRequest | undefined;
    const stalled = new Promise<void>((resolve, reject) => {
      leader = http.get(
        `${server().url}/v2/hub/team/stall/blobs/${digest}`,
        { agent: false },
        (res) => {
          response = res;
          res.on('data', (chunk: Buffer) => {
            hash.update(chunk);
            received += chunk.length;
            if (received >= MiB && !paused) {
              paused = true;
              res.pause();
              resolve();
            }
          });
        },
      );
      leader.on('error', reject);
    });
    const finished = stalled.then(
      () =>
        new Promise<void>((resolve, reject) => {
          response?.on('end', resolve);
          response?.on('error', reject);
        }),
    );
    try {
      await stalled;
      expect(received).toBeLessThan(size);
      // A deadline for the condition, generous for a slow machine: the fill itself takes ~1 s.
      const second = pullBlobHashed(server().url, 'hub/team/stall', digest);
      const deadline = new Promise<'still waiting after 60 s'>((resolve) =>
        setTimeout(() => resolve('still waiting after 60 s'), 60_000).unref(),
      );
      expect(await Promise.race([second, deadline])).toEqual({ status: 200, digest, size });
      expect(await registry().count('GET', new RegExp(`/blobs/${digest}$`))).toBe(1);

      // The stalled client reads again: the rest comes from the cache, and the whole is right.
      response?.resume();
      await finished;
      expect(received).toBe(size);
      expect(`sha256:${hash.digest('hex')}`).toBe(digest);
      expect(await registry().count('GET', new RegExp(`/blobs/${digest}$`))).toBe(1);
    } finally {
      leader?.destroy();
    }
  });
});
