/**
 * What every page may need about the signed-in person and this registry: the session (who, admin
 * or not, privileges), the system summary, the host name clients use, and the preferred client
 * for copied commands.
 */
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { Client } from './format';
import type { Session, SystemInfo } from './types';

export interface AppState {
  session: Session;
  system: SystemInfo | undefined;
  /** Fetches the system summary again, e.g. after a garbage collection changed what is stored. */
  reloadSystem: () => void;
  /** host[:port] for docker/podman commands. */
  host: string;
  client: Client;
  setClient: (client: Client) => void;
  signOut: () => Promise<void>;
  /** The registry ended this session (e.g. after a password change): sign-in page, with words. */
  endSession: (notice: string) => void;
}

export const AppContext = createContext<AppState | null>(null);

export function useApp(): AppState {
  const state = useContext(AppContext);
  if (!state) throw new Error('useApp outside the signed-in app');
  return state;
}

/**
 * Whether the caller may create namespaces somewhere: the registry administrator, or anyone
 * holding `admin` on some pattern (a team lead on `team-*`). The server decides per name.
 */
export function mayCreateNamespaces(session: Session): boolean {
  return session.isAdmin || session.privileges.some((p) => p.actions.includes('admin'));
}

const CLIENT_KEY = 'berth.client';

export function storedClient(): Client {
  try {
    return window.localStorage.getItem(CLIENT_KEY) === 'podman' ? 'podman' : 'docker';
  } catch {
    return 'docker';
  }
}

export function storeClient(client: Client): void {
  try {
    window.localStorage.setItem(CLIENT_KEY, client);
  } catch {
    // Storage disabled: the choice lasts until reload, which is fine.
  }
}
