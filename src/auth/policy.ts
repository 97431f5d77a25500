/**
 * @module auth/policy
 * Access decisions: which actions a principal may take in a namespace. Privileges come from role
 * bindings; an access token holds at most its own privileges AND its user's current ones, so
 * taking a role from a user also narrows every token the user made.
 */
import type { Action, Privilege } from '../meta/identity.js';
import { matchesPattern } from '../meta/sql-identity.js';

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
