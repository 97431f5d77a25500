/**
 * One namespace: what it stores against its quota, and its rules (immutable tags, which children
 * a pushed index must hold, the quota, retention). Its administrators edit the rules here and
 * preview what retention would remove; everyone else who may pull reads them. A proxy namespace
 * also shows its upstream, what it has cached and how the upstream answered lately; a group its
 * members in pull order. Their administrators change those settings here too.
 */
import { useState } from 'preact/hooks';
import { patch, post, query, segment, useResource } from '../api';
import { useApp } from '../app-state';
import { useAttempt } from '../components/actions';
import {
  KindBadge,
  MembersInputs,
  ProxyInputs,
  UpstreamHealthFacts,
} from '../components/federation';
import { QuotaBadge, UsageMeter } from '../components/usage';
import {
  Badge,
  Bytes,
  EmptyState,
  ErrorMessage,
  Loaded,
  NameLink,
  PageHeader,
  Section,
  TableWrap,
} from '../components/ui';
import { groupBody, memberChoices, proxyFields, proxyPatch, pushChoices } from '../federation';
import {
  formatBytes,
  formatCount,
  formatIndexChildren,
  plural,
  retentionRules,
  shortDigest,
} from '../format';
import { manifestHref, namespaceHref, repositoryHref } from '../paths';
import { Link } from '../router';
import {
  indexChildrenChoice,
  indexChildrenValue,
  parsePatterns,
  parseSize,
  retentionFields,
  retentionFromFields,
  sizeText,
  type IndexChildrenChoice,
  type RetentionFields,
} from '../rules';
import type { GroupSettings, Namespace, ProxySettings, RetentionReport } from '../types';

export function NamespacePage(props: { name: string }) {
  const namespace = useResource<Namespace>(`/namespaces/${segment(props.name)}`);
  return (
    <>
      <PageHeader title={props.name} eyebrow={<Link href="/namespaces">Namespaces</Link>} />
      <Loaded resource={namespace} what="the namespace">
        {(ns) =>
          // A group stores nothing of its own: usage and rules are its members'.
          ns.group !== null ? (
            <Group namespace={ns} group={ns.group} onSaved={namespace.reload} />
          ) : (
            <>
              {ns.proxy !== null && (
                <Proxy namespace={ns} proxy={ns.proxy} onSaved={namespace.reload} />
              )}
              <Usage namespace={ns} />
              {ns.actions.includes('admin') ? (
                <>
                  <RulesEditor namespace={ns} onSaved={namespace.reload} />
                  <RetentionPreview namespace={ns} />
                </>
              ) : (
                <Rules namespace={ns} />
              )}
            </>
          )
        }
      </Loaded>
    </>
  );
}

/** Where a proxy pulls from, what it has cached, how its upstream answered; its settings form. */
function Proxy(props: { namespace: Namespace; proxy: ProxySettings; onSaved: () => void }) {
  const { namespace: ns, proxy } = props;
  const { session } = useApp();
  return (
    <>
      <Section title="Proxy">
        <p class="notice">
          A pull-through cache of <span class="break">{proxy.url}</span>: an image pulled from here
          is fetched from the upstream once and then served from this registry. Pushes into this
          namespace are refused.
        </p>
        <dl class="facts">
          <dt>Kind</dt>
          <dd>
            <KindBadge kind={ns.kind} />
          </dd>
          <dt>Upstream</dt>
          <dd class="mono">{proxy.url}</dd>
          <dt>Credentials</dt>
          <dd>{proxy.username ?? 'anonymous'}</dd>
          <dt>Cache TTL</dt>
          <dd>
            {proxy.ttl}{' '}
            <span class="muted">(then a pulled tag is checked against the upstream)</span>
          </dd>
          <dt>Cached</dt>
          <dd>
            <Link href={`/repositories${query({ namespace: ns.name })}`}>
              {plural(ns.repositories, 'repository', 'repositories')}
            </Link>
            , <Bytes bytes={ns.usedBytes} />
          </dd>
        </dl>
      </Section>
      <Section title="Upstream health">
        <UpstreamHealthFacts proxy={proxy} />
      </Section>
      {/* Where a proxy points, the registry administrator decides: the API refuses others. */}
      {session.isAdmin ? (
        <ProxyEditor namespace={ns} proxy={proxy} onSaved={props.onSaved} />
      ) : (
        ns.actions.includes('admin') && (
          <p class="hint">
            Only the registry administrator can change the upstream, its credentials or the TTL.
          </p>
        )
      )}
    </>
  );
}

