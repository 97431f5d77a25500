/**
 * Users and their role bindings (administrators only): create, disable or enable, set a
 * password, bind a role everywhere or in one namespace, unbind, delete.
 */
import { useState } from 'preact/hooks';
import { del, patch, post, put, query, segment, useResource } from '../api';
import { useApp } from '../app-state';
import { DangerButton, useAttempt } from '../components/actions';
import { ConfirmDialog } from '../components/dialog';
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
import { bindingText } from '../format';
import { MIN_PASSWORD_LENGTH } from '../passwords';
import type { Namespace, Role, RoleBinding, User } from '../types';

export function UsersPage() {
  const { session } = useApp();
  const users = useResource<{ items: User[] }>('/users');
  const roles = useResource<{ items: Role[] }>('/roles');
  const namespaces = useResource<{ items: Namespace[] }>('/namespaces');
  const [deleting, setDeleting] = useState<User | null>(null);
  const [managing, setManaging] = useState<string | null>(null);
  const { error, attempt } = useAttempt();

  const roleNames = roles.data?.items.map((r) => r.name) ?? [];
  const namespaceNames = namespaces.data?.items.map((n) => n.name) ?? [];

  async function run(action: () => Promise<unknown>): Promise<void> {
    await attempt(async () => {
      await action();
      users.reload();
    });
  }

  return (
    <>
      <PageHeader title="Users" />
      <CreateUser roles={roleNames} namespaces={namespaceNames} onCreated={users.reload} />
      <Section title="All users">
        <ErrorMessage error={error} />
        <Loaded resource={users} what="users">
          {({ items }) =>
            items.length === 0 ? (
              <EmptyState title="No users." />
            ) : (
              <TableWrap label="Users" stack>
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Roles</th>
                    <th scope="col">State</th>
                    <th scope="col">Created</th>
                    <th scope="col">
                      <span class="visually-hidden">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {items.map((user) => {
                    const self = user.name === session.user;
                    return (
                      <tr key={user.name}>
                        <th scope="row" class="wrap">
                          {user.name}
                          {self && <span class="muted"> (you)</span>}
                        </th>
                        <td class="fill" data-label="Roles">
                          <Bindings
                            user={user}
                            onRemove={(b) =>
                              void run(() =>
                                del(
                                  `/users/${segment(user.name)}/roles/${segment(b.role)}${query({ namespace: b.namespace })}`,
                                ),
                              )
                            }
                          />
                        </td>
                        <td data-label="State">
                          {user.disabled ? (
                            <Badge tone="bad">disabled</Badge>
                          ) : (
                            <Badge tone="good">active</Badge>
                          )}
                        </td>
                        <td data-label="Created">
                          <Time at={user.createdAt} />
                        </td>
                        <td class="row-actions">
                          <button
                            type="button"
                            class="button subtle"
                            aria-expanded={managing === user.name}
                            aria-label={`Manage user ${user.name}`}
                            onClick={() => setManaging(managing === user.name ? null : user.name)}
                          >
                            Manage
                          </button>
                          {!self && (
                            <>
                              <button
                                type="button"
                                class="button subtle"
                                aria-label={`${user.disabled ? 'Enable' : 'Disable'} user ${user.name}`}
                                onClick={() =>
                                  void run(() =>
                                    patch(`/users/${segment(user.name)}`, {
                                      disabled: !user.disabled,
                                    }),
                                  )
                                }
                              >
                                {user.disabled ? 'Enable' : 'Disable'}
                              </button>
                              <DangerButton
                                label={`Delete user ${user.name}`}
                                onClick={() => setDeleting(user)}
                              >
                                Delete
                              </DangerButton>
                            </>
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
      {managing !== null && (
        <ManageUser
          key={managing}
          name={managing}
          self={managing === session.user}
          roles={roleNames}
          namespaces={namespaceNames}
          onChanged={users.reload}
          onClose={() => setManaging(null)}
        />
      )}
      {deleting && (
        <ConfirmDialog
          title={`Delete user ${deleting.name}?`}
          confirmLabel="Delete"
          onClose={() => setDeleting(null)}
          onConfirm={async () => {
            await del(`/users/${segment(deleting.name)}`);
            if (managing === deleting.name) setManaging(null);
            users.reload();
          }}
        >
          <p>
            Their role bindings and access tokens go with them, and their sessions end. Images they
            pushed stay.
          </p>
        </ConfirmDialog>
      )}
    </>
  );
}

function Bindings(props: { user: User; onRemove: (binding: RoleBinding) => void }) {
  if (props.user.roles.length === 0) return <span class="muted">no roles</span>;
  return (
    <ul class="chips">
      {props.user.roles.map((b) => (
        <li class="chip" key={`${b.role}@${b.namespace ?? ''}`}>
          <span class="truncate" title={bindingText(b)}>
            {bindingText(b)}
          </span>
          <button
            type="button"
            class="chip-remove"
            aria-label={`Remove ${bindingText(b)} from ${props.user.name}`}
            onClick={() => props.onRemove(b)}
          >
            ×
          </button>
        </li>
      ))}
    </ul>
  );
}

function RoleFields(props: {
  idPrefix: string;
  roles: string[];
  namespaces: string[];
  role: string;
  namespace: string;
  allowNone?: boolean;
  onRole: (role: string) => void;
  onNamespace: (namespace: string) => void;
}) {
  return (
    <>
      <div class="field">
        <label for={`${props.idPrefix}-role`}>Role</label>
        <select
          id={`${props.idPrefix}-role`}
          value={props.role}
          onChange={(e) => props.onRole(e.currentTarget.value)}
        >
          {props.allowNone === true && <option value="">No role yet</option>}
          {props.roles.map((r) => (
            <option key={r} value={r}>
              {r}
            </option>
          ))}
        </select>
      </div>
      <div class="field">
        <label for={`${props.idPrefix}-namespace`}>Where</label>
        <select
          id={`${props.idPrefix}-namespace`}
          value={props.namespace}
          disabled={props.role === ''}
          onChange={(e) => props.onNamespace(e.currentTarget.value)}
        >
          <option value="">Every namespace</option>
          {props.namespaces.map((n) => (
            <option key={n} value={n}>
              Namespace {n}
            </option>
          ))}
        </select>
      </div>
    </>
  );
}

function CreateUser(props: { roles: string[]; namespaces: string[]; onCreated: () => void }) {
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [role, setRole] = useState('developer');
  const [namespace, setNamespace] = useState('');
  const { error, attempt } = useAttempt();
  const [created, setCreated] = useState<string | null>(null);

  async function submit(event: Event): Promise<void> {
    event.preventDefault();
    setCreated(null);
    await attempt(async () => {
      const user = await post<User>('/users', {
        name: name.trim(),
        password,
        ...(role !== ''
          ? { roles: [{ role, namespace: namespace === '' ? null : namespace }] }
          : {}),
      });
      setCreated(user.name);
      setName('');
      setPassword('');
      props.onCreated();
    });
  }

  return (
    <Section title="Create a user">
      <form class="inline-form" onSubmit={(e) => void submit(e)}>
        <div class="field">
          <label for="new-user-name">User name</label>
          <input
            id="new-user-name"
            required
            maxLength={64}
            autocomplete="off"
            spellcheck={false}
            value={name}
            onInput={(e) => setName(e.currentTarget.value)}
          />
        </div>
        <div class="field">
          <label for="new-user-password">Initial password</label>
          <input
            id="new-user-password"
            type="password"
            required
            minLength={MIN_PASSWORD_LENGTH}
            autocomplete="new-password"
            aria-describedby="new-user-password-hint"
            value={password}
            onInput={(e) => setPassword(e.currentTarget.value)}
          />
        </div>
        <RoleFields
          idPrefix="new-user"
          roles={props.roles.length > 0 ? props.roles : ['developer']}
          namespaces={props.namespaces}
          role={role}
          namespace={namespace}
          allowNone
          onRole={setRole}
          onNamespace={setNamespace}
        />
        <button type="submit" class="button primary">
          Create user
        </button>
      </form>
      <p class="hint" id="new-user-password-hint">
        At least {MIN_PASSWORD_LENGTH} characters. The user can change it later.
      </p>
      <ErrorMessage error={error} />
      {created !== null && (
        <p class="success" role="status">
          User {created} created.
        </p>
      )}
    </Section>
  );
}

function ManageUser(props: {
  name: string;
  /** Changing your own password needs the current one. */
  self: boolean;
  roles: string[];
  namespaces: string[];
  onChanged: () => void;
  onClose: () => void;
}) {
  const [role, setRole] = useState(props.roles[0] ?? 'viewer');
  const [namespace, setNamespace] = useState('');
  const [password, setPassword] = useState('');
  const [currentPassword, setCurrentPassword] = useState('');
  const [message, setMessage] = useState<string | null>(null);
  const { error, attempt } = useAttempt();
  const path = `/users/${segment(props.name)}`;

  async function run(action: () => Promise<unknown>, done: string): Promise<void> {
    setMessage(null);
    await attempt(async () => {
      await action();
      setMessage(done);
      props.onChanged();
    });
  }

  return (
    <Section
      title={`Manage ${props.name}`}
      id="manage-user"
      actions={
        <button type="button" class="button subtle" onClick={props.onClose}>
          Close
        </button>
      }
    >
      <form
        class="inline-form"
        aria-label={`Add a role to ${props.name}`}
        onSubmit={(e) => {
          e.preventDefault();
          void run(
            () => post(`${path}/roles`, { role, namespace: namespace === '' ? null : namespace }),
            `Role ${role} added.`,
          );
        }}
      >
        <RoleFields
          idPrefix="bind"
          roles={props.roles}
          namespaces={props.namespaces}
          role={role}
          namespace={namespace}
          onRole={setRole}
          onNamespace={setNamespace}
        />
        <button type="submit" class="button">
          Add role
        </button>
      </form>
      <form
        class="inline-form"
        aria-label={`Set a new password for ${props.name}`}
        onSubmit={(e) => {
          e.preventDefault();
          void run(async () => {
            await put(`${path}/password`, {
              password,
              ...(props.self ? { currentPassword } : {}),
            });
            setPassword('');
            setCurrentPassword('');
          }, 'Password changed; other sessions of this user have ended.');
        }}
      >
        {props.self && (
          <div class="field">
            <label for="current-password">Your current password</label>
            <input
              id="current-password"
              type="password"
              required
              autocomplete="current-password"
              value={currentPassword}
              onInput={(e) => setCurrentPassword(e.currentTarget.value)}
            />
          </div>
        )}
        <div class="field">
          <label for="set-password">New password</label>
          <input
            id="set-password"
            type="password"
            required
            minLength={MIN_PASSWORD_LENGTH}
            autocomplete="new-password"
            value={password}
            onInput={(e) => setPassword(e.currentTarget.value)}
          />
        </div>
        <button type="submit" class="button">
          Set password
        </button>
      </form>
      <ErrorMessage error={error} />
      {message !== null && (
        <p class="success" role="status">
          {message}
        </p>
      )}
    </Section>
  );
}
