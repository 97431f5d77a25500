import { describe, expect, test } from 'vitest';
import {
  credentialsText,
  groupBody,
  groupSummary,
  memberChoices,
  moveItem,
  newProxyBody,
  proxyFields,
  proxyPatch,
  proxySummary,
  pushChoices,
  upstreamState,
} from './federation';
import type { Namespace, NamespaceKind, ProxySettings } from './types';

const EARLY = '2026-12-07T06:00:00.000Z';
const LATE = '2026-12-07T06:05:00.000Z';

const proxy = (over: Partial<ProxySettings> = {}): ProxySettings => ({
  url: 'https://registry-1.docker.io',
  username: 'alice',
  ttl: '6h',
  health: { lastSuccessAt: null, lastFailureAt: null, lastFailure: null },
  ...over,
});

const namespace = (name: string, kind: NamespaceKind): Namespace => ({
  name,
  kind,
  proxy: null,
  group: null,
  public: false,
  createdAt: EARLY,
  repositories: 0,
  immutableTags: [],
  indexChildren: null,
  quotaBytes: null,
  usedBytes: 0,
  retention: null,
  actions: ['admin'],
});

describe('upstreamState', () => {
  test.each([
    [null, null, 'unknown'],
    [EARLY, null, 'working'],
    [null, EARLY, 'failing'],
    [EARLY, LATE, 'failing'],
    [LATE, EARLY, 'working'],
    // The same instant: a success answered then, so it is not shown as failing.
    [EARLY, EARLY, 'working'],
  ] as const)('success %s, failure %s: %s', (lastSuccessAt, lastFailureAt, state) => {
    expect(
      upstreamState({ lastSuccessAt, lastFailureAt, lastFailure: lastFailureAt && 'refused' }),
    ).toBe(state);
  });
});

describe('summaries', () => {
  test('a proxy: upstream, TTL and whose credentials', () => {
    expect(proxySummary(proxy())).toBe('https://registry-1.docker.io · TTL 6h · as alice');
    expect(proxySummary(proxy({ username: null, ttl: '30m' }))).toBe(
      'https://registry-1.docker.io · TTL 30m · anonymous',
    );
    expect(credentialsText(null)).toBe('anonymous');
  });

  test('a group: members in order and where pushes go', () => {
    expect(groupSummary({ members: ['team', 'hub'], pushTo: 'team' })).toBe(
      'members team, hub · pushes to team',
    );
    expect(groupSummary({ members: ['hub'], pushTo: null })).toBe('members hub · no pushes');
  });
});

describe('newProxyBody', () => {
  const fields = (over: Partial<ReturnType<typeof proxyFields>>) => ({
    ...proxyFields(null),
    ...over,
  });

  test('anonymous with the default TTL sends the URL alone', () => {
    expect(newProxyBody(fields({ url: ' https://r.example ' }))).toEqual({
      proxy: { url: 'https://r.example' },
    });
  });

  test('credentials and a TTL are sent as typed', () => {
    expect(
      newProxyBody(
        fields({ url: 'https://r.example', username: 'bob', password: 's3', ttl: '1h' }),
      ),
    ).toEqual({ proxy: { url: 'https://r.example', username: 'bob', password: 's3', ttl: '1h' } });
  });

  test.each([
    [{ url: '  ' }, /URL/],
    [{ url: 'https://r.example', password: 'x' }, /needs a username/],
    [{ url: 'https://r.example', username: 'bob' }, /password of bob/],
  ])('%o is refused before it is sent', (over, message) => {
    const body = newProxyBody(fields(over));
    expect('error' in body && body.error).toMatch(message);
  });
});

describe('proxyPatch', () => {
  const current = proxy();

  test('the fields as loaded change nothing', () => {
    expect(proxyPatch(current, proxyFields(current))).toEqual({ changes: null });
    expect(proxyFields(current).password).toBe('');
  });

  test('only what changed is sent', () => {
    expect(proxyPatch(current, { ...proxyFields(current), ttl: '30m' })).toEqual({
      changes: { ttl: '30m' },
    });
    expect(
      proxyPatch(current, {
        ...proxyFields(current),
        url: 'https://mirror.example',
        password: 'n',
      }),
    ).toEqual({ changes: { url: 'https://mirror.example', password: 'n' } });
  });

  test('an emptied username pulls anonymously', () => {
    expect(proxyPatch(current, { ...proxyFields(current), username: '' })).toEqual({
      changes: { username: null },
    });
    expect(proxyPatch(proxy({ username: null }), proxyFields(proxy({ username: null })))).toEqual({
      changes: null,
    });
  });

  test('a new username needs its password; an empty TTL or URL is a slip', () => {
    const result = (over: Partial<ReturnType<typeof proxyFields>>) =>
      proxyPatch(current, { ...proxyFields(current), ...over });
    expect(result({ username: 'carol' })).toEqual({
      error: 'Enter the password of carol at the upstream.',
    });
    expect(result({ username: 'carol', password: 'pw' })).toEqual({
      changes: { username: 'carol', password: 'pw' },
    });
    expect(result({ username: '', password: 'pw' })).toHaveProperty('error');
    expect(result({ ttl: ' ' })).toHaveProperty('error');
    expect(result({ url: '' })).toHaveProperty('error');
  });
});

describe('group members', () => {
  const all = [
    namespace('team', 'hosted'),
    namespace('hub', 'proxy'),
    namespace('all', 'group'),
    namespace('ci', 'hosted'),
  ];

  test('members are hosted or proxy namespaces, neither chosen already nor the group itself', () => {
    expect(memberChoices(all, [], null)).toEqual(['team', 'hub', 'ci']);
    expect(memberChoices(all, ['hub'], 'ci')).toEqual(['team']);
  });

  test('only namespaces the caller administers are offered as members', () => {
    const pulled = { ...namespace('other', 'hosted'), actions: ['pull' as const] };
    expect(memberChoices([...all, pulled], [], null)).toEqual(['team', 'hub', 'ci']);
  });

  test('only hosted members may take pushes, in member order', () => {
    expect(pushChoices(all, ['hub', 'ci', 'team'])).toEqual(['ci', 'team']);
  });

  test('moveItem moves one place and stops at the ends', () => {
    expect(moveItem(['a', 'b', 'c'], 2, -1)).toEqual(['a', 'c', 'b']);
    expect(moveItem(['a', 'b', 'c'], 0, 1)).toEqual(['b', 'a', 'c']);
    expect(moveItem(['a', 'b'], 0, -1)).toEqual(['a', 'b']);
    expect(moveItem(['a', 'b'], 1, 1)).toEqual(['a', 'b']);
  });

  test('groupBody needs a member; a push member that left the members is dropped', () => {
    expect(groupBody([], '')).toEqual({ error: 'Add at least one member namespace.' });
    expect(groupBody(['team', 'hub'], 'team')).toEqual({
      group: { members: ['team', 'hub'], pushTo: 'team' },
    });
    expect(groupBody(['hub'], 'team')).toEqual({ group: { members: ['hub'], pushTo: null } });
    expect(groupBody(['team'], '')).toEqual({ group: { members: ['team'], pushTo: null } });
  });
});
