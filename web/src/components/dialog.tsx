/**
 * Confirmation before anything destructive, in a native modal <dialog>: the browser traps focus,
 * closes on Escape and returns focus to the button that opened it.
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { messageOf } from '../api';
import { ErrorMessage } from './ui';

export interface ConfirmProps {
  title: string;
  children?: ComponentChildren;
  /** The button that does it, e.g. "Delete". */
  confirmLabel: string;
  /** False keeps the confirm button disabled (e.g. until a checkbox is ticked). */
  ready?: boolean;
  /** Does the thing; a thrown error is shown in the dialog, which then stays open. */
  onConfirm: () => Promise<void>;
  onClose: () => void;
}

export function ConfirmDialog(props: ConfirmProps) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    const element = dialog.current;
    if (element && !element.open) element.showModal();
    return () => element?.close();
  }, []);

  async function confirm(event: Event): Promise<void> {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await props.onConfirm();
      props.onClose();
    } catch (e) {
      setError(messageOf(e));
      setBusy(false);
    }
  }

  return (
    <dialog
      ref={dialog}
      class="dialog"
      aria-labelledby="dialog-title"
      onClose={() => props.onClose()}
    >
      <form onSubmit={(e) => void confirm(e)}>
        <h2 id="dialog-title">{props.title}</h2>
        <div class="dialog-body">{props.children}</div>
        <ErrorMessage error={error} />
        <div class="dialog-actions">
          <button type="button" class="button" onClick={() => props.onClose()}>
            Cancel
          </button>
          <button type="submit" class="button danger" disabled={busy || props.ready === false}>
            {busy ? 'Working…' : props.confirmLabel}
          </button>
        </div>
      </form>
    </dialog>
  );
}
