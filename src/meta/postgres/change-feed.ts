/**
 * @module meta/postgres/change-feed
 * Tells a replica when another one changed a table it caches from. Migration 0008's triggers run
 * `pg_notify('berth_changes', <table>)` on each statement that writes `users`; NOTIFY is delivered when the writing transaction commits, to every session that
 * LISTENs, whichever process wrote. A lost listening connection is reported as `*` (anything
 * may have changed meanwhile) and reconnected with a growing pause.
 *
 * What it is used for, and what not: the credential cache (auth/service.ts) forgets a user's
 * logins when `users` changes, milliseconds after the commit instead of at the cache's expiry.
 * The manifest cache stays off on PostgreSQL: a notification arrives a little after the commit,
 * and a client that deletes a tag through one replica and reads it through another at once (the
 * OCI conformance suite does) would be served the deleted tag. Reads must see every committed
 * write, so they go to the database.
 */
import pg from 'pg';

export const CHANNEL = 'berth_changes';
/** The first reconnection is tried after this long, doubling up to RECONNECT_MAX_MS. */
const RECONNECT_MS = 250;
const RECONNECT_MAX_MS = 10_000;

export interface ChangeFeed {
  /**
   * `listener` gets the table each notification names, and `*` when notifications may have been
   * lost (the connection dropped, or came back): forget everything. Returns the unsubscribe.
   */
  watch(listener: (table: string) => void): () => void;
  close(): Promise<void>;
}

export async function openChangeFeed(connectionString: string): Promise<ChangeFeed> {
  const listeners = new Set<(table: string) => void>();
  let closed = false;
  let client: pg.Client | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let delay = RECONNECT_MS;

  const emit = (table: string): void => {
    for (const listener of listeners) listener(table);
  };

  async function connect(): Promise<void> {
    const next = new pg.Client({ connectionString });
    next.on('notification', (message) => emit(message.payload ?? '*'));
    // What was lost is reported to the watchers as `*`; the error itself changes nothing.
    next.on('error', () => lost(next));
    next.on('end', () => lost(next));
    client = next;
    await next.connect();
    await next.query(`LISTEN ${CHANNEL}`);
    if (closed || client !== next) {
      await next.end().catch(() => undefined);
      return;
    }
    delay = RECONNECT_MS;
    // Whatever happened while no one listened is unknown.
    emit('*');
  }

  function lost(which: pg.Client): void {
    if (client !== which || closed) return;
    client = undefined;
    emit('*');
    which.end().catch(() => undefined);
    retryTimer = setTimeout(reconnect, delay);
    retryTimer.unref();
    delay = Math.min(delay * 2, RECONNECT_MAX_MS);
  }

  function reconnect(): void {
    retryTimer = undefined;
    if (closed) return;
    connect().catch(() => {
      if (client) lost(client);
    });
  }

  await connect();
  return {
    watch(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async close() {
      closed = true;
      clearTimeout(retryTimer);
      const open = client;
      client = undefined;
      await open?.end().catch(() => undefined);
    },
  };
}
