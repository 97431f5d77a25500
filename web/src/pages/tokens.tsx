/**
 * Access tokens: passwords for CI and robots, narrower than the user and revocable one by one.
 * The secret is shown exactly once, right after creation, with the command that uses it.
 */
import { useState } from 'preact/hooks';
import { del, post, query, segment, useResource } from '../api';
import { useApp } from '../app-state';
import { DangerButton, useAttempt } from '../components/actions';
import { CopyButton, CopyField } from '../components/copy';
import { ConfirmDialog } from '../components/dialog';
import {
  PrivilegeEditor,
  PrivilegeList,
  emptyPrivilege,
  privilegesComplete,
} from '../components/privileges';
import {
  Badge,
  EmptyState,
  ErrorMessage,
  Loaded,
  PageHeader,
  Section,
  TableWrap,
  Time,
} from '../components/ui';
import { formatExpiry } from '../format';
import type { AccessToken, CreatedToken, Privilege } from '../types';

const EXPIRY_CHOICES: readonly { days: number | null; label: string }[] = [
  { days: 7, label: '7 days' },
  { days: 30, label: '30 days' },
  { days: 90, label: '90 days' },
  { days: 365, label: '1 year' },
  { days: null, label: 'Never' },
];

function tokenState(token: AccessToken): { label: string; tone: 'good' | 'warn' | 'bad' } {
  if (token.revokedAt !== null) return { label: 'revoked', tone: 'bad' };
  if (token.expiresAt !== null && Date.parse(token.expiresAt) <= Date.now()) {
    return { label: 'expired', tone: 'warn' };
  }
  return { label: 'active', tone: 'good' };
}

export function TokensPage() {
  const { session } = useApp();
  const [everyone, setEveryone] = useState(false);
  const list = useResource<{ items: AccessToken[] }>(`/tokens${query({ all: everyone || null })}`);
  const [created, setCreated] = useState<CreatedToken | null>(null);
  const [revoking, setRevoking] = useState<AccessToken | null>(null);

  return (
    <>
      <PageHeader title="Access tokens" />
      <p class="lead">
        A token is a password for docker, podman or CI that can be narrowed to some namespaces and
        actions, can expire, and can be revoked without touching your own password.
      </p>
      {created && (
        <NewToken
          created={created}
          onDone={() => {
            setCreated(null);
          }}
        />
      )}
      {session.accessToken !== null ? (
        <p class="notice">
          You are signed in with an access token; sign in with your password to create tokens.
        </p>
      ) : (
        !created && (
          <CreateToken
            onCreated={(token) => {
              setCreated(token);
              list.reload();
            }}
          />
        )
      )}
      <Section
        title={everyone ? 'Every user’s tokens' : 'Your tokens'}
        actions={
          session.isAdmin ? (
            <label class="check">
              <input
                type="checkbox"
                checked={everyone}
                onChange={(e) => setEveryone(e.currentTarget.checked)}
              />{' '}
              Show every user’s tokens
            </label>
          ) : undefined
        }
      >
        <Loaded resource={list} what="tokens">
          {({ items }) =>
            items.length === 0 ? (
              <EmptyState title="No access tokens yet.">
                <p>Create one above for CI: it is shown once, then only its name is kept here.</p>
              </EmptyState>
            ) : (
              <TableWrap label="Access tokens" stack>
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    {everyone && <th scope="col">User</th>}
                    <th scope="col">Scope</th>
                    <th scope="col">Created</th>
                    <th scope="col">Expires</th>
                    <th scope="col">Last used</th>
                    <th scope="col">State</th>
                    <th scope="col">
                      <span class="visually-hidden">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {items.map((token) => {
                    const state = tokenState(token);
                    return (
                      <tr key={token.id}>
                        <th scope="row" class="wrap">
                          {token.name}
                        </th>
                        {everyone && <td data-label="User">{token.user}</td>}
                        <td class="fill" data-label="Scope">
                          <PrivilegeList privileges={token.privileges} />
                        </td>
                        <td data-label="Created">
                          <Time at={token.createdAt} />
                        </td>
                        <td data-label="Expires">{formatExpiry(token.expiresAt)}</td>
                        <td data-label="Last used">
                          <Time at={token.lastUsedAt} fallback="never" />
                        </td>
                        <td data-label="State">
                          <Badge tone={state.tone}>{state.label}</Badge>
                        </td>
                        <td class="row-actions">
                          {token.revokedAt === null && (
                            <DangerButton
                              label={`Revoke token ${token.name}`}
                              onClick={() => setRevoking(token)}
                            >
                              Revoke
                            </DangerButton>
                          )}
                        </td>
                      </tr>
                    );
                  })}
                </tbody>
              </TableWrap>
            )
          }
        </Loaded>
      </Section>
      {revoking && (
        <ConfirmDialog
          title={`Revoke token ${revoking.name}?`}
          confirmLabel="Revoke"
          onClose={() => setRevoking(null)}
          onConfirm={async () => {
            await del(`/tokens/${segment(revoking.id)}`);
            list.reload();
          }}
        >
          <p>Anything still using it (a CI job, a docker login) is refused from now on.</p>
        </ConfirmDialog>
      )}
    </>
  );
}

