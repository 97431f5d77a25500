/**
 * The application shell: finds out who is signed in (GET /session), sends everyone else to the
 * sign-in page with the address they wanted, and renders the page the address names.
 */
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ApiError, messageOf, onUnauthorized, request, setCsrfToken, useResource } from './api';
import { AppContext, storeClient, storedClient, type AppState } from './app-state';
import { Layout } from './layout';
import { registryHost, type Client } from './format';
import { safeReturnPath } from './paths';
import { navigate, useLocation } from './router';
import { Routes } from './routes';
import { LoginPage } from './pages/login';
import type { Session, SystemInfo } from './types';
import { ErrorMessage, Loading } from './components/ui';

/** undefined while asking the server; null when nobody is signed in. */
type SessionState = Session | null | undefined;

function loginHref(returnTo: string): string {
  return returnTo === '/' ? '/login' : `/login?next=${encodeURIComponent(returnTo)}`;
}

export function App() {
  const location = useLocation();
  const [session, setSession] = useState<SessionState>(undefined);
  const [bootError, setBootError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [client, setClientState] = useState<Client>(storedClient);

  const loadSession = useCallback(async (): Promise<void> => {
    try {
      const who = await request<Session>('GET', '/session', { redirectOn401: false });
      setCsrfToken(who.csrfToken);
      setSession(who);
      setBootError(null);
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) setSession(null);
      else setBootError(messageOf(e));
    }
  }, []);

  // The 401 handler is registered once; it reads the session of the latest render.
  const currentSession = useRef<SessionState>(session);
  currentSession.current = session;

  // Nobody is signed in any more; the effect below then goes to the sign-in page.
  const endSession = useCallback((message: string | null): void => {
    setCsrfToken(null);
    if (message !== null) setNotice(message);
    setSession(null);
  }, []);

  useEffect(() => {
    onUnauthorized(() =>
      endSession(
        currentSession.current ? 'Your session has ended. Sign in again to continue.' : null,
      ),
    );
    void loadSession();
  }, [loadSession, endSession]);

  // Nobody signed in: the sign-in page, remembering where they were going.
  useEffect(() => {
    if (session === null && location.path !== '/login') {
      navigate(loginHref(location.href), { replace: true });
    }
  }, [session, location]);

  // Signed in on the sign-in page (just now, or via the back button): go where it leads.
  useEffect(() => {
    if (session && location.path === '/login') {
      navigate(safeReturnPath(location.query.get('next')), { replace: true });
    }
  }, [session, location]);

  const signedIn = useCallback((): void => {
    setNotice(null);
    void loadSession();
  }, [loadSession]);

  const signOut = useCallback(async (): Promise<void> => {
    let notice = 'You have signed out.';
    try {
      await request('DELETE', '/session', { redirectOn401: false });
    } catch (e) {
      notice = `Signed out of this page, but the registry did not confirm it: ${messageOf(e)}`;
    }
    setCsrfToken(null);
    setSession(null);
    setNotice(notice);
    navigate('/login', { replace: true });
  }, []);

  const system = useResource<SystemInfo>(session ? '/system' : null);
  const setClient = useCallback((next: Client) => {
    storeClient(next);
    setClientState(next);
  }, []);
  const state = useMemo<AppState | null>(
    () =>
      session
        ? {
            session,
            system: system.data,
            host:
              system.data?.registryHost ??
              registryHost(system.data?.externalUrl, window.location.host),
            client,
            setClient,
            signOut,
            endSession,
            reloadSystem: system.reload,
          }
        : null,
    [session, system.data, system.reload, client, setClient, signOut, endSession],
  );

  if (bootError !== null) {
    return (
      <main class="boot">
        <h1>Berth</h1>
        <ErrorMessage error={bootError} />
        <button type="button" class="button primary" onClick={() => void loadSession()}>
          Try again
        </button>
      </main>
    );
  }
  if (location.path === '/login') {
    if (session) return <Loading />;
    return <LoginPage notice={notice} onSignedIn={signedIn} />;
  }
  if (!state) return <Loading />;
  return (
    <AppContext.Provider value={state}>
      <Layout location={location}>
        <Routes location={location} />
      </Layout>
    </AppContext.Provider>
  );
}
