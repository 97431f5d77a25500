/**
 * The pull-through cache under load, on the built server (`dist/`) in front of a real CNCF
 * Distribution: however many clients ask at once for a blob that is not cached, the upstream is
 * asked for it once (its access log counts), every client gets the exact bytes, and the server's
 * memory does not grow with the blob or the number of clients. A client that leaves in the middle
 * of the first download does not stop the fill: the blob is cached all the same.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  startDistribution,
  stopAllDistributions,
  type Distribution,
} from '../helpers/distribution.js';
import { pullBlobHashed, pushBlob, sha256 } from '../helpers/oci.js';
import { CLI, startServerProcess, type ServerProcess } from '../helpers/server.js';
import { createProxyNamespace, memoryOf, resetPeakMemory } from './proxy-helpers.js';

const MiB = 1024 * 1024;
const MB = 1_000_000;
const CLIENTS = 16;
const BIG = 100 * MiB;
/** The server's peak resident set while 16 clients pull 100 MiB through it. */
const MAX_PEAK = 250 * MB;

let upstream: Distribution | undefined;

function registry(): Distribution {
  if (!upstream) throw new Error('upstream not started');
  return upstream;
}
let berth: ServerProcess | undefined;

function server(): ServerProcess {
  if (!berth) throw new Error('Berth not started');
  return berth;
}

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
  upstream = await startDistribution({ label: 'berth-proxy-load' });
  berth = await startServerProcess();
  await createProxyNamespace(server().dataDir, 'hub', { url: registry().url, public: true });
});

afterAll(async () => {
  await berth?.stop();
  await stopAllDistributions();
});

/** Upstream GETs of one blob, as Distribution's access log has them. */
function upstreamGets(repository: string, digest: string): Promise<number> {
  return registry().count('GET', new RegExp(`^/v2/${repository}/blobs/${digest}$`));
}

/** A blob GET hashed as it arrives, with the ETag that only a blob served from the store has. */
function pullStored(
  name: string,
  digest: string,
): Promise<{ status: number; digest: string; size: number; etag: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${server().url}/v2/${name}/blobs/${digest}`, { agent: false }, (res) => {
      const hash = createHash('sha256');
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        size += chunk.length;
      });
      res.on('error', reject);
      res.on('end', () => {
        resolve({
          status: res.statusCode ?? 0,
          digest: `sha256:${hash.digest('hex')}`,
          size,
          etag: res.headers.etag,
        });
      });
    });
    req.on('error', reject);
  });
}

describe('proxy namespace under load', () => {
  it(`serves ${CLIENTS} concurrent pulls of one uncached 100 MiB blob with one upstream GET`, async () => {
    const blob = randomBytes(BIG);
    const digest = sha256(blob);
    await pushBlob(registry().url, 'team/big', blob);
    expect(await upstreamGets('team/big', digest)).toBe(0);

    const before = memoryOf(server().pid, 'VmRSS');
    const peakReset = resetPeakMemory(server().pid);
    const pulls = await Promise.all(
      Array.from({ length: CLIENTS }, () => pullBlobHashed(server().url, 'hub/team/big', digest)),
    );
    const peak = memoryOf(server().pid, 'VmHWM');

    for (const pull of pulls) expect(pull).toEqual({ status: 200, digest, size: BIG });
    expect(await upstreamGets('team/big', digest)).toBe(1);
    // Cached now: another pull is served by Berth alone.
    expect(await pullBlobHashed(server().url, 'hub/team/big', digest)).toEqual({
      status: 200,
      digest,
      size: BIG,
    });
    expect(await upstreamGets('team/big', digest)).toBe(1);
    process.stdout.write(
      `proxy-load: server RSS ${(before / MB).toFixed(0)} MB before, peak ${(peak / MB).toFixed(0)} MB while ${CLIENTS} clients pulled ${BIG / MiB} MiB` +
        `${peakReset ? '' : ' (peak since start: clear_refs refused)'}\n`,
    );
    expect(peak).toBeLessThan(MAX_PEAK);
    expect(server().output()).not.toMatch(/could not cache/);
  });

  it('finishes the fill when the client that started it leaves half-way', async () => {
    const size = 64 * MiB;
    const blob = randomBytes(size);
    const digest = sha256(blob);
    await pushBlob(registry().url, 'team/cut', blob);

    // Read a little of the first (uncached) download, then drop the connection.
    const received = await new Promise<number>((resolve, reject) => {
      let bytes = 0;
      const req = http.get(
        `${server().url}/v2/hub/team/cut/blobs/${digest}`,
        { agent: false },
        (res) => {
          if (res.statusCode !== 200) {
            reject(new Error(`GET answered ${String(res.statusCode)}`));
            return;
          }
          res.on('data', (chunk: Buffer) => {
            bytes += chunk.length;
            if (bytes >= 4 * MiB) {
              req.destroy();
              resolve(bytes);
            }
          });
          res.on('end', () => reject(new Error('the whole blob arrived before the client left')));
        },
      );
      req.on('error', (e) => {
        // The destroy above ends the request with an abort, which is no failure.
        if (bytes < 4 * MiB) reject(e);
      });
    });
    expect(received).toBeLessThan(size);

    // A later pull finds the blob cached (or waits for the fill still going) and is served from
    // the store, which alone sends an ETag: a fill that had stopped would be taken over and the
    // bytes streamed from the upstream again.
    for (let i = 0; i < 2; i++) {
      expect(await pullStored('hub/team/cut', digest)).toEqual({
        status: 200,
        digest,
        size,
        etag: `"${digest}"`,
      });
      expect(await upstreamGets('team/cut', digest)).toBe(1);
    }
    expect(server().output()).not.toMatch(/could not cache/);
  });
});