function ProxyEditor(props: { namespace: Namespace; proxy: ProxySettings; onSaved: () => void }) {
  const [fields, setFields] = useState(() => proxyFields(props.proxy));
  const [busy, setBusy] = useState(false);
  const [saved, setSaved] = useState(false);
  const { error, setError, attempt } = useAttempt();

  async function save(event: Event): Promise<void> {
    event.preventDefault();
    setSaved(false);
    const patched = proxyPatch(props.proxy, fields);
    if ('error' in patched) {
      setError(patched.error);
      return;
    }
    if (patched.changes === null) {
      setError('Nothing changed.');
      return;
    }
    setBusy(true);
    await attempt(async () => {
      const updated = await patch<Namespace>(`/namespaces/${segment(props.namespace.name)}`, {
        proxy: patched.changes,
      });
      setFields(proxyFields(updated.proxy));
      setSaved(true);
      props.onSaved();
    });
    setBusy(false);
  }

  return (
    <Section title="Proxy settings">
      <form class="stack-form" onSubmit={(e) => void save(e)}>
        <ProxyInputs idPrefix="proxy" fields={fields} stored={props.proxy} onChange={setFields} />
        <ErrorMessage error={error} />
        {saved && (
          <p class="success" role="status">
            Proxy settings saved.
          </p>
        )}
        <div class="form-buttons">
          <button type="submit" class="button primary" disabled={busy}>
            {busy ? 'Saving…' : 'Save proxy settings'}
          </button>
        </div>
      </form>
    </Section>
  );
}

/** A group's members in pull order and its push member; its settings form for administrators. */
function Group(props: { namespace: Namespace; group: GroupSettings; onSaved: () => void }) {
  const { namespace: ns, group } = props;
  return (
    <>
      <Section title="Group">
        <p class="notice">
          A pull from this namespace tries its members in order and answers from the first that has
          the image.{' '}
          {group.pushTo === null
            ? 'Pushes into it are refused.'
            : `Pushes into it are stored in ${group.pushTo}.`}{' '}
          Quota, retention and tag rules are those of the members.
        </p>
        <dl class="facts">
          <dt>Kind</dt>
          <dd>
            <KindBadge kind={ns.kind} />
          </dd>
          <dt>Members</dt>
          <dd>
            <ol class="plain-list" aria-label="Members in pull order">
              {group.members.map((member, i) => (
                <li key={member}>
                  {i + 1}. <NameLink href={namespaceHref(member)} name={member} />
                </li>
              ))}
            </ol>
          </dd>
          <dt>Push member</dt>
          <dd>{group.pushTo ?? 'none: pushes are refused'}</dd>
        </dl>
      </Section>
      {ns.actions.includes('admin') && (
        <GroupEditor namespace={ns} group={group} onSaved={props.onSaved} />
      )}
    </>
  );
}

function GroupEditor(props: { namespace: Namespace; group: GroupSettings; onSaved: () => void }) {
  const all = useResource<{ items: Namespace[] }>('/namespaces');
  const namespaces = all.data?.items ?? [];
  const [members, setMembers] = useState(props.group.members);
  const [pushTo, setPushTo] = useState(props.group.pushTo ?? '');
  const [busy, setBusy] = useState(false);
  const [saved, setSaved] = useState(false);
  const { error, setError, attempt } = useAttempt();

  async function save(event: Event): Promise<void> {
    event.preventDefault();
    setSaved(false);
    const body = groupBody(members, pushTo);
    if ('error' in body) {
      setError(body.error);
      return;
    }
    setBusy(true);
    await attempt(async () => {
      const updated = await patch<Namespace>(`/namespaces/${segment(props.namespace.name)}`, body);
      setMembers(updated.group?.members ?? []);
      setPushTo(updated.group?.pushTo ?? '');
      setSaved(true);
      props.onSaved();
    });
    setBusy(false);
  }

  return (
    <Section title="Group settings">
      <form class="stack-form" onSubmit={(e) => void save(e)}>
        <MembersInputs
          idPrefix="group"
          members={members}
          choices={memberChoices(namespaces, members, props.namespace.name)}
          pushChoices={pushChoices(namespaces, members)}
          pushTo={pushTo}
          onMembers={setMembers}
          onPushTo={setPushTo}
        />
        <ErrorMessage error={all.error ?? error} />
        {saved && (
          <p class="success" role="status">
            Group settings saved.
          </p>
        )}
        <div class="form-buttons">
          <button type="submit" class="button primary" disabled={busy}>
            {busy ? 'Saving…' : 'Save group settings'}
          </button>
        </div>
      </form>
    </Section>
  );
}

