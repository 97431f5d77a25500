import pg from 'pg';
import { inject } from 'vitest';
import { describeMetaStore } from '../../../test/contract/meta-store.contract.js';
import { createTestDatabase } from '../../../test/helpers/postgres.js';
import { openPostgresMetaStore } from './open.js';

// Each test a database of its own on the run's cluster (test/helpers/postgres-setup.ts).
describeMetaStore('PostgreSQL', async () => {
  const database = await createTestDatabase(inject('postgresUrl'), 'contract');
  const meta = await openPostgresMetaStore(database.url);
  return {
    meta,
    async close() {
      await meta.close();
      await database.drop();
    },
    // Another session, as another replica's.
    async exec(statement) {
      const client = new pg.Client({ connectionString: database.url });
      await client.connect();
      try {
        await client.query(statement);
      } finally {
        await client.end();
      }
    },
  };
});
