/**
 * @module auth/policy
 * Access decisions: which actions a principal may take in a namespace. Privileges come from role
 * bindings; an access token holds at most its own privileges AND its user's current ones, so
 * taking a role from a user also narrows every token the user made.
 */
import { matchesPattern, type Action, type Privilege } from '../meta/identity.js';
import { ACTIONS } from './types.js';

export { matchesPattern };

/** The actions that privileges allow in one namespace ('admin' implies pull, push and delete). */
export function actionsIn(privileges: readonly Privilege[], namespace: string): Set<Action> {
  const allowed = new Set<Action>();
  for (const p of privileges) {
    if (!matchesPattern(p.pattern, namespace)) continue;
    for (const a of p.actions) {
      allowed.add(a);
      if (a === 'admin')
        for (const implied of ['pull', 'push', 'delete'] as const) allowed.add(implied);
    }
  }
  return allowed;
}

/** Whether privileges grant `admin` everywhere (the registry administrator). */
export function isGlobalAdmin(privileges: readonly Privilege[]): boolean {
  return privileges.some((p) => p.pattern === '*' && p.actions.includes('admin'));
}

/**
 * What a principal may do in a namespace: its user's privileges, narrowed by an access token's
 * own privileges when it acts through one (both must allow an action).
 */
export function allowedIn(
  userPrivileges: readonly Privilege[],
  tokenPrivileges: readonly Privilege[] | undefined,
  namespace: string,
): Set<Action> {
  const allowed = actionsIn(userPrivileges, namespace);
  if (tokenPrivileges === undefined) return allowed;
  const tokenAllowed = actionsIn(tokenPrivileges, namespace);
  return new Set([...allowed].filter((a) => tokenAllowed.has(a)));
}

/** Actions with what `admin` implies. */
function withImplied(actions: readonly Action[]): Set<Action> {
  return actions.includes('admin') ? new Set(ACTIONS) : new Set(actions);
}

/** The namespaces that both patterns match, as one pattern; null when there are none. */
function patternIntersection(a: string, b: string): string | null {
  if (a === '*') return b;
  if (b === '*') return a;
  const aPrefix = a.endsWith('*');
  const bPrefix = b.endsWith('*');
  if (!aPrefix && !bPrefix) return a === b ? a : null;
  if (!bPrefix) return matchesPattern(a, b) ? b : null;
  if (!aPrefix) return matchesPattern(b, a) ? a : null;
  // Two prefixes: the longer, when it extends the shorter.
  if (a.startsWith(b.slice(0, -1))) return a;
  if (b.startsWith(a.slice(0, -1))) return b;
  return null;
}

/** Whether every namespace `inner` matches is matched by `outer`. */
function covers(outer: string, inner: string): boolean {
  return patternIntersection(outer, inner) === inner;
}

/**
 * What an access token can really do: its own privileges intersected with its user's current
 * ones, as privileges (each action spelled out; none subsumed by another entry).
 */
export function effectivePrivileges(
  userPrivileges: readonly Privilege[],
  tokenPrivileges: readonly Privilege[],
): Privilege[] {
  const byPattern = new Map<string, Set<Action>>();
  for (const t of tokenPrivileges) {
    const tokenActions = withImplied(t.actions);
    for (const u of userPrivileges) {
      const pattern = patternIntersection(t.pattern, u.pattern);
      if (pattern === null) continue;
      const userActions = withImplied(u.actions);
      const both = [...tokenActions].filter((a) => userActions.has(a));
      if (both.length === 0) continue;
      const actions = byPattern.get(pattern) ?? new Set<Action>();
      for (const a of both) actions.add(a);
      byPattern.set(pattern, actions);
    }
  }
  const entries = [...byPattern].map(([pattern, actions]) => ({
    pattern,
    actions: ACTIONS.filter((a) => actions.has(a)),
  }));
  return entries.filter(
    (e) =>
      !entries.some(
        (other) =>
          other !== e &&
          other.pattern !== e.pattern &&
          covers(other.pattern, e.pattern) &&
          e.actions.every((a) => other.actions.includes(a)),
      ),
  );
}

/**
 * The first requested privilege that `held` does not grant, narrowed to the actions missing (each
 * requested action needs one held privilege whose pattern covers the requested one); null when
 * every one is granted.
 */
export function notGranted(
  held: readonly Privilege[],
  requested: readonly Privilege[],
): Privilege | null {
  for (const r of requested) {
    const missing = r.actions.filter(
      (a) => !held.some((h) => covers(h.pattern, r.pattern) && withImplied(h.actions).has(a)),
    );
    if (missing.length > 0) return { pattern: r.pattern, actions: missing };
  }
  return null;
}