function Usage(props: { namespace: Namespace }) {
  const ns = props.namespace;
  return (
    <Section title="Usage">
      <dl class="facts">
        <dt>Stored</dt>
        <dd>
          <Bytes bytes={ns.usedBytes} /> <QuotaBadge used={ns.usedBytes} quota={ns.quotaBytes} />
        </dd>
        <dt>Quota</dt>
        <dd>{ns.quotaBytes === null ? 'none' : <Bytes bytes={ns.quotaBytes} />}</dd>
        <dt>Repositories</dt>
        <dd>
          <Link href={`/repositories${query({ namespace: ns.name })}`}>
            {formatCount(ns.repositories)}
          </Link>
        </dd>
        <dt>Visibility</dt>
        <dd>{ns.public ? <Badge tone="info">public</Badge> : <Badge>private</Badge>}</dd>
      </dl>
      {ns.quotaBytes !== null && (
        <UsageMeter used={ns.usedBytes} quota={ns.quotaBytes} label={`Quota used by ${ns.name}`} />
      )}
      <p class="hint">
        A layer shared by several of its repositories counts once. Deleting images frees quota at
        once; the disk space comes back with the next garbage collection.
      </p>
    </Section>
  );
}

/** The rules, read-only: for those who may pull here but not administer the namespace. */
function Rules(props: { namespace: Namespace }) {
  const ns = props.namespace;
  const retention = retentionRules(ns.retention);
  return (
    <Section title="Rules">
      <dl class="facts">
        <dt>Immutable tags</dt>
        <dd>
          {ns.immutableTags.length === 0 ? (
            'none'
          ) : (
            <ul class="chips" aria-label="Immutable tag patterns">
              {ns.immutableTags.map((pattern) => (
                <li class="chip" key={pattern}>
                  <code>{pattern}</code>
                </li>
              ))}
            </ul>
          )}
        </dd>
        <dt>Index children</dt>
        <dd>{formatIndexChildren(ns.indexChildren)}</dd>
        <dt>Quota</dt>
        <dd>{ns.quotaBytes === null ? 'none' : formatBytes(ns.quotaBytes)}</dd>
        <dt>Retention</dt>
        <dd>
          {retention.length === 0 ? (
            'off: nothing is removed by age'
          ) : (
            <ul class="plain-list" aria-label="Retention rules">
              {retention.map((rule) => (
                <li key={rule}>{rule}</li>
              ))}
            </ul>
          )}
        </dd>
      </dl>
      <p class="hint">An administrator of this namespace can change these rules.</p>
    </Section>
  );
}

const INDEX_CHOICES: readonly [IndexChildrenChoice, string][] = [
  ['default', 'As the registry is configured'],
  ['all', 'All must exist'],
  ['none', 'None need exist (sparse)'],
  ['platforms', 'Only these platforms'],
];

const RETENTION_INPUTS: readonly [keyof RetentionFields, string, string, string][] = [
  ['keepLast', 'Keep the newest', 'tags per repository', 'numeric'],
  ['keepDays', 'Keep tags pushed or pulled within', 'days', 'numeric'],
  ['keepTags', 'Keep tags matching', 'regular expression, e.g. ^v\\d', 'text'],
  ['untaggedDays', 'Remove untagged manifests after', 'days (0: never)', 'numeric'],
];

