/**
 * The machine's own limits, measured in the same run as the registries, so each registry figure
 * can be read against what the hardware and Node allow: no registry pushes faster than a trivial
 * server that hashes and writes, or pulls faster than loopback plus the client's sha256.
 */
import { createHash } from 'node:crypto';
import { open, rm } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { BlobFactory } from './blobs.js';
import { expectStatus, HttpClient } from './http.js';
import { runLoad } from './loadgen.js';
import { makeTempDir, removeTempDir, spawnTracked, stdoutOf, stopChild } from './procs.js';
import { GB, type Sizes } from './scenario.js';

export interface Limit {
  key: string;
  label: string;
  unit: string;
  value: number;
}

const TRIVIAL_SERVER = path.join(import.meta.dirname, 'trivial-server.ts');
const TIMEOUT = 300_000;

async function timed(fn: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

export async function measureLimits(
  blobs: BlobFactory,
  sizes: Sizes,
  log: (message: string) => void,
): Promise<Limit[]> {
  const bytes = sizes.limitBytes;
  const blob = blobs.blob('limits', bytes);
  const gbps = (seconds: number): number => bytes / GB / seconds;
  const limits: Limit[] = [];
  const add = (key: string, label: string, unit: string, value: number): void => {
    limits.push({ key, label, unit, value });
    log(`${label}: ${value.toFixed(2)} ${unit}`);
  };

  // sha256 on one core: this process is single-threaded.
  const hashSeconds = await timed(() => {
    const hash = createHash('sha256');
    for (const chunk of blobs.chunks(blob)) hash.update(chunk);
    hash.digest();
    return Promise.resolve();
  });
  add('sha256', 'sha256, one core', 'GB/s', gbps(hashSeconds));

  const dir = await makeTempDir('berth-bench-limits-');
  try {
    const file = path.join(dir, 'fsync-test');
    const writeSeconds = await timed(async () => {
      const handle = await open(file, 'w');
      try {
        for (const chunk of blobs.chunks(blob)) await handle.write(chunk);
        await handle.sync();
      } finally {
        await handle.close();
      }
    });
    await rm(file);
    add('disk', 'disk write + fsync (temp dir)', 'GB/s', gbps(writeSeconds));

    const server = spawnTracked(process.execPath, [...process.execArgv, TRIVIAL_SERVER, dir], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const port = await new Promise<number>((resolve, reject) => {
        const lines = createInterface({ input: stdoutOf(server) });
        lines.on('line', (line) => {
          const m = /^listening (\d+)$/.exec(line);
          if (m?.[1]) resolve(Number(m[1]));
        });
        server.once('exit', (code) => reject(new Error(`trivial server exited with ${code}`)));
      });
      const url = `http://127.0.0.1:${port}`;
      const client = new HttpClient(url);
      try {
        const upload = async (route: string): Promise<string> => {
          const res = await client.request({
            method: 'POST',
            path: route,
            headers: { 'content-length': bytes, 'content-type': 'application/octet-stream' },
            body: blobs.chunks(blob),
            timeoutMs: TIMEOUT,
          });
          expectStatus(res, route, 200);
          return res.body.toString('utf8');
        };
        const download = async (verify: boolean): Promise<void> => {
          const hash = verify ? createHash('sha256') : undefined;
          let received = 0;
          const res = await client.request({
            method: 'GET',
            path: `/source?bytes=${bytes}`,
            onBody: (chunk) => {
              received += chunk.length;
              hash?.update(chunk);
            },
            timeoutMs: TIMEOUT,
          });
          expectStatus(res, '/source', 200);
          hash?.digest();
          if (received !== bytes) throw new Error(`/source: ${received} of ${bytes} bytes`);
        };
        add(
          'upload',
          'loopback HTTP upload (trivial server discards)',
          'GB/s',
          gbps(await timed(() => upload('/sink').then(() => undefined))),
        );
        add(
          'download',
          'loopback HTTP download (client discards)',
          'GB/s',
          gbps(await timed(() => download(false))),
        );
        add(
          'download-sha256',
          'loopback HTTP download + client sha256',
          'GB/s',
          gbps(await timed(() => download(true))),
        );
        let digest = '';
        const hwSeconds = await timed(async () => {
          digest = await upload('/hashwrite');
        });
        if (digest !== blob.digest) throw new Error(`/hashwrite answered ${digest}`);
        add(
          'hash-write',
          'trivial server: upload hashed + written + fsync',
          'GB/s',
          gbps(hwSeconds),
        );
      } finally {
        client.close();
      }
      const load = {
        url: `${url}/small`,
        method: 'GET' as const,
        connections: sizes.loadConnections,
      };
      await runLoad({ ...load, durationMs: sizes.warmupMs });
      const small = await runLoad({ ...load, durationMs: sizes.loadMs });
      if (small.non2xx + small.errors > 0) throw new Error('/small: failed requests');
      const c = sizes.loadConnections;
      add(
        'small-get',
        `trivial server: small GET, ${c} connections`,
        'req/s',
        small.requestsPerSecond,
      );
      add('small-get-p99', `trivial server: small GET, ${c} connections, p99`, 'ms', small.p99Ms);
    } finally {
      await stopChild(server, 2000);
    }
  } finally {
    await removeTempDir(dir);
  }
  return limits;
}
