import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describeMetaStore } from '../../../test/contract/meta-store.contract.js';
import { openSqliteMetaStore } from './open.js';

describeMetaStore('SQLite', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'berth-meta-contract-'));
  const file = path.join(dir, 'meta.sqlite');
  const meta = await openSqliteMetaStore(file);
  return {
    meta,
    async close() {
      await meta.close();
      await rm(dir, { recursive: true, force: true });
    },
    // A second connection, as `berth` CLI commands beside a server have: it waits its turn.
    exec(statement) {
      const db = new Database(file);
      try {
        db.pragma('busy_timeout = 5000');
        db.exec(statement);
      } finally {
        db.close();
      }
      return Promise.resolve();
    },
  };
});
