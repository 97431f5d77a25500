import { describe, expect, it } from 'vitest';
import { createSessionStore, credentialOf, tokensEqual } from './sessions.js';

function store(maxSessions = 100): {
  sessions: ReturnType<typeof createSessionStore>;
  advance: (seconds: number) => void;
} {
  let t = 1_000_000;
  const sessions = createSessionStore({
    idleSeconds: 60,
    maxAgeSeconds: 3600,
    maxSessions,
    now: () => t,
  });
  return { sessions, advance: (seconds) => (t += seconds * 1000) };
}

describe('session store', () => {
  it('keeps a session alive while it is used and ends it after the idle period', () => {
    const { sessions, advance } = store();
    const { id, session } = sessions.create('alice', 'hash-1');
    advance(50);
    expect(sessions.get(id)).toBe(session);
    advance(50); // 100 s after creation, but only 50 s after the last use
    expect(sessions.get(id)?.user).toBe('alice');
    advance(61);
    expect(sessions.get(id)).toBeNull();
    expect(sessions.size).toBe(0);
  });

  it('ends a session at its maximum age even while it is in use', () => {
    const { sessions, advance } = store();
    const { id } = sessions.create('alice', 'hash-1');
    for (let elapsed = 0; elapsed < 3540; elapsed += 59) {
      advance(59);
      expect(sessions.get(id)?.user).toBe('alice');
    }
    advance(60); // an hour after login, one minute after the last use
    expect(sessions.get(id)).toBeNull();
  });

  it('sweeps idle sessions without being asked for them', () => {
    const { sessions, advance } = store();
    sessions.create('alice', 'h');
    advance(30);
    const { id } = sessions.create('bob', 'h');
    advance(40);
    sessions.sweep();
    expect(sessions.size).toBe(1);
    expect(sessions.get(id)?.user).toBe('bob');
  });

  it('drops the oldest sessions beyond the limit', () => {
    const { sessions } = store(2);
    const first = sessions.create('a', 'h');
    const second = sessions.create('b', 'h');
    const third = sessions.create('c', 'h');
    expect(sessions.size).toBe(2);
    expect(sessions.get(first.id)).toBeNull();
    expect(sessions.get(second.id)?.user).toBe('b');
    expect(sessions.get(third.id)?.user).toBe('c');
  });

  it('ends every session of a user except the one to keep', () => {
    const { sessions } = store();
    const a1 = sessions.create('alice', 'h');
    const a2 = sessions.create('alice', 'h');
    const b = sessions.create('bob', 'h');
    sessions.deleteUser('alice', a2.id);
    expect(sessions.get(a1.id)).toBeNull();
    expect(sessions.get(a2.id)?.user).toBe('alice');
    expect(sessions.get(b.id)?.user).toBe('bob');
    sessions.deleteUser('alice');
    expect(sessions.get(a2.id)).toBeNull();
  });

  it('issues unguessable ids and CSRF tokens, and remembers the password only as a digest', () => {
    const { sessions } = store();
    const one = sessions.create('alice', 'argon2-hash');
    const two = sessions.create('alice', 'argon2-hash');
    expect(one.id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(one.id).not.toBe(two.id);
    expect(one.session.csrfToken).not.toBe(two.session.csrfToken);
    expect(one.session.credential).toBe(credentialOf('argon2-hash'));
    expect(one.session.credential).not.toContain('argon2');
    expect(sessions.get('not-an-id')).toBeNull();
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
