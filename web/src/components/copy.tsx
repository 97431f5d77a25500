/**
 * Copy-to-clipboard for commands, digests and the one-time token secret. The async clipboard API
 * needs a secure context; a registry UI is often opened over plain HTTP on a LAN address, so a
 * selection-based fallback covers that case.
 */
import { useEffect, useRef, useState } from 'preact/hooks';

async function copyText(text: string): Promise<boolean> {
  try {
    if (window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // Permission refused or no focus: try the selection route below.
  }
  const area = document.createElement('textarea');
  area.value = text;
  area.readOnly = true;
  area.className = 'offscreen';
  document.body.append(area);
  area.select();
  try {
    // eslint-disable-next-line @typescript-eslint/no-deprecated -- the only copy path without a secure context
    return document.execCommand('copy');
  } finally {
    area.remove();
  }
}

export function CopyButton(props: {
  text: string;
  label: string;
  compact?: boolean;
  /** The visible word before copying (default "Copy"). */
  idle?: string;
}) {
  const [state, setState] = useState<'idle' | 'copied' | 'failed'>('idle');
  const timer = useRef<number | undefined>(undefined);
  useEffect(() => () => window.clearTimeout(timer.current), []);

  async function copy(): Promise<void> {
    const ok = await copyText(props.text);
    setState(ok ? 'copied' : 'failed');
    window.clearTimeout(timer.current);
    timer.current = window.setTimeout(() => setState('idle'), 2000);
  }

  const word =
    state === 'copied' ? 'Copied' : state === 'failed' ? 'Select and copy' : (props.idle ?? 'Copy');
  return (
    <button
      type="button"
      class={`button-copy${props.compact === true ? ' compact' : ''}`}
      aria-label={`Copy ${props.label}`}
      onClick={() => void copy()}
    >
      <span aria-hidden="true">{word}</span>
      <span class="visually-hidden" aria-live="polite">
        {state === 'copied' ? 'Copied to the clipboard' : ''}
      </span>
    </button>
  );
}

/** A command or value in a monospace box, selectable by hand, with a copy button beside it. */
export function CopyField(props: { text: string; label: string }) {
  return (
    <div class="copy-field">
      <code class="copy-text">{props.text}</code>
      <CopyButton text={props.text} label={props.label} />
    </div>
  );
}
