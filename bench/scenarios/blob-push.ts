/**
 * Blob uploads, one client, one blob at a time, in the four ways clients send them. Throughput is
 * the blob bytes over the wall time of all requests of all blobs (POST to the final 201).
 */
import { MiB, type Blob, type BlobFactory } from '../lib/blobs.js';
import type { RegistryClient } from '../lib/registry-client.js';
import {
  figure,
  measured,
  MB,
  type Figure,
  type Scenario,
  type ScenarioContext,
  type Sizes,
} from '../lib/scenario.js';
import { percentile } from '../lib/stats.js';

type Push = (client: RegistryClient, repo: string, blob: Blob) => Promise<unknown>;

function blobsOf(blobs: BlobFactory, prefix: string, size: number, count: number): Blob[] {
  return Array.from({ length: count }, (_, i) => blobs.blob(`${prefix}-${i}`, size));
}

const mib = (bytes: number): string => `${Math.round((bytes / MiB) * 10) / 10} MiB`;

/** Pushes `list` one after the other; returns the figures of throughput, latency and footprint. */
async function pushAll(
  ctx: ScenarioContext,
  scenario: string,
  id: string,
  label: string,
  list: Blob[],
  push: Push,
  withLatency: boolean,
): Promise<Figure[]> {
  const client = ctx.client();
  const repo = `library/${scenario}`;
  const bytes = list.reduce((sum, b) => sum + b.size, 0);
  const {
    result: times,
    usage,
    figures,
  } = await measured(
    ctx,
    { scenario, id, label },
    () => ({ bytes }),
    async () => {
      const times: number[] = [];
      for (const blob of list) {
        const t0 = performance.now();
        await push(client, repo, blob);
        times.push(performance.now() - t0);
      }
      return times;
    },
  );
  const out = [
    figure(scenario, `${id}.mbps`, label, 'MB/s', 'higher', bytes / MB / usage.wallSeconds),
  ];
  if (withLatency) {
    out.push(
      figure(scenario, `${id}.p50`, `${label}: p50 per blob`, 'ms', 'lower', percentile(times, 50)),
      figure(scenario, `${id}.p99`, `${label}: p99 per blob`, 'ms', 'lower', percentile(times, 99)),
    );
  }
  return [...out, ...figures];
}

function smallLabel(what: string, s: Sizes): string {
  return `${what} ${mib(s.smallBlob)} × ${s.smallCount}`;
}

function largeLabel(what: string, s: Sizes): string {
  return `${what} ${mib(s.largeBlob)} × ${s.largeCount}`;
}

export const pushSmall: Scenario = {
  name: 'push-small',
  title: 'monolithic push of small blobs (POST, PUT with body)',
  prepare: (blobs, s) => void blobsOf(blobs, 'push-small', s.smallBlob, s.smallCount),
  run: (ctx) =>
    pushAll(
      ctx,
      'push-small',
      'mono',
      smallLabel('push', ctx.sizes),
      blobsOf(ctx.blobs, 'push-small', ctx.sizes.smallBlob, ctx.sizes.smallCount),
      (c, repo, blob) => c.pushMonolithic(repo, blob),
      true,
    ),
};

export const pushLarge: Scenario = {
  name: 'push-large',
  title: 'monolithic push of large blobs (POST, PUT with body)',
  prepare: (blobs, s) => void blobsOf(blobs, 'push-large', s.largeBlob, s.largeCount),
  run: (ctx) =>
    pushAll(
      ctx,
      'push-large',
      'mono',
      largeLabel('push', ctx.sizes),
      blobsOf(ctx.blobs, 'push-large', ctx.sizes.largeBlob, ctx.sizes.largeCount),
      (c, repo, blob) => c.pushMonolithic(repo, blob),
      false,
    ),
};

export const singlePost: Scenario = {
  name: 'single-post',
  title: 'single-POST push (POST ?digest= with the body), small and large blobs',
  prepare: (blobs, s) => {
    blobs.blob('single-probe', MiB);
    blobsOf(blobs, 'single-small', s.smallBlob, s.smallCount);
    blobsOf(blobs, 'single-large', s.largeBlob, s.largeCount);
  },
  async run(ctx) {
    const s = ctx.sizes;
    const small = smallLabel('single-POST', s);
    const large = largeLabel('single-POST', s);
    const probe = ctx.client();
    const answer = await probe.pushSinglePost(
      'library/single-post',
      ctx.blobs.blob('single-probe', MiB),
    );
    if (answer === 'unsupported') {
      const note = 'unsupported: answered 202 and ignored the body';
      return [
        figure('single-post', 'small.mbps', small, 'MB/s', 'higher', null, note),
        figure('single-post', 'large.mbps', large, 'MB/s', 'higher', null, note),
      ];
    }
    const single: Push = async (c, repo, blob) => {
      if ((await c.pushSinglePost(repo, blob)) !== 'created') throw new Error('single-POST: 202');
    };
    return [
      ...(await pushAll(
        ctx,
        'single-post',
        'small',
        small,
        blobsOf(ctx.blobs, 'single-small', s.smallBlob, s.smallCount),
        single,
        true,
      )),
      ...(await pushAll(
        ctx,
        'single-post',
        'large',
        large,
        blobsOf(ctx.blobs, 'single-large', s.largeBlob, s.largeCount),
        single,
        false,
      )),
    ];
  },
};

export const chunked: Scenario = {
  name: 'chunked',
  title: 'chunked push (PATCHes with Content-Range, then PUT)',
  prepare: (blobs, s) => void blobsOf(blobs, 'chunked', s.largeBlob, s.largeCount),
  run: (ctx) =>
    pushAll(
      ctx,
      'chunked',
      'chunked',
      `${largeLabel('chunked push', ctx.sizes)} (${mib(ctx.sizes.chunk)} PATCHes)`,
      blobsOf(ctx.blobs, 'chunked', ctx.sizes.largeBlob, ctx.sizes.largeCount),
      (c, repo, blob) => c.pushChunked(repo, blob, ctx.sizes.chunk),
      false,
    ),
};

export const streamed: Scenario = {
  name: 'streamed',
  title: 'streamed push (one PATCH without Content-Range, as docker does, then PUT)',
  prepare: (blobs, s) => void blobsOf(blobs, 'streamed', s.largeBlob, s.largeCount),
  run: (ctx) =>
    pushAll(
      ctx,
      'streamed',
      'streamed',
      largeLabel('streamed push', ctx.sizes),
      blobsOf(ctx.blobs, 'streamed', ctx.sizes.largeBlob, ctx.sizes.largeCount),
      (c, repo, blob) => c.pushStreamed(repo, blob),
      false,
    ),
};
