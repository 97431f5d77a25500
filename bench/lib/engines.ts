/**
 * The real engines of scale-out mode (`--engines s3`, ENGINES.md §5), started with the test
 * helpers that CI uses: a throwaway PostgreSQL 15 cluster (`test/helpers/postgres.ts`), Ceph
 * clusters with two RADOS gateways (`test/helpers/ceph.ts`: mon + memstore OSD + 2 RGW) and nginx
 * as the round-robin load balancer (`test/helpers/load-balancer.ts`). Each starts on 127.0.0.1
 * and stops by its PIDs; every one is also registered with `procs.ts`, so Ctrl-C stops it.
 */
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { startCephCluster, type CephCluster } from '../../test/helpers/ceph.js';
import { startLoadBalancer, type LoadBalancer } from '../../test/helpers/load-balancer.js';
import { createTestDatabase, startPostgresCluster } from '../../test/helpers/postgres.js';
import { childrenNamed, processTree } from './proc-stats.js';
import { registerCleanup } from './procs.js';

export interface Postgres {
  /** A new, empty database: its URL. Dropped with the cluster. */
  database(prefix: string): Promise<string>;
  /** The postmaster and its backends, now. */
  pids(): number[];
  stop(): Promise<void>;
}

export interface Ceph {
  endpoints: string[];
  accessKey: string;
  secretKey: string;
  readyMs: number;
  /** A new bucket `name`; it goes with the cluster. */
  bucket(name: string): Promise<void>;
  /** The daemons' summed resident memory (the OSD's includes the objects). */
  rss(): number;
  /** The gateways' PIDs (radosgw). */
  gatewayPids(): number[];
  /** The monitor's and the OSD's PIDs (the OSD holds the objects, in memory). */
  storePids(): number[];
  stop(): Promise<void>;
}

/** Wraps `stop` so that it runs once, from here or from the Ctrl-C cleanup. */
function stopOnce(stop: () => Promise<void>): () => Promise<void> {
  let stopping: Promise<void> | undefined;
  const unregister = registerCleanup(() => (stopping ??= stop()));
  return () => {
    unregister();
    return (stopping ??= stop());
  };
}

export async function startPostgres(): Promise<Postgres> {
  const cluster = await startPostgresCluster();
  return {
    database: async (prefix) => (await createTestDatabase(cluster.url, prefix)).url,
    pids: () => processTree(cluster.pid),
    stop: stopOnce(() => cluster.stop()),
  };
}

/**
 * A new Ceph cluster. The bench starts one per scenario and registry: the OSD keeps objects in
 * memory (a 2 GiB cap) and RGW frees deleted data a minute or more later, so a fresh cluster
 * gives each run the same empty store and the memory back when it stops.
 */
export async function startCeph(): Promise<Ceph> {
  const cluster: CephCluster = await startCephCluster();
  const stop = stopOnce(() => cluster.stop());
  const endpoint = cluster.endpoints[0];
  if (endpoint === undefined) throw new Error('the Ceph cluster has no gateway');
  const client = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: cluster.accessKey, secretAccessKey: cluster.secretKey },
  });
  return {
    endpoints: cluster.endpoints,
    accessKey: cluster.accessKey,
    secretKey: cluster.secretKey,
    readyMs: cluster.readyMs,
    async bucket(name) {
      await client.send(new CreateBucketCommand({ Bucket: name }));
    },
    rss: () => cluster.rss(),
    // One cluster at a time runs in the bench: its daemons are this process's children so named.
    gatewayPids: () => childrenNamed(['radosgw']),
    storePids: () => childrenNamed(['ceph-osd', 'ceph-mon']),
    async stop() {
      client.destroy();
      await stop();
    },
  };
}

export interface Balancer {
  url: string;
  /** nginx's master and workers. */
  pids(): number[];
  stop(): Promise<void>;
}

/** nginx, round robin over `upstreams` (`HOST:PORT`), streaming both ways (ENGINES.md §3). */
export async function startBalancer(upstreams: string[]): Promise<Balancer> {
  const lb: LoadBalancer = await startLoadBalancer(upstreams);
  return {
    url: lb.url,
    pids: () => processTree(lb.pid),
    stop: stopOnce(() => lb.stop()),
  };
}
