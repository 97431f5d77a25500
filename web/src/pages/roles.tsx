/**
 * Roles: named sets of privileges. Everyone may read them (to understand what a binding grants);
 * administrators create, edit and delete custom roles and see who holds each one. Built-in roles
 * are fixed by the registry.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { del, post, put, segment, useResource } from '../api';
import { useApp } from '../app-state';
import { DangerButton, useAttempt } from '../components/actions';
import { ConfirmDialog } from '../components/dialog';
import {
  PrivilegeEditor,
  PrivilegeList,
  emptyPrivilege,
  privilegesComplete,
} from '../components/privileges';
import { Badge, ErrorMessage, Loaded, PageHeader, Section, TableWrap } from '../components/ui';
import { Link } from '../router';
import type { Privilege, Role, User } from '../types';

const INCOMPLETE_PRIVILEGES = 'Each pattern needs a namespace pattern and at least one action.';

/** Trimmed patterns, as the registry stores them. */
function cleanPrivileges(privileges: readonly Privilege[]): Privilege[] {
  return privileges.map((p) => ({ pattern: p.pattern.trim(), actions: [...p.actions] }));
}

export function RolesPage() {
  const { session } = useApp();
  const roles = useResource<{ items: Role[] }>('/roles');
  // Who holds which role is only for administrators (the user list is theirs).
  const users = useResource<{ items: User[] }>(session.isAdmin ? '/users' : null);
  const [deleting, setDeleting] = useState<Role | null>(null);
  const [editing, setEditing] = useState<Role | null>(null);
  const [saved, setSaved] = useState<string | null>(null);

  function holders(role: string): string[] {
    return (users.data?.items ?? []).flatMap((u) =>
      u.roles
        .filter((b) => b.role === role)
        .map((b) =>
          b.namespace === null || b.namespace === '' ? u.name : `${u.name} (${b.namespace})`,
        ),
    );
  }

  return (
    <>
      <PageHeader title="Roles" />
      <p class="lead">
        A role grants actions on namespaces matching a pattern: <code>*</code> is every namespace,{' '}
        <code>team-*</code> every namespace starting with <code>team-</code>. A user holds a role
        everywhere or in one namespace; manage that on the{' '}
        {session.isAdmin ? <Link href="/users">Users</Link> : 'Users'} page.
      </p>
      {session.isAdmin && (
        <p class="lead">
          Built-in roles come with Berth and cannot be changed, so they mean the same on every
          registry; to grant something else, create a custom role.
        </p>
      )}
      {saved !== null && (
        <p class="success" role="status">
          Role {saved} saved.
        </p>
      )}
      <Loaded resource={roles} what="roles">
        {({ items }) => (
          <TableWrap label="Roles" stack>
            <thead>
              <tr>
                <th scope="col">Role</th>
                <th scope="col">Privileges</th>
                {session.isAdmin && <th scope="col">Held by</th>}
                {session.isAdmin && (
                  <th scope="col">
                    <span class="visually-hidden">Actions</span>
                  </th>
                )}
              </tr>
            </thead>
            <tbody>
              {items.map((role) => {
                const who = holders(role.name);
                return (
                  <tr key={role.name}>
                    <th scope="row" class="wrap">
                      {role.name} {role.builtin && <Badge>built-in</Badge>}
                      {role.description !== '' && <div class="small muted">{role.description}</div>}
                    </th>
                    <td data-label="Privileges">
                      <PrivilegeList privileges={role.privileges} />
                    </td>
                    {session.isAdmin && (
                      <td class="break" data-label="Held by">
                        {who.length > 0 ? who.join(', ') : <span class="muted">nobody</span>}
                      </td>
                    )}
                    {session.isAdmin && (
                      <td class="row-actions">
                        {role.builtin ? (
                          <span class="small muted">Read-only: built into Berth</span>
                        ) : (
                          <>
                            <button
                              type="button"
                              class="button subtle"
                              aria-label={`Edit role ${role.name}`}
                              aria-expanded={editing?.name === role.name}
                              onClick={() => {
                                setSaved(null);
                                setEditing(editing?.name === role.name ? null : role);
                              }}
                            >
                              Edit
                            </button>
                            <DangerButton
                              label={`Delete role ${role.name}`}
                              onClick={() => setDeleting(role)}
                            >
                              Delete
                            </DangerButton>
                          </>
                        )}
                      </td>
                    )}
                  </tr>
                );
              })}
            </tbody>
          </TableWrap>
        )}
      </Loaded>
      {editing && (
        <EditRole
          key={editing.name}
          role={editing}
          onSaved={(role) => {
            setSaved(role.name);
            roles.reload();
          }}
          onClose={() => setEditing(null)}
        />
      )}
      {session.isAdmin && <CreateRole onCreated={roles.reload} />}
      {deleting && (
        <ConfirmDialog
          title={`Delete role ${deleting.name}?`}
          confirmLabel="Delete"
          onClose={() => setDeleting(null)}
          onConfirm={async () => {
            await del(`/roles/${segment(deleting.name)}`);
            if (editing?.name === deleting.name) setEditing(null);
            setSaved(null);
            roles.reload();
            users.reload();
          }}
        >
          <p>Every binding of this role goes with it: its holders lose what it granted.</p>
        </ConfirmDialog>
      )}
    </>
  );
}

