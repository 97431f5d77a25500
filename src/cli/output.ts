/**
 * @module cli/output
 * Shared parsing of repeatable options and the plain-text output of CLI commands.
 */
import { InvalidArgumentError } from 'commander';
import { ACTIONS, type Action, type Privilege } from '../auth/types.js';

/** Collects a repeatable option (`--role a --role b`) into an array. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** Prints rows as columns aligned on the widest cell; the last column is not padded. */
export function printTable(header: readonly string[], rows: readonly (readonly string[])[]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  process.stdout.write(`${[header, ...rows].map(line).join('\n')}\n`);
}

/** `developer` for a global binding, `viewer on team` for one namespace. */
export function formatBinding(b: { role: string; namespace: string | null }): string {
  return b.namespace ? `${b.role} on ${b.namespace}` : b.role;
}

/** Parses a repeatable `--privilege PATTERN=ACTIONS` into a list. */
export function collectPrivilege(value: string, previous: Privilege[] | undefined): Privilege[] {
  const eq = value.indexOf('=');
  if (eq < 0) throw new InvalidArgumentError('expected PATTERN=ACTIONS, e.g. team-*=pull,push');
  const actions: Action[] = [];
  for (const word of value.slice(eq + 1).split(',')) {
    const action = ACTIONS.find((a) => a === word.trim());
    if (!action) throw new InvalidArgumentError(`actions are some of ${ACTIONS.join(',')}`);
    actions.push(action);
  }
  return [...(previous ?? []), { pattern: value.slice(0, eq).trim(), actions }];
}

/** `*=pull,push team=delete`: the same syntax `--privilege` takes. */
export function formatPrivileges(privileges: readonly Privilege[]): string {
  return privileges.map((p) => `${p.pattern}=${p.actions.join(',')}`).join(' ');
}
