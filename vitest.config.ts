import { configDefaults, defineConfig } from 'vitest/config';

/** One throwaway PostgreSQL cluster a run, shared by the projects with tests on PostgreSQL. */
const POSTGRES = 'test/helpers/postgres-setup.ts';
/** One throwaway Ceph cluster (mon, OSD, two S3 gateways) a run, for the projects that use S3. */
const CEPH = 'test/helpers/ceph-setup.ts';

export default defineConfig({
  test: {
    globals: false,
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['src/**/*.test.ts', 'web/src/**/*.test.ts'],
          // The S3 driver's tests need the Ceph cluster: they run in the s3 project.
          exclude: [...configDefaults.exclude, 'src/storage/s3/**'],
          globalSetup: [POSTGRES],
        },
      },
      {
        extends: true,
        // S3 blob storage on a real engine: Ceph's RADOS gateway (test/helpers/ceph.ts).
        test: {
          name: 's3',
          include: ['src/storage/s3/**/*.test.ts', 'test/s3/**/*.test.ts'],
          globalSetup: [CEPH],
        },
      },
      {
        extends: true,
        test: {
          name: 'http',
          include: ['test/http/**/*.test.ts'],
          // Replicas on shared engines: in the projects that start them.
          exclude: [
            ...configDefaults.exclude,
            'test/http/replicas-shared-state.test.ts',
            'test/http/replicas-gc.test.ts',
          ],
        },
      },
      {
        extends: true,
        // The OCI conformance port again, with the metadata on PostgreSQL (one database a server).
        test: {
          name: 'http-postgres',
          include: [
            'test/http/conformance-blobs.test.ts',
            'test/http/conformance-data.test.ts',
            'test/http/conformance-ginkgo.test.ts',
            'test/http/replicas-shared-state.test.ts',
            'test/http/proxy-cache.test.ts',
            'test/http/group-namespaces.test.ts',
          ],
          env: { BERTH_TEST_META: 'postgres' },
          globalSetup: [POSTGRES],
        },
      },
      {
        extends: true,
        // The OCI conformance port through nginx, against three replicas on PostgreSQL and Ceph
        // RGW (test/helpers/replicas.ts): the scale-out mode as issue 17 asks for it.
        test: {
          name: 'http-replicas',
          include: [
            'test/http/conformance-blobs.test.ts',
            'test/http/conformance-data.test.ts',
            'test/http/conformance-ginkgo.test.ts',
            'test/http/replicas-gc.test.ts',
          ],
          env: { BERTH_TEST_TOPOLOGY: 'replicas' },
          globalSetup: [POSTGRES, CEPH],
        },
      },
      {
        extends: true,
        // Real clients and crash tests against the built server (dist/); run one file at a time.
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          // Ceph for the replicas' S3 bucket (test/e2e/replicas.test.ts).
          globalSetup: [POSTGRES, CEPH],
          fileParallelism: false,
          testTimeout: 600_000,
        },
      },
    ],
  },
});
