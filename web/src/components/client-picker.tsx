import { useApp } from '../app-state';
import type { Client } from '../format';

const CLIENTS: readonly Client[] = ['docker', 'podman'];

/** docker or podman for every copied command; remembered in this browser. */
export function ClientPicker() {
  const { client, setClient } = useApp();
  return (
    <fieldset class="segmented">
      <legend class="visually-hidden">Commands for</legend>
      {CLIENTS.map((c) => (
        <label key={c} class={c === client ? 'selected' : undefined}>
          <input
            type="radio"
            name="client"
            value={c}
            checked={c === client}
            onChange={() => setClient(c)}
          />
          {c}
        </label>
      ))}
    </fieldset>
  );
}
