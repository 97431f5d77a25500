/**
 * The scale-out topology in one test process: N Berth servers (each its own app, data directory,
 * connection pool, caches and upload state) sharing one PostgreSQL database and one S3 bucket,
 * spread over the Ceph gateways, behind real nginx round robin (load-balancer.ts). Tests talk to
 * nginx only, so consecutive requests of one upload land on different replicas.
 */
import { inject } from 'vitest';
import { createTestDatabase } from './postgres.js';
import { createTestBucket, removeBucket, s3Cluster, s3Env } from './s3.js';
import { startLoadBalancer, type LoadBalancer } from './load-balancer.js';
import { startServer, type TestServer } from './server.js';

export interface ReplicaSet {
  /** nginx in front: what clients use. */
  url: string;
  host: string;
  replicas: TestServer[];
  balancer: LoadBalancer;
  metaUrl: string;
  storageUrl: string;
  /** The bucket the replicas share. */
  bucket: string;
  close(): Promise<void>;
}

export async function startReplicaSet(options: {
  count?: number;
  auth?: boolean;
}): Promise<ReplicaSet> {
  const count = options.count ?? 3;
  // The S3 driver reads its keys as `berth serve` does: from the environment.
  Object.assign(process.env, s3Env());
  const database = await createTestDatabase(inject('postgresUrl'), 'replicas');
  const bucket = await createTestBucket();
  const endpoints = s3Cluster().endpoints;
  const replicas: TestServer[] = [];
  let balancer: LoadBalancer | undefined;
  const close = async (): Promise<void> => {
    await balancer?.stop();
    await Promise.all(replicas.map((r) => r.close()));
    await database.drop();
    await removeBucket(bucket.name);
  };
  try {
    // All at once, as replicas rolled out together start: one migrates and initialises, the
    // others find it done.
    const started = await Promise.allSettled(
      Array.from({ length: count }, (_, i) =>
        startServer({
          ...(options.auth === undefined ? {} : { auth: options.auth }),
          configure: (config) => {
            config.meta = database.url;
            config.storage = bucket.storageUrl(undefined, endpoints[i % endpoints.length]);
          },
        }),
      ),
    );
    for (const result of started) if (result.status === 'fulfilled') replicas.push(result.value);
    const failed = started.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    balancer = await startLoadBalancer(replicas.map((r) => r.host));
    return {
      url: balancer.url,
      host: balancer.host,
      replicas,
      balancer,
      metaUrl: database.url,
      storageUrl: bucket.storageUrl(),
      bucket: bucket.name,
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}