/** Every rule in one form, saved with one PATCH: the registry checks them all before any applies. */
function RulesEditor(props: { namespace: Namespace; onSaved: () => void }) {
  const ns = props.namespace;
  const [immutable, setImmutable] = useState(ns.immutableTags.join(', '));
  const [children, setChildren] = useState(() => indexChildrenChoice(ns.indexChildren));
  const [quota, setQuota] = useState(ns.quotaBytes === null ? '' : sizeText(ns.quotaBytes));
  const [retention, setRetention] = useState(() => retentionFields(ns.retention));
  const [busy, setBusy] = useState(false);
  const [saved, setSaved] = useState(false);
  const { error, setError, attempt } = useAttempt();

  async function save(event: Event): Promise<void> {
    event.preventDefault();
    setSaved(false);
    const quotaBytes = quota.trim() === '' ? null : parseSize(quota);
    if (quota.trim() !== '' && quotaBytes === null) {
      setError('The quota must be a size such as 10 GiB or 500 MB, or empty for none.');
      return;
    }
    const indexChildren = indexChildrenValue(children.choice, children.platforms);
    if ('error' in indexChildren) {
      setError(indexChildren.error);
      return;
    }
    const policy = retentionFromFields(retention);
    if ('error' in policy) {
      setError(policy.error);
      return;
    }
    setBusy(true);
    await attempt(async () => {
      const updated = await patch<Namespace>(`/namespaces/${segment(ns.name)}`, {
        immutableTags: parsePatterns(immutable),
        indexChildren: indexChildren.value,
        quotaBytes,
        retention: policy.policy,
      });
      // The registry's own form of what was saved: `1.5G` reads back as `1.5 GiB`.
      setImmutable(updated.immutableTags.join(', '));
      setChildren(indexChildrenChoice(updated.indexChildren));
      setQuota(updated.quotaBytes === null ? '' : sizeText(updated.quotaBytes));
      setRetention(retentionFields(updated.retention));
      setSaved(true);
      props.onSaved();
    });
    setBusy(false);
  }

  return (
    <Section title="Rules">
      <form class="stack-form" onSubmit={(e) => void save(e)}>
        <div class="field grow">
          <label for="ns-immutable">Immutable tags</label>
          <input
            id="ns-immutable"
            aria-describedby="ns-immutable-hint"
            autocomplete="off"
            spellcheck={false}
            placeholder="none"
            value={immutable}
            onInput={(e) => setImmutable(e.currentTarget.value)}
          />
          <p class="hint" id="ns-immutable-hint">
            Tag patterns (<code>*</code> any text, <code>?</code> one character), separated by
            commas, e.g. <code>v*, release-*</code>. A matching tag can be pushed once; it cannot be
            moved to another image or deleted.
          </p>
        </div>
        <fieldset>
          <legend>Index children</legend>
          <p class="hint">Which images a pushed multi-platform index must already hold.</p>
          <div class="radio-group">
            {INDEX_CHOICES.map(([choice, label]) => (
              <label class="check" key={choice}>
                <input
                  type="radio"
                  name="index-children"
                  checked={children.choice === choice}
                  onChange={() => setChildren({ ...children, choice })}
                />{' '}
                {label}
              </label>
            ))}
          </div>
          {children.choice === 'platforms' && (
            <div class="field indented">
              <label for="ns-platforms">Platforms</label>
              <input
                id="ns-platforms"
                autocomplete="off"
                spellcheck={false}
                placeholder="linux/amd64, linux/arm64"
                value={children.platforms}
                onInput={(e) => setChildren({ ...children, platforms: e.currentTarget.value })}
              />
            </div>
          )}
        </fieldset>
        <div class="field">
          <label for="ns-quota">Quota</label>
          <input
            id="ns-quota"
            class="short"
            aria-describedby="ns-quota-hint"
            autocomplete="off"
            spellcheck={false}
            placeholder="none"
            value={quota}
            onInput={(e) => setQuota(e.currentTarget.value)}
          />
          <p class="hint" id="ns-quota-hint">
            A size such as <code>10 GiB</code> or <code>500 MB</code>; empty for none. A push that
            would take the namespace over it is refused.
          </p>
        </div>
        <fieldset>
          <legend>Retention</legend>
          <p class="hint">
            Garbage collection removes tags that no rule keeps (a tag is kept when any rule keeps
            it), and untagged manifests after the days set. Empty fields are rules not used; all
            empty turns retention off. Immutable tags and signatures are always kept and take no
            place among the newest.
          </p>
          <div class="retention-fields">
            {RETENTION_INPUTS.map(([key, label, unit, mode]) => (
              <div class="field" key={key}>
                <label for={`ns-${key}`}>{label}</label>
                <span class="with-unit">
                  <input
                    id={`ns-${key}`}
                    class={mode === 'numeric' ? 'short' : undefined}
                    inputMode={mode === 'numeric' ? 'numeric' : 'text'}
                    autocomplete="off"
                    spellcheck={false}
                    value={retention[key]}
                    onInput={(e) => setRetention({ ...retention, [key]: e.currentTarget.value })}
                  />
                  <span class="muted">{unit}</span>
                </span>
              </div>
            ))}
          </div>
        </fieldset>
        <ErrorMessage error={error} />
        {saved && (
          <p class="success" role="status">
            Rules saved.
          </p>
        )}
        <div class="form-buttons">
          <button type="submit" class="button primary" disabled={busy}>
            {busy ? 'Saving…' : 'Save rules'}
          </button>
        </div>
      </form>
    </Section>
  );
}

