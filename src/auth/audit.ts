/**
 * @module auth/audit
 * The audit log: who did what, when and from where. Events are written in batches (one
 * transaction per second or per 200 events), so a burst of logins costs one fsync, not one each;
 * `flush()` runs on shutdown. A crash can lose at most the last second of events.
 */
import type { AuditEvent, IdentityMeta } from '../meta/identity.js';

export interface AuditLog {
  record(event: Omit<AuditEvent, 'at'> & { at?: string }): void;
  flush(): Promise<void>;
}

export function createAuditLog(meta: IdentityMeta, onError: (err: unknown) => void): AuditLog {
  let pending: AuditEvent[] = [];
  let timer: NodeJS.Timeout | undefined;
  let writing: Promise<void> = Promise.resolve();

  function flush(): Promise<void> {
    if (timer) clearTimeout(timer);
    timer = undefined;
    const batch = pending;
    pending = [];
    writing = writing.then(() => meta.appendAudit(batch), onError);
    return writing.catch(onError);
  }

  return {
    record(event) {
      pending.push({ ...event, at: event.at ?? new Date().toISOString() });
      if (pending.length >= 200) void flush();
      else timer ??= setTimeout(() => void flush(), 1000).unref();
    },
    flush,
  };
}
