/**
 * vitest globalSetup of the projects that test S3 blob storage: one throwaway Ceph cluster for the
 * whole run (test/helpers/ceph.ts), its gateways and keys given to test files as `inject('s3')`
 * (test/helpers/s3.ts), stopped by its PIDs when the last of those projects ends. Each project
 * calls this setup in the same vitest process, so the cluster is shared through globalThis and
 * counted.
 */
import type { TestProject } from 'vitest/node';
import { startCephCluster, type CephCluster } from './ceph.js';

declare module 'vitest' {
  export interface ProvidedContext {
    s3: { endpoints: string[]; accessKey: string; secretKey: string };
  }
}

interface Shared {
  cluster: Promise<CephCluster>;
  users: number;
}

const holder = globalThis as unknown as { berthTestCeph?: Shared | undefined };

const mib = (bytes: number): string => `${Math.round(bytes / 2 ** 20)} MiB`;

function start(): Shared {
  const cluster = startCephCluster();
  // The engine's cost, in the run's log (CI's record of it).
  cluster.then(
    (c) => {
      const ready = (c.readyMs / 1000).toFixed(1);
      process.stderr.write(`ceph: gateways ready in ${ready} s, daemons' RSS ${mib(c.rss())}\n`);
    },
    () => undefined,
  );
  return { cluster, users: 0 };
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const shared = (holder.berthTestCeph ??= start());
  shared.users += 1;
  const cluster = await shared.cluster;
  const { endpoints, accessKey, secretKey } = cluster;
  project.provide('s3', { endpoints, accessKey, secretKey });
  return async () => {
    shared.users -= 1;
    if (shared.users > 0) return;
    holder.berthTestCeph = undefined;
    process.stderr.write(`ceph: daemons' RSS at the end ${mib(cluster.rss())}\n`);
    await cluster.stop();
  };
}
