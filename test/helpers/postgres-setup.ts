/**
 * vitest globalSetup of the projects that have tests on PostgreSQL: one cluster for the whole run
 * (test/helpers/postgres.ts), its URL given to test files as `inject('postgresUrl')`, stopped by
 * its PID when the last of those projects ends. Each project calls this setup in the same vitest
 * process, so the cluster is shared through globalThis and counted.
 */
import type { TestProject } from 'vitest/node';
import { startPostgresCluster, type PostgresCluster } from './postgres.js';

declare module 'vitest' {
  export interface ProvidedContext {
    postgresUrl: string;
  }
}

interface Shared {
  cluster: Promise<PostgresCluster>;
  users: number;
}

const holder = globalThis as unknown as { berthTestPostgres?: Shared | undefined };

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const shared = (holder.berthTestPostgres ??= { cluster: startPostgresCluster(), users: 0 });
  shared.users += 1;
  const cluster = await shared.cluster;
  project.provide('postgresUrl', cluster.url);
  return async () => {
    shared.users -= 1;
    if (shared.users > 0) return;
    holder.berthTestPostgres = undefined;
    await cluster.stop();
  };
}
