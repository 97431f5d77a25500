/**
 * Roles: named sets of privileges. Everyone may read them (to understand what a binding grants);
 * administrators create and delete custom roles and see who holds each one.
 */
import { useState } from 'preact/hooks';
import { del, messageOf, post, segment, useResource } from '../api';
import { useApp } from '../app-state';
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

export function RolesPage() {
  const { session } = useApp();
  const roles = useResource<{ items: Role[] }>('/roles');
  // Who holds which role is only for administrators (the user list is theirs).
  const users = useResource<{ items: User[] }>(session.isAdmin ? '/users' : null);
  const [deleting, setDeleting] = useState<Role | null>(null);

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
        {session.isAdmin ? <Link href="/admin/users">Users</Link> : 'Users'} page.
      </p>
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
                      <td class="wrap" data-label="Held by">
                        {who.length > 0 ? who.join(', ') : <span class="muted">nobody</span>}
                      </td>
                    )}
                    {session.isAdmin && (
                      <td class="row-actions">
                        {!role.builtin && (
                          <button
                            type="button"
                            class="button subtle danger-text"
                            aria-label={`Delete role ${role.name}`}
                            onClick={() => setDeleting(role)}
                          >
                            Delete
                          </button>
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
      {session.isAdmin && <CreateRole onCreated={roles.reload} />}
      {deleting && (
        <ConfirmDialog
          title={`Delete role ${deleting.name}?`}
          confirmLabel="Delete"
          onClose={() => setDeleting(null)}
          onConfirm={async () => {
            await del(`/roles/${segment(deleting.name)}`);
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
  const [error, setError] = useState<string | null>(null);
  const [created, setCreated] = useState<string | null>(null);

  async function submit(event: Event): Promise<void> {
    event.preventDefault();
    setCreated(null);
    if (!privilegesComplete(privileges)) {
      setError('Each pattern needs a namespace pattern and at least one action.');
      return;
    }
    setError(null);
    try {
      const role = await post<Role>('/roles', {
        name: name.trim(),
        ...(description.trim() !== '' ? { description: description.trim() } : {}),
        privileges: privileges.map((p) => ({ ...p, pattern: p.pattern.trim() })),
      });
      setCreated(role.name);
      setName('');
      setDescription('');
      setPrivileges([emptyPrivilege()]);
      props.onCreated();
    } catch (e) {
      setError(messageOf(e));
    }
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