function CreateRole(props: { onCreated: () => void }) {
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [privileges, setPrivileges] = useState<Privilege[]>([emptyPrivilege()]);
  const { error, setError, attempt } = useAttempt();
  const [created, setCreated] = useState<string | null>(null);

  async function submit(event: Event): Promise<void> {
    event.preventDefault();
    setCreated(null);
    if (!privilegesComplete(privileges)) {
      setError(INCOMPLETE_PRIVILEGES);
      return;
    }
    await attempt(async () => {
      const role = await post<Role>('/roles', {
        name: name.trim(),
        ...(description.trim() !== '' ? { description: description.trim() } : {}),
        privileges: cleanPrivileges(privileges),
      });
      setCreated(role.name);
      setName('');
      setDescription('');
      setPrivileges([emptyPrivilege()]);
      props.onCreated();
    });
  }

  return (
    <Section title="Create a custom role">
      <form class="stack-form" onSubmit={(e) => void submit(e)}>
        <div class="form-row">
          <div class="field">
            <label for="role-name">Role name</label>
            <input
              id="role-name"
              required
              maxLength={64}
              autocomplete="off"
              spellcheck={false}
              value={name}
              onInput={(e) => setName(e.currentTarget.value)}
            />
          </div>
          <div class="field grow">
            <label for="role-description">Description</label>
            <input
              id="role-description"
              maxLength={1000}
              value={description}
              onInput={(e) => setDescription(e.currentTarget.value)}
            />
          </div>
        </div>
        <PrivilegeEditor legend="Privileges" value={privileges} onChange={setPrivileges} />
        <ErrorMessage error={error} />
        {created !== null && (
          <p class="success" role="status">
            Role {created} created.
          </p>
        )}
        <div>
          <button type="submit" class="button primary">
            Create role
          </button>
        </div>
      </form>
    </Section>
  );
}

/**
 * Replaces a custom role's description and privileges (PUT /roles/{name}); its name stays. The
 * keyboard focus starts in the form and goes back to the "Edit" button when the form closes.
 */
function EditRole(props: { role: Role; onSaved: (role: Role) => void; onClose: () => void }) {
  const [description, setDescription] = useState(props.role.description);
  const [privileges, setPrivileges] = useState<Privilege[]>(() =>
    cleanPrivileges(props.role.privileges),
  );
  const [busy, setBusy] = useState(false);
  const { error, setError, attempt } = useAttempt();
  const firstField = useRef<HTMLInputElement>(null);
  const opener = useRef<Element | null>(null);

  useEffect(() => {
    opener.current = document.activeElement;
    firstField.current?.focus();
  }, []);

  function close(): void {
    props.onClose();
    if (opener.current instanceof HTMLElement && opener.current.isConnected) {
      opener.current.focus();
    }
  }

  async function save(event: Event): Promise<void> {
    event.preventDefault();
    if (!privilegesComplete(privileges)) {
      setError(INCOMPLETE_PRIVILEGES);
      return;
    }
    setBusy(true);
    const saved = await attempt(async () => {
      const role = await put<Role>(`/roles/${segment(props.role.name)}`, {
        description: description.trim(),
        privileges: cleanPrivileges(privileges),
      });
      props.onSaved(role);
      close();
    });
    if (!saved) setBusy(false);
  }

  return (
    <Section title={`Edit role ${props.role.name}`} id="edit-role">
      <form class="stack-form" onSubmit={(e) => void save(e)}>
        <div class="field grow">
          <label for="edit-role-description">Description</label>
          <input
            id="edit-role-description"
            ref={firstField}
            maxLength={1000}
            value={description}
            onInput={(e) => setDescription(e.currentTarget.value)}
          />
        </div>
        <PrivilegeEditor legend="Privileges" value={privileges} onChange={setPrivileges} />
        <p class="hint">
          The name stays. Everyone holding this role gets the new privileges at their next request.
        </p>
        <ErrorMessage error={error} />
        <div class="form-buttons">
          <button type="submit" class="button primary" disabled={busy}>
            {busy ? 'Saving…' : 'Save changes'}
          </button>
          <button type="button" class="button" onClick={close}>
            Cancel
          </button>
        </div>
      </form>
    </Section>
  );
}
