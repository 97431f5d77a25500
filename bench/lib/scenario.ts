/**
 * What a scenario is and what it reports. A scenario prepares (untimed: pushes what it needs),
 * then times its work inside `measured`, which also samples the server's peak RSS and CPU time.
 */
import type { BlobFactory } from './blobs.js';
import { measure, type Usage } from './proc-stats.js';
import { RegistryClient } from './registry-client.js';
import type { RunningRegistry } from './servers.js';

export type Better = 'higher' | 'lower';

export interface Figure {
  /** Unique across scenarios, e.g. `push-large.mbps`. */
  key: string;
  scenario: string;
  label: string;
  unit: string;
  better: Better;
  /** null: not measured (unsupported, not implemented, failed); `note` says why. */
  value: number | null;
  note?: string;
}

export interface Sizes {
  idleMs: number;
  smallBlob: number;
  smallCount: number;
  largeBlob: number;
  largeCount: number;
  chunk: number;
  pullCount: number;
  concurrentClients: number;
  concurrentBlobs: number;
  concurrentBlob: number;
  manifestPushes: number;
  loadConnections: number;
  /** Concurrent connections of the token-endpoint load. */
  tokenConnections: number;
  loadMs: number;
  warmupMs: number;
  tagCounts: readonly number[];
  catalogRepos: number;
  /** Listings are requested one at a time, at least this many times and for at least this long. */
  listingMinRequests: number;
  listingMs: number;
  /** Bytes moved by each machine-limit measurement. */
  limitBytes: number;
}

export interface ScenarioContext {
  registry: RunningRegistry;
  blobs: BlobFactory;
  sizes: Sizes;
  /** A client with `connections` keep-alive sockets; closed when the scenario ends. */
  client(connections?: number): RegistryClient;
  /** Shared by the scenarios of one server run (e.g. which repositories hold the base image). */
  state: Map<string, unknown>;
  log(message: string): void;
}

/**
 * The context a scenario runs in against `registry`: its clients are added to `clients`, which
 * the caller closes when the scenario ends; the log prefixes each line with `label`.
 */
export function scenarioContext(options: {
  registry: RunningRegistry;
  blobs: BlobFactory;
  sizes: Sizes;
  clients: RegistryClient[];
  log: (message: string) => void;
}): ScenarioContext {
  const { registry, blobs, clients } = options;
  return {
    registry,
    blobs,
    sizes: options.sizes,
    state: new Map(),
    client(connections = 1) {
      const client = new RegistryClient(registry.url, blobs, connections);
      clients.push(client);
      return client;
    },
    log: options.log,
  };
}

export interface Scenario {
  name: string;
  title: string;
  /** Computes the digests of the blobs it will push, before any server is measured. */
  prepare?(blobs: BlobFactory, sizes: Sizes): void;
  run(ctx: ScenarioContext): Promise<Figure[]>;
  /**
   * Set for scenarios that need authentication (the token realm): they run against a Berth of
   * their own started with authentication on, while every other scenario runs without, as the
   * reference does. A registry without a token realm (the reference) is not started for them and
   * reports `unsupported()` instead.
   */
  auth?: { unsupported(sizes: Sizes): Figure[] };
}

export const MB = 1e6;
export const GB = 1e9;

export function figure(
  scenario: string,
  id: string,
  label: string,
  unit: string,
  better: Better,
  value: number | null,
  note?: string,
): Figure {
  return {
    key: `${scenario}.${id}`,
    scenario,
    label,
    unit,
    better,
    value,
    ...(note !== undefined ? { note } : {}),
  };
}

/** What the measured work amounts to, to normalise CPU time: bytes moved or operations done. */
export type Work = { bytes: number } | { ops: number };

/** Which figures `measured` adds: keys `<scenario>.<id>.rss` and `<scenario>.<id>.cpu`. */
export interface MeasuredFigures {
  scenario: string;
  id: string;
  label: string;
}

/** Times `work` on the server's PID; returns its result and the peak-RSS and CPU figures. */
export async function measured<T>(
  ctx: ScenarioContext,
  names: MeasuredFigures,
  amount: (result: T) => Work,
  work: () => Promise<T>,
): Promise<{ result: T; usage: Usage; figures: Figure[] }> {
  const { result, usage } = await measure(ctx.registry.pid, work);
  const done = amount(result);
  const { scenario, id, label } = names;
  const cpu =
    'bytes' in done
      ? figure(
          scenario,
          `${id}.cpu`,
          `${label}: server CPU`,
          'CPU-s/GB',
          'lower',
          usage.cpuSeconds / (done.bytes / GB),
        )
      : figure(
          scenario,
          `${id}.cpu`,
          `${label}: server CPU`,
          'CPU-s/1k ops',
          'lower',
          (usage.cpuSeconds / done.ops) * 1000,
        );
  return {
    result,
    usage,
    figures: [
      figure(
        scenario,
        `${id}.rss`,
        `${label}: server peak RSS`,
        'MB',
        'lower',
        usage.peakRssBytes / MB,
      ),
      cpu,
    ],
  };
}
