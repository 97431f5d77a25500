/**
 * A second writer on a data directory, run as its own process by the concurrency tests:
 * `node --import tsx test/e2e/store-writer.ts DATA_DIR MAX`. It writes through the path the CLI
 * commands take (cli/data.ts `withDataDir`: the same MetaStore, identity service and audit log) in
 * a loop, without a process start per write, so a test can put thousands of foreign commits beside
 * a server in seconds. Prints `writing` after the first round, then writes until its stdin closes
 * or MAX rounds are done, and prints one JSON line: `{"rounds":N,"errors":["…"]}`.
 */
import { withDataDir } from '../../src/cli/data.js';

const [dataDir, maxArg] = process.argv.slice(2);
if (dataDir === undefined || maxArg === undefined) {
  throw new Error('usage: store-writer.ts DATA_DIR MAX_ROUNDS');
}
const max = Number(maxArg);

let stopped = false;
process.stdin.on('end', () => (stopped = true));
process.stdin.resume();

const errors: string[] = [];
let rounds = 0;

/** One failed write is recorded and the loop goes on: the test wants them all counted. */
async function attempt(write: () => Promise<unknown>): Promise<void> {
  try {
    await write();
  } catch (err) {
    errors.push(err instanceof Error ? err.message : String(err));
  }
}

await withDataDir({ data: dataDir }, async ({ registry, identity, actor }) => {
  while (!stopped && rounds < max) {
    // What `namespace set`, `namespace create|delete` and `token create` write, each its own
    // commit: single-statement updates, read-then-write transactions and audit batches.
    await attempt(() => registry.namespaces.setPublic('library', rounds % 2 === 0));
    await attempt(() => registry.namespaces.create('stress-scratch', { public: false }));
    await attempt(() => registry.namespaces.delete('stress-scratch', { force: true }));
    await attempt(() =>
      identity.createToken(actor, { user: 'admin', name: `writer-${rounds}`, expiresInDays: 1 }),
    );
    rounds++;
    if (rounds === 1) process.stdout.write('writing\n');
  }
});
process.stdout.write(`${JSON.stringify({ rounds, errors })}\n`);
// stdin may still be open (MAX reached first): do not wait for it.
process.exit(0);
