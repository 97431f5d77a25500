import { useState } from 'preact/hooks';
import { del, patch, post, query, segment, useResource } from '../api';
import { mayCreateNamespaces, useApp } from '../app-state';
import { DangerButton, useAttempt } from '../components/actions';
import { ConfirmDialog } from '../components/dialog';
import { QuotaBadge } from '../components/usage';
import {
  Badge,
  EmptyState,
  ErrorMessage,
  Loaded,
  NameLink,
  PageHeader,
  Section,
  TableWrap,
  Time,
} from '../components/ui';
import { formatUsage, plural } from '../format';
import { namespaceHref } from '../paths';
import { Link } from '../router';
import type { Namespace } from '../types';

export function NamespacesPage() {
  const { session } = useApp();
  const list = useResource<{ items: Namespace[] }>('/namespaces');
  const [deleting, setDeleting] = useState<Namespace | null>(null);
  const { error, attempt } = useAttempt();

  async function setPublic(ns: Namespace, value: boolean): Promise<void> {
    await attempt(async () => {
      await patch(`/namespaces/${segment(ns.name)}`, { public: value });
      list.reload();
    });
  }

  return (
    <>
      <PageHeader title="Namespaces" />
      <p class="lead">
        The first part of an image name is its namespace (<code>team/app</code> lives in{' '}
        <code>team</code>). Access is granted per namespace; a public one can be pulled without
        signing in. Open a namespace for its quota, retention and tag rules.
      </p>
      {mayCreateNamespaces(session) && <CreateNamespace onCreated={list.reload} />}
      <ErrorMessage error={error} />
      <Loaded resource={list} what="namespaces">
        {({ items }) =>
          items.length === 0 ? (
            <EmptyState title="You cannot see any namespace yet.">
              <p>An administrator can create one or give you a role in one.</p>
            </EmptyState>
          ) : (
            <TableWrap label="Namespaces" stack>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Visibility</th>
                  <th scope="col" class="num">
                    Repositories
                  </th>
                  <th scope="col">Stored</th>
                  <th scope="col">Created</th>
                  <th scope="col">Your access</th>
                  <th scope="col">
                    <span class="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {items.map((ns) => (
                  <tr key={ns.name}>
                    <th scope="row" class="fill">
                      <NameLink href={namespaceHref(ns.name)} name={ns.name} />
                    </th>
                    <td data-label="Visibility">
                      {ns.public ? <Badge tone="info">public</Badge> : <Badge>private</Badge>}
                    </td>
                    <td class="num" data-label="Repositories">
                      <Link
                        href={`/repositories${query({ namespace: ns.name })}`}
                        aria-label={`${plural(ns.repositories, 'repository', 'repositories')} in ${ns.name}`}
                      >
                        {ns.repositories}
                      </Link>
                    </td>
                    <td data-label="Stored">
                      {formatUsage(ns.usedBytes, ns.quotaBytes)}{' '}
                      <QuotaBadge used={ns.usedBytes} quota={ns.quotaBytes} />
                    </td>
                    <td data-label="Created">
                      <Time at={ns.createdAt} />
                    </td>
                    <td data-label="Your access">{ns.actions.join(', ')}</td>
                    <td class="row-actions">
                      {ns.actions.includes('admin') && (
                        <>
                          <button
                            type="button"
                            class="button subtle"
                            aria-label={`Make namespace ${ns.name} ${ns.public ? 'private' : 'public'}`}
                            onClick={() => void setPublic(ns, !ns.public)}
                          >
                            {ns.public ? 'Make private' : 'Make public'}
                          </button>
                          <DangerButton
                            label={`Delete namespace ${ns.name}`}
                            onClick={() => setDeleting(ns)}
                          >
                            Delete
                          </DangerButton>
                        </>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </TableWrap>
          )
        }
      </Loaded>
      {deleting && (
        <DeleteNamespace
          namespace={deleting}
          onClose={() => setDeleting(null)}
          onDeleted={list.reload}
        />
      )}
    </>
  );
}

function CreateNamespace(props: { onCreated: () => void }) {
  const [name, setName] = useState('');
  const [isPublic, setPublic] = useState(false);
  const { error, attempt } = useAttempt();
  const [created, setCreated] = useState<string | null>(null);

  async function submit(event: Event): Promise<void> {
    event.preventDefault();
    setCreated(null);
    await attempt(async () => {
      const ns = await post<Namespace>('/namespaces', { name: name.trim(), public: isPublic });
      setCreated(ns.name);
      setName('');
      setPublic(false);
      props.onCreated();
    });
  }

  return (
    <Section title="Create a namespace">
      <form class="inline-form" onSubmit={(e) => void submit(e)}>
        <div class="field">
          <label for="ns-name">Name</label>
          <input
            id="ns-name"
            required
            aria-describedby="ns-name-hint"
            autocomplete="off"
            spellcheck={false}
            value={name}
            onInput={(e) => setName(e.currentTarget.value)}
          />
        </div>
        <label class="check">
          <input
            type="checkbox"
            checked={isPublic}
            onChange={(e) => setPublic(e.currentTarget.checked)}
          />{' '}
          Public (anyone may pull without signing in)
        </label>
        <button type="submit" class="button primary">
          Create namespace
        </button>
      </form>
      <p class="hint" id="ns-name-hint">
        Lower-case letters and digits, optionally separated by <code>.</code> <code>_</code> or{' '}
        <code>-</code>.
      </p>
      <ErrorMessage error={error} />
      {created !== null && (
        <p class="success" role="status">
          Namespace {created} created.
        </p>
      )}
    </Section>
  );
}

function DeleteNamespace(props: {
  namespace: Namespace;
  onClose: () => void;
  onDeleted: () => void;
}) {
  const ns = props.namespace;
  const [confirmed, setConfirmed] = useState(false);
  const hasRepositories = ns.repositories > 0;
  return (
    <ConfirmDialog
      title={`Delete namespace ${ns.name}?`}
      confirmLabel="Delete"
      ready={!hasRepositories || confirmed}
      onClose={props.onClose}
      onConfirm={async () => {
        await del(`/namespaces/${segment(ns.name)}${query({ force: hasRepositories || null })}`);
        props.onDeleted();
      }}
    >
      {hasRepositories ? (
        <>
          <p>
            It holds {plural(ns.repositories, 'repository', 'repositories')}. Deleting the namespace
            deletes them with every tag and manifest. This cannot be undone.
          </p>
          <label class="check">
            <input
              type="checkbox"
              checked={confirmed}
              onChange={(e) => setConfirmed(e.currentTarget.checked)}
            />{' '}
            Also delete its {plural(ns.repositories, 'repository', 'repositories')}
          </label>
        </>
      ) : (
        <p>It is empty. Pushes into it will fail until it is created again.</p>
      )}
    </ConfirmDialog>
  );
}
