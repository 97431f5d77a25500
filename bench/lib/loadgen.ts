/**
 * Small-request load at a fixed number of connections, for a fixed time: runs `loadgen-child.ts`
 * in its own process (so the benchmark's event loop does not share its core) and summarises.
 */
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { LoadgenChildArgs, LoadgenChildResult } from './loadgen-child.js';
import { exited, spawnTracked, stdoutOf, stopChild } from './procs.js';
import { percentile } from './stats.js';

const CHILD = path.join(import.meta.dirname, 'loadgen-child.ts');

export interface LoadOptions {
  url: string;
  method: 'GET' | 'HEAD';
  headers?: Record<string, string>;
  connections: number;
  durationMs: number;
}

export interface LoadResult {
  requests: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  non2xx: number;
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const url = new URL(options.url);
  const args: LoadgenChildArgs = {
    host: url.hostname,
    port: Number(url.port),
    method: options.method,
    path: `${url.pathname}${url.search}`,
    headers: options.headers ?? {},
    connections: options.connections,
    durationMs: options.durationMs,
    timeoutMs: 10_000,
  };
  // process.execArgv carries tsx's loader, so the child runs the TypeScript file as we do.
  const child = spawnTracked(process.execPath, [...process.execArgv, CHILD, JSON.stringify(args)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const deadline = setTimeout(() => void stopChild(child, 1000), options.durationMs + 30_000);
  try {
    const lines = createInterface({ input: stdoutOf(child) });
    let line: string | undefined;
    for await (const l of lines) line ??= l;
    await exited(child);
    if (line === undefined) throw new Error(`load generator exited with ${child.exitCode}`);
    const result = JSON.parse(line) as LoadgenChildResult;
    const raw = Buffer.from(result.latenciesUs, 'base64');
    // Copied: a pooled Buffer's offset need not be 4-aligned.
    const latencies = new Uint32Array(
      raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length),
    );
    return {
      requests: result.requests,
      requestsPerSecond: result.requests / (result.elapsedMs / 1000),
      p50Ms: percentile(latencies, 50) / 1000,
      p99Ms: percentile(latencies, 99) / 1000,
      errors: result.errors,
      non2xx: result.non2xx,
    };
  } finally {
    clearTimeout(deadline);
  }
}
