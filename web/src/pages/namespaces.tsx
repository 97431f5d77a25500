import { useState } from 'preact/hooks';
import { del, patch, post, query, segment, useResource } from '../api';
import { mayCreateNamespaces, useApp } from '../app-state';
import { DangerButton, useAttempt } from '../components/actions';
import { ConfirmDialog } from '../components/dialog';
import { KindBadge, MembersInputs, ProxyInputs, UpstreamBadge } from '../components/federation';
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
import {
  groupBody,
  groupSummary,
  memberChoices,
  newProxyBody,
  proxyFields,
  proxySummary,
  pushChoices,
} from '../federation';
import { formatUsage, plural } from '../format';
import { namespaceHref } from '../paths';
import { Link } from '../router';
import type { Namespace, NamespaceKind } from '../types';

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
        signing in. A proxy namespace caches the images of another registry as they are pulled; a
        group pulls through several namespaces as one. Open a namespace for its quota, retention and
        tag rules.
      </p>
      {mayCreateNamespaces(session) && (
        <CreateNamespace
          namespaces={list.data?.items ?? []}
          registryAdmin={session.isAdmin}
          onCreated={list.reload}
        />
      )}
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
                  <th scope="col">Kind</th>
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
                      <FederationSummary namespace={ns} />
                    </th>
                    <td data-label="Kind">
                      <KindBadge kind={ns.kind} /> <UpstreamBadge proxy={ns.proxy} />
                    </td>
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

/** A proxy's upstream or a group's members, under the name: what the namespace pulls from. */
function FederationSummary(props: { namespace: Namespace }) {
  const { proxy, group } = props.namespace;
  const text = proxy !== null ? proxySummary(proxy) : group !== null ? groupSummary(group) : null;
  if (text === null) return null;
  return <span class="small muted summary">{text}</span>;
}

const KIND_CHOICES: readonly [NamespaceKind, string][] = [
  ['hosted', 'Hosted: images are pushed here'],
  ['proxy', 'Proxy: a pull-through cache of another registry'],
  ['group', 'Group: pulls through several namespaces in order'],
];

function CreateNamespace(props: {
  namespaces: Namespace[];
  /** Only the registry administrator may aim a proxy somewhere (the API refuses anyone else). */
  registryAdmin: boolean;
  onCreated: () => void;
}) {
  const [name, setName] = useState('');
  const [isPublic, setPublic] = useState(false);
  const [kind, setKind] = useState<NamespaceKind>('hosted');
  const [proxy, setProxy] = useState(() => proxyFields(null));
  const [members, setMembers] = useState<string[]>([]);
  const [pushTo, setPushTo] = useState('');
  const { error, setError, attempt } = useAttempt();
  const [created, setCreated] = useState<string | null>(null);

  async function submit(event: Event): Promise<void> {
    event.preventDefault();
    setCreated(null);
    let settings = {};
    if (kind === 'proxy') {
      const body = newProxyBody(proxy);
      if ('error' in body) return setError(body.error);
      settings = body;
    } else if (kind === 'group') {
      const body = groupBody(members, pushTo);
      if ('error' in body) return setError(body.error);
      settings = body;
    }
    await attempt(async () => {
      const ns = await post<Namespace>('/namespaces', {
        name: name.trim(),
        public: isPublic,
        ...settings,
      });
      setCreated(ns.name);
      setName('');
      setPublic(false);
      setKind('hosted');
      setProxy(proxyFields(null));
      setMembers([]);
      setPushTo('');
      props.onCreated();
    });
  }

  return (
    <Section title="Create a namespace">
      <form class="stack-form" onSubmit={(e) => void submit(e)}>
        <div class="inline-form">
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
        </div>
        <p class="hint" id="ns-name-hint">
          Lower-case letters and digits, optionally separated by <code>.</code> <code>_</code> or{' '}
          <code>-</code>.
        </p>
        <fieldset>
          <legend>Kind</legend>
          <div class="radio-group">
            {KIND_CHOICES.filter(([choice]) => choice !== 'proxy' || props.registryAdmin).map(
              ([choice, label]) => (
                <label class="check" key={choice}>
                  <input
                    type="radio"
                    name="ns-kind"
                    checked={kind === choice}
                    onChange={() => setKind(choice)}
                  />{' '}
                  {label}
                </label>
              ),
            )}
          </div>
        </fieldset>
        {kind === 'proxy' && (
          <fieldset class="stack-form">
            <legend>Upstream</legend>
            <ProxyInputs idPrefix="ns-proxy" fields={proxy} stored={null} onChange={setProxy} />
            <p class="hint">
              Pushes into a proxy namespace are refused. Pulling <code>NAME/library/alpine</code>{' '}
              fetches <code>library/alpine</code> from the upstream once and serves it from here
              after that.
            </p>
          </fieldset>
        )}
        {kind === 'group' && (
          <MembersInputs
            idPrefix="ns-group"
            members={members}
            choices={memberChoices(props.namespaces, members, null)}
            pushChoices={pushChoices(props.namespaces, members)}
            pushTo={pushTo}
            onMembers={(chosen) => {
              // "Add at least one member" no longer holds once one is added.
              setError(null);
              setMembers(chosen);
            }}
            onPushTo={setPushTo}
          />
        )}
        <div class="form-buttons">
          <button type="submit" class="button primary">
            Create namespace
          </button>
        </div>
      </form>
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
