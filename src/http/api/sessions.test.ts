import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteMetaStore } from '../../meta/sqlite/open.js';
import type { MetaStore } from '../../meta/store.js';
import { createSessionStore, credentialOf, tokensEqual } from './sessions.js';

// The sessions live in the metadata database; the MetaStore contract runs the same queries on
// PostgreSQL, and test/http/replicas-shared-state.test.ts shares them between two servers.
let dir: string;
let meta: MetaStore;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'berth-sessions-'));
  meta = await openSqliteMetaStore(path.join(dir, 'meta.sqlite'));
});
afterEach(async () => {
  await meta.close();
  await rm(dir, { recursive: true, force: true });
});

function store(maxSessions = 100): {
  sessions: ReturnType<typeof createSessionStore>;
  advance: (seconds: number) => void;
} {
  let t = 1_000_000;
  const sessions = createSessionStore(meta, {
    idleSeconds: 60,
    maxAgeSeconds: 3600,
    maxSessions,
    now: () => t,
  });
  return { sessions, advance: (seconds) => (t += seconds * 1000) };
}

describe('session store', () => {
  it('keeps a session alive while it is used and ends it after the idle period', async () => {
    const { sessions, advance } = store();
    const { id, session } = await sessions.create('alice', 'hash-1');
    advance(50);
    expect(await sessions.get(id)).toEqual({ ...session, lastSeen: session.createdAt + 50_000 });
    advance(50); // 100 s after creation, but only 50 s after the last use
    expect((await sessions.get(id))?.user).toBe('alice');
    advance(61);
    expect(await sessions.get(id)).toBeNull();
    expect(await sessions.count()).toBe(0);
  });

  it('writes the last use at most every 5 seconds, not at every request', async () => {
    const { sessions, advance } = store();
    const { id, session } = await sessions.create('alice', 'hash-1');
    advance(4);
    expect((await sessions.get(id))?.lastSeen).toBe(session.createdAt);
    advance(1);
    expect((await sessions.get(id))?.lastSeen).toBe(session.createdAt + 5_000);
    // Another process (a replica) reads what was written.
    const other = createSessionStore(meta, {
      idleSeconds: 60,
      maxAgeSeconds: 3600,
      maxSessions: 100,
      now: () => session.createdAt + 6_000,
    });
    expect((await other.get(id))?.lastSeen).toBe(session.createdAt + 5_000);
  });

  it('ends a session at its maximum age even while it is in use', async () => {
    const { sessions, advance } = store();
    const { id } = await sessions.create('alice', 'hash-1');
    for (let elapsed = 0; elapsed < 3540; elapsed += 59) {
      advance(59);
      expect((await sessions.get(id))?.user).toBe('alice');
    }
    advance(60); // an hour after login, one minute after the last use
    expect(await sessions.get(id)).toBeNull();
  });

  it('sweeps idle sessions without being asked for them', async () => {
    const { sessions, advance } = store();
    await sessions.create('alice', 'h');
    advance(30);
    const { id } = await sessions.create('bob', 'h');
    advance(40);
    expect(await sessions.sweep()).toBe(1);
    expect(await sessions.count()).toBe(1);
    expect((await sessions.get(id))?.user).toBe('bob');
  });

  it('drops the oldest sessions beyond the limit', async () => {
    const { sessions, advance } = store(2);
    const first = await sessions.create('a', 'h');
    advance(1);
    const second = await sessions.create('b', 'h');
    advance(1);
    const third = await sessions.create('c', 'h');
    expect(await sessions.count()).toBe(2);
    expect(await sessions.get(first.id)).toBeNull();
    expect((await sessions.get(second.id))?.user).toBe('b');
    expect((await sessions.get(third.id))?.user).toBe('c');
  });

  it('ends every session of a user except the one to keep', async () => {
    const { sessions } = store();
    const a1 = await sessions.create('alice', 'h');
    const a2 = await sessions.create('alice', 'h');
    const b = await sessions.create('bob', 'h');
    await sessions.deleteUser('alice', a2.id);
    expect(await sessions.get(a1.id)).toBeNull();
    expect((await sessions.get(a2.id))?.user).toBe('alice');
    expect((await sessions.get(b.id))?.user).toBe('bob');
    await sessions.deleteUser('alice');
    expect(await sessions.get(a2.id)).toBeNull();
  });

  it('keeps a session under its owner’s new password', async () => {
    const { sessions } = store();
    const { id, session } = await sessions.create('alice', 'hash-1');
    await sessions.setPassword(id, session, 'hash-2');
    expect(session.credential).toBe(credentialOf('hash-2'));
    expect((await sessions.get(id))?.credential).toBe(credentialOf('hash-2'));
  });

  it('issues unguessable ids and CSRF tokens, and stores neither the id nor the password', async () => {
    const { sessions } = store();
    const one = await sessions.create('alice', 'argon2-hash');
    const two = await sessions.create('alice', 'argon2-hash');
    expect(one.id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(one.id).not.toBe(two.id);
    expect(one.session.csrfToken).not.toBe(two.session.csrfToken);
    expect(one.session.credential).toBe(credentialOf('argon2-hash'));
    expect(one.session.credential).not.toContain('argon2');
    expect(await sessions.get('not-an-id')).toBeNull();
    // The row is keyed by a digest of the id: reading it by the id finds nothing.
    expect(await meta.getUiSession(one.id)).toBeNull();
    expect(await meta.deleteUiSession(one.id)).toBe(false);
    expect((await sessions.get(one.id))?.user).toBe('alice');
  });
});

describe('tokensEqual', () => {
  it('is true only for identical tokens', () => {
    expect(tokensEqual('abc', 'abc')).toBe(true);
    expect(tokensEqual('abd', 'abc')).toBe(false);
    expect(tokensEqual('ab', 'abc')).toBe(false);
    expect(tokensEqual('', 'abc')).toBe(false);
  });
});
