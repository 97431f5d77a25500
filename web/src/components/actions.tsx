/**
 * What every page's forms and row actions share: the error state of an attempt to change
 * something, and the red row button that opens a confirmation.
 */
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { messageOf } from '../api';

/**
 * `attempt(action)` clears the last error, runs the action, and on failure shows what the API
 * said; it resolves true when the action succeeded.
 */
export function useAttempt(): {
  error: string | null;
  setError: (error: string | null) => void;
  attempt: (action: () => Promise<unknown>) => Promise<boolean>;
} {
  const [error, setError] = useState<string | null>(null);
  async function attempt(action: () => Promise<unknown>): Promise<boolean> {
    setError(null);
    try {
      await action();
      return true;
    } catch (e) {
      setError(messageOf(e));
      return false;
    }
  }
  return { error, setError, attempt };
}

/** A destructive row action (delete, revoke); it only opens the confirmation dialog. */
export function DangerButton(props: {
  /** What screen readers hear, naming the row: "Delete tag v1". */
  label: string;
  onClick: () => void;
  children: ComponentChildren;
}) {
  return (
    <button
      type="button"
      class="button subtle danger-text"
      aria-label={props.label}
      onClick={props.onClick}
    >
      {props.children}
    </button>
  );
}