/** A dry run of the saved policy: exactly what a real run would remove now, removing nothing. */
function RetentionPreview(props: { namespace: Namespace }) {
  const ns = props.namespace;
  const [report, setReport] = useState<RetentionReport | null>(null);
  const [busy, setBusy] = useState(false);
  const { error, attempt } = useAttempt();

  async function preview(): Promise<void> {
    setBusy(true);
    setReport(null);
    await attempt(async () => {
      setReport(
        await post<RetentionReport>(`/retention${query({ namespace: ns.name, dryRun: true })}`),
      );
    });
    setBusy(false);
  }

  return (
    <Section title="Retention preview">
      <p>
        {ns.retention === null
          ? 'No retention policy is saved, so retention removes nothing here.'
          : 'What the saved policy would remove now. The preview itself changes nothing.'}
      </p>
      <button
        type="button"
        class="button"
        disabled={busy || ns.retention === null}
        onClick={() => void preview()}
      >
        {busy ? 'Checking…' : 'Preview retention'}
      </button>
      <ErrorMessage error={error} />
      {report && <RetentionResult report={report} />}
    </Section>
  );
}

function RetentionResult(props: { report: RetentionReport }) {
  const { tags, manifests, kept } = props.report;
  return (
    <>
      <p class="notice" role="status">
        Retention would remove {plural(tags.length, 'tag')} and{' '}
        {plural(manifests.length, 'manifest')}, and keep {plural(kept, 'tag')}.
      </p>
      {tags.length === 0 && manifests.length === 0 ? (
        <EmptyState title="Nothing to remove." />
      ) : (
        <TableWrap label="What retention would remove" stack>
          <thead>
            <tr>
              <th scope="col">Repository</th>
              <th scope="col">Tag</th>
              <th scope="col">Digest</th>
            </tr>
          </thead>
          <tbody>
            {tags.map((t) => (
              <tr key={`t:${t.repository}:${t.tag}`}>
                <th scope="row" class="fill">
                  <NameLink href={repositoryHref(t.repository)} name={t.repository} />
                </th>
                <td data-label="Tag">{t.tag}</td>
                <td data-label="Digest">
                  <Link href={manifestHref(t.repository, t.digest)} class="mono">
                    {shortDigest(t.digest)}
                  </Link>
                </td>
              </tr>
            ))}
            {manifests.map((m) => (
              <tr key={`m:${m.repository}@${m.digest}`}>
                <th scope="row" class="fill">
                  <NameLink href={repositoryHref(m.repository)} name={m.repository} />
                </th>
                <td data-label="Tag">
                  <span class="muted">the manifest</span>
                </td>
                <td data-label="Digest">
                  <Link href={manifestHref(m.repository, m.digest)} class="mono">
                    {shortDigest(m.digest)}
                  </Link>
                </td>
              </tr>
            ))}
          </tbody>
        </TableWrap>
      )}
    </>
  );
}
