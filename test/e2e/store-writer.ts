/**
 * A second writer on a data directory, run as its own process by the concurrency tests:
 * `node --import tsx test/e2e/store-writer.ts DATA_DIR`. It writes through the path the CLI
 * commands take (cli/data.ts `withDataDir`: the same MetaStore, identity service and audit log)
 * without a process start per write, so a test can put thousands of foreign commits beside a
 * server. Prints `ready` once the directory is open; then each byte on stdin is one write (the
 * test sends one per request it finished), and when stdin closes it prints one JSON line:
 * `{"writes":N,"errors":["…"]}`.
 *
 * Paced by the test rather than writing back to back: SQLite keeps no queue for its write lock
 * (a waiting process polls, sleeping up to 100 ms between tries), so a process that takes the lock
 * again the moment it commits can starve the others past any busy timeout. The CLI never writes
 * like that; a server busy with pushes does not either.
 */
import { withDataDir } from '../../src/cli/data.js';

const [dataDir] = process.argv.slice(2);
if (dataDir === undefined) throw new Error('usage: store-writer.ts DATA_DIR');

const errors: string[] = [];
let writes = 0;

await withDataDir({ data: dataDir }, async ({ registry, identity, actor }) => {
  // What `namespace set`, `namespace create|delete` and `token create` write, in turn: single
  // statements, read-then-write transactions, and (batched) audit rows.
  const kinds = [
    (n: number) => registry.namespaces.setPublic('library', n % 2 === 0),
    () => registry.namespaces.create('stress-scratch', { public: false }),
    () => registry.namespaces.delete('stress-scratch', { force: true }),
    (n: number) =>
      identity.createToken(actor, { user: 'admin', name: `writer-${n}`, expiresInDays: 1 }),
  ];
  process.stdout.write('ready\n');
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    for (let i = 0; i < chunk.length; i++) {
      try {
        await kinds[writes % kinds.length]?.(writes);
      } catch (err) {
        // Recorded, and the writes go on: the test wants them all counted.
        errors.push(err instanceof Error ? err.message : String(err));
      }
      writes++;
    }
  }
});
process.stdout.write(`${JSON.stringify({ writes, errors })}\n`);
