import { useEffect, useState } from 'preact/hooks';
import { messageOf, request, setCsrfToken } from '../api';
import { ErrorMessage } from '../components/ui';
import type { LoginResult } from '../types';

export function LoginPage(props: { notice: string | null; onSignedIn: () => void }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    document.title = 'Sign in · Berth';
  }, []);

  async function submit(event: Event): Promise<void> {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const result = await request<LoginResult>('POST', '/session', {
        body: { username, password },
        redirectOn401: false,
      });
      setCsrfToken(result.csrfToken);
      props.onSignedIn();
    } catch (e) {
      setError(messageOf(e));
      setBusy(false);
    }
  }

  return (
    <main class="login" id="main">
      <form class="card login-card" onSubmit={(e) => void submit(e)}>
        <p class="brand brand-large" aria-hidden="true">
          <span class="brand-mark">⚓</span> Berth
        </p>
        <h1>Sign in</h1>
        {props.notice !== null && (
          <p class="notice" role="status">
            {props.notice}
          </p>
        )}
        <div class="field">
          <label for="login-username">Username</label>
          <input
            id="login-username"
            name="username"
            autocomplete="username"
            autocapitalize="none"
            spellcheck={false}
            required
            value={username}
            onInput={(e) => setUsername(e.currentTarget.value)}
          />
        </div>
        <div class="field">
          <label for="login-password">Password</label>
          <input
            id="login-password"
            name="password"
            type="password"
            autocomplete="current-password"
            required
            value={password}
            onInput={(e) => setPassword(e.currentTarget.value)}
          />
        </div>
        <ErrorMessage error={error} />
        <button type="submit" class="button primary wide" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        <p class="hint">
          Use your Berth user name and password. Access tokens are for docker and CI, not for this
          page.
        </p>
      </form>
    </main>
  );
}
