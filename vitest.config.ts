import { defineConfig } from 'vitest/config';

/** One throwaway PostgreSQL cluster a run, shared by the projects with tests on PostgreSQL. */
const POSTGRES = 'test/helpers/postgres-setup.ts';

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
          globalSetup: [POSTGRES],
        },
      },
      {
        extends: true,
        test: { name: 'http', include: ['test/http/**/*.test.ts'] },
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
          ],
          env: { BERTH_TEST_META: 'postgres' },
          globalSetup: [POSTGRES],
        },
      },
      {
        extends: true,
        // Real clients and crash tests against the built server (dist/); run one file at a time.
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          globalSetup: [POSTGRES],
          fileParallelism: false,
          testTimeout: 600_000,
        },
      },
    ],
  },
});
