/**
 * My account: who the signed-in person is, the roles they hold and what those let them do, and
 * a form to change their own password (which needs the current one). With authentication off
 * nobody signs in, so there is no account and the page says so.
 */
import { useState } from 'preact/hooks';
import { ApiError, messageOf, put, request, segment, useResource } from '../api';
import { useApp } from '../app-state';
import { PrivilegeList } from '../components/privileges';
import { Badge, EmptyState, ErrorMessage, Loaded, PageHeader, Section } from '../components/ui';
import { bindingText } from '../format';
import { MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, newPasswordProblem } from '../passwords';
import { Link } from '../router';
import type { Session } from '../types';

export function AccountPage() {
  const { session } = useApp();
  return (
    <>
      <PageHeader title="My account" />
      {session.authEnabled ? (
        <>
          <Profile />
          <ChangePassword user={session.user} />
        </>
      ) : (
        <NoAccount />
      )}
    </>
  );
}

function NoAccount() {
  return (
    <EmptyState title="There is no account to manage.">
      <p>
        Authentication is off on this registry: nobody signs in and everyone may do everything, so
        there is no password to change and no role that limits you. The{' '}
        <Link href="/system">System</Link> page shows how this registry is set up.
      </p>
    </EmptyState>
  );
}

function signedInWith(session: Session): string {
  if (session.accessToken !== null) return `Access token ${session.accessToken}`;
  return session.via === 'session' ? 'Password (this browser session)' : 'Basic credentials';
}

/** Read afresh rather than from the app's session: roles may have changed since sign-in. */
function Profile() {
  const who = useResource<Session>('/session');
  return (
    <Loaded resource={who} what="your account">
      {(session) => (
        <>
          <Section title="Who you are">
            <dl class="facts">
              <dt>User name</dt>
              <dd>{session.user}</dd>
              <dt>Administrator</dt>
              <dd>
                {session.isAdmin ? (
                  <Badge tone="info">yes: manages users, roles and the audit log</Badge>
                ) : (
                  'no'
                )}
              </dd>
              <dt>Signed in with</dt>
              <dd>{signedInWith(session)}</dd>
              <dt>Access tokens</dt>
              <dd>
                <Link href="/tokens">Your access tokens</Link>{' '}
                <span class="muted">(passwords for docker, podman and CI)</span>
              </dd>
            </dl>
          </Section>
          <div class="columns">
            <Section title="Your roles">
              {session.roles.length === 0 ? (
                <p class="muted">You hold no roles. Ask an administrator for one.</p>
              ) : (
                <ul class="chips" aria-label="Your roles">
                  {session.roles.map((binding) => (
                    <li class="chip" key={`${binding.role}@${binding.namespace ?? ''}`}>
                      {bindingText(binding)}
                    </li>
                  ))}
                </ul>
              )}
              <p class="hint">
                The <Link href="/roles">Roles</Link> page says what each role grants.
              </p>
            </Section>
            <Section title="What you may do">
              <PrivilegeList privileges={session.privileges} />
              <p class="hint">
                {session.accessToken !== null
                  ? 'These are the privileges of the access token you signed in with.'
                  : 'All your roles together: the actions you may take in namespaces matching each pattern.'}{' '}
                <code>admin</code> includes pull, push and delete.
              </p>
            </Section>
          </div>
        </>
      )}
    </Loaded>
  );
}

/** Whether this browser's session outlived the password change (the registry normally keeps it). */
async function sessionSurvived(): Promise<boolean> {
  try {
    await request('GET', '/session', { redirectOn401: false });
    return true;
  } catch (e) {
    // Any other failure says nothing about the session; the next request will tell.
    return !(e instanceof ApiError && e.status === 401);
  }
}

function ChangePassword(props: { user: string }) {
  const { endSession } = useApp();
  const [current, setCurrent] = useState('');
  const [password, setPassword] = useState('');
  const [repeated, setRepeated] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [changed, setChanged] = useState(false);

  async function submit(event: Event): Promise<void> {
    event.preventDefault();
    setChanged(false);
    const problem = newPasswordProblem(password, repeated, current);
    if (problem !== null) {
      setError(problem);
      return;
    }
    setError(null);
    setBusy(true);
    try {
      await put(`/users/${segment(props.user)}/password`, { currentPassword: current, password });
    } catch (e) {
      setError(messageOf(e));
      setBusy(false);
      return;
    }
    if (!(await sessionSurvived())) {
      endSession('Your password was changed and this session ended. Sign in with the new one.');
      return;
    }
    setCurrent('');
    setPassword('');
    setRepeated('');
    setBusy(false);
    setChanged(true);
  }

  return (
    <Section title="Change your password">
      <form class="stack-form narrow-form" onSubmit={(e) => void submit(e)}>
        {/* Lets password managers file the new password under the right user. */}
        <input type="text" name="username" autocomplete="username" value={props.user} hidden />
        <div class="field">
          <label for="account-current-password">Current password</label>
          <input
            id="account-current-password"
            type="password"
            required
            maxLength={MAX_PASSWORD_LENGTH}
            autocomplete="current-password"
            value={current}
            onInput={(e) => setCurrent(e.currentTarget.value)}
          />
        </div>
        <div class="field">
          <label for="account-new-password">New password</label>
          <input
            id="account-new-password"
            type="password"
            required
            minLength={MIN_PASSWORD_LENGTH}
            maxLength={MAX_PASSWORD_LENGTH}
            autocomplete="new-password"
            aria-describedby="account-new-password-hint"
            value={password}
            onInput={(e) => setPassword(e.currentTarget.value)}
          />
          <p class="hint" id="account-new-password-hint">
            At least {MIN_PASSWORD_LENGTH} characters.
          </p>
        </div>
        <div class="field">
          <label for="account-repeat-password">Repeat the new password</label>
          <input
            id="account-repeat-password"
            type="password"
            required
            maxLength={MAX_PASSWORD_LENGTH}
            autocomplete="new-password"
            value={repeated}
            onInput={(e) => setRepeated(e.currentTarget.value)}
          />
        </div>
        <ErrorMessage error={error} />
        {changed && (
          <p class="success" role="status">
            Password changed. Your other sessions have ended; this one goes on.
          </p>
        )}
        <div>
          <button type="submit" class="button primary" disabled={busy}>
            {busy ? 'Changing…' : 'Change password'}
          </button>
        </div>
      </form>
      <p class="hint">
        Your other browser sessions end, and <code>docker login</code> with the old password stops
        working. Access tokens keep working.
      </p>
    </Section>
  );
}
