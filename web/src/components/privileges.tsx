/**
 * Privileges as people read them (`team-*: pull, push`) and an editor for a list of them, used
 * for custom roles and for narrowing an access token.
 */
import { useId } from 'preact/hooks';
import type { Action, Privilege } from '../types';

export const ACTIONS: readonly Action[] = ['pull', 'push', 'delete', 'admin'];

export function PrivilegeList(props: { privileges: readonly Privilege[] }) {
  if (props.privileges.length === 0) return <span class="muted">none</span>;
  return (
    <ul class="privileges">
      {props.privileges.map((p, i) => (
        <li key={i}>
          <code class="truncate" title={p.pattern}>
            {p.pattern}
          </code>
          <span class="actions">: {p.actions.join(', ')}</span>
        </li>
      ))}
    </ul>
  );
}

export function emptyPrivilege(): Privilege {
  return { pattern: '', actions: ['pull'] };
}

/** Rows of "namespace pattern + actions"; the caller owns the list. */
export function PrivilegeEditor(props: {
  value: Privilege[];
  onChange: (value: Privilege[]) => void;
  legend: string;
}) {
  const id = useId();
  const update = (index: number, next: Privilege): void =>
    props.onChange(props.value.map((p, i) => (i === index ? next : p)));

  return (
    <fieldset class="privilege-editor">
      <legend>{props.legend}</legend>
      {props.value.map((privilege, index) => {
        const patternId = `${id}-pattern-${String(index)}`;
        return (
          <div class="privilege-row" key={index}>
            <div class="field">
              <label for={patternId}>Namespace pattern {index + 1}</label>
              <input
                id={patternId}
                value={privilege.pattern}
                required
                placeholder="team or team-* or *"
                autocomplete="off"
                spellcheck={false}
                onInput={(e) => update(index, { ...privilege, pattern: e.currentTarget.value })}
              />
            </div>
            <fieldset class="actions-group">
              <legend class="visually-hidden">Actions for pattern {index + 1}</legend>
              {ACTIONS.map((action) => (
                <label class="check" key={action}>
                  <input
                    type="checkbox"
                    checked={privilege.actions.includes(action)}
                    onChange={(e) => {
                      const on = e.currentTarget.checked;
                      const actions = ACTIONS.filter((a) =>
                        a === action ? on : privilege.actions.includes(a),
                      );
                      update(index, { ...privilege, actions });
                    }}
                  />{' '}
                  {action}
                </label>
              ))}
            </fieldset>
            {props.value.length > 1 && (
              <button
                type="button"
                class="button subtle"
                aria-label={`Remove pattern ${String(index + 1)}`}
                onClick={() => props.onChange(props.value.filter((_, i) => i !== index))}
              >
                Remove
              </button>
            )}
          </div>
        );
      })}
      <button
        type="button"
        class="button subtle"
        onClick={() => props.onChange([...props.value, emptyPrivilege()])}
      >
        Add a pattern
      </button>
    </fieldset>
  );
}

/** Whether every row names a pattern and at least one action. */
export function privilegesComplete(privileges: readonly Privilege[]): boolean {
  return privileges.every((p) => p.pattern.trim() !== '' && p.actions.length > 0);
}