function CreateToken(props: { onCreated: (token: CreatedToken) => void }) {
  const [name, setName] = useState('');
  const [expiry, setExpiry] = useState('90');
  const [scoped, setScoped] = useState(false);
  const [privileges, setPrivileges] = useState<Privilege[]>([emptyPrivilege()]);
  const { error, setError, attempt } = useAttempt();
  const [busy, setBusy] = useState(false);

  async function submit(event: Event): Promise<void> {
    event.preventDefault();
    if (scoped && !privilegesComplete(privileges)) {
      setError('Each pattern needs a namespace pattern and at least one action.');
      return;
    }
    setBusy(true);
    await attempt(async () => {
      const days = expiry === 'never' ? null : Number(expiry);
      const created = await post<CreatedToken>('/tokens', {
        name: name.trim(),
        ...(days !== null ? { expiresInDays: days } : {}),
        ...(scoped
          ? { privileges: privileges.map((p) => ({ ...p, pattern: p.pattern.trim() })) }
          : {}),
      });
      setName('');
      setPrivileges([emptyPrivilege()]);
      setScoped(false);
      props.onCreated(created);
    });
    setBusy(false);
  }

  return (
    <Section title="Create a token">
      <form class="stack-form" onSubmit={(e) => void submit(e)}>
        <div class="form-row">
          <div class="field grow">
            <label for="token-name">Token name</label>
            <input
              id="token-name"
              required
              maxLength={100}
              placeholder="e.g. ci-deploy"
              autocomplete="off"
              value={name}
              onInput={(e) => setName(e.currentTarget.value)}
            />
          </div>
          <div class="field">
            <label for="token-expiry">Expires after</label>
            <select
              id="token-expiry"
              value={expiry}
              onChange={(e) => setExpiry(e.currentTarget.value)}
            >
              {EXPIRY_CHOICES.map((choice) => (
                <option
                  key={choice.label}
                  value={choice.days === null ? 'never' : String(choice.days)}
                >
                  {choice.label}
                </option>
              ))}
            </select>
          </div>
        </div>
        <fieldset class="radio-group">
          <legend>Scope</legend>
          <label class="check">
            <input type="radio" name="scope" checked={!scoped} onChange={() => setScoped(false)} />{' '}
            Everything I may do
          </label>
          <label class="check">
            <input type="radio" name="scope" checked={scoped} onChange={() => setScoped(true)} />{' '}
            Only some namespaces and actions
          </label>
        </fieldset>
        {scoped && (
          <PrivilegeEditor legend="Token privileges" value={privileges} onChange={setPrivileges} />
        )}
        <p class="hint">
          A token never does more than you may do yourself, even if your roles shrink later.
        </p>
        <ErrorMessage error={error} />
        <div>
          <button type="submit" class="button primary" disabled={busy}>
            Create token
          </button>
        </div>
      </form>
    </Section>
  );
}

function NewToken(props: { created: CreatedToken; onDone: () => void }) {
  const { host, session, client } = useApp();
  const { token, secret } = props.created;
  return (
    <section class="card new-token" aria-labelledby="new-token-title">
      <h2 id="new-token-title">Token “{token.name}” created</h2>
      <p>
        <strong>Copy it now: it is shown only this once.</strong> Berth keeps only a hash.
      </p>
      <label for="new-token" class="field-label">
        New token
      </label>
      <div class="copy-field">
        <input
          id="new-token"
          class="copy-text secret"
          readOnly
          value={secret}
          onFocus={(e) => e.currentTarget.select()}
        />
        <CopyButton text={secret} label="new token" />
      </div>
      {/* Never the secret inside a command: shell history and process lists would keep it. */}
      <p>Use it as the password, with your user name. Paste it when {client} asks for it:</p>
      <CopyField
        text={`${client} login ${host} -u ${session.user}`}
        label={`${client} login command that asks for the token`}
      />
      <p>In a script, keep it in a file only that script can read, and log in with:</p>
      <CopyField
        text={`${client} login ${host} -u ${session.user} --password-stdin < token-file`}
        label={`${client} login command that reads the token from a file`}
      />
      <button type="button" class="button" onClick={props.onDone}>
        I have copied it
      </button>
    </section>
  );
}
