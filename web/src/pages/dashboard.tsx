import { useResource } from '../api';
import { useApp } from '../app-state';
import { StorageChart } from '../components/chart';
import { CopyField } from '../components/copy';
import {
  EmptyState,
  Loaded,
  NameLink,
  PageHeader,
  Section,
  TableWrap,
  Time,
} from '../components/ui';
import { firstPushCommands, formatBytes, formatCount, plural, shortDigest } from '../format';
import { manifestHref, repositoryHref } from '../paths';
import { Link } from '../router';
import type { Overview } from '../types';

export function DashboardPage() {
  const overview = useResource<Overview>('/overview');
  return (
    <>
      <PageHeader title="Dashboard" />
      <Loaded resource={overview} what="the overview">
        {(data) => <DashboardBody overview={data} />}
      </Loaded>
    </>
  );
}

function DashboardBody(props: { overview: Overview }) {
  const o = props.overview;
  return (
    <>
      <ul class="stats" aria-label="Totals">
        <Stat label="Storage used" value={formatBytes(o.storage.bytes)}>
          {plural(o.storage.blobs, 'blob')}
        </Stat>
        <Stat label="Namespaces" value={formatCount(o.namespaces)} href="/namespaces" />
        <Stat label="Repositories" value={formatCount(o.repositories)} href="/repositories" />
        <Stat label="Tags" value={formatCount(o.tags)}>
          {plural(o.manifests, 'manifest')}
        </Stat>
      </ul>
      {o.repositories === 0 ? (
        <FirstPush />
      ) : (
        <div class="dashboard-grid">
          <Section title="Storage by namespace">
            <StorageChart rows={o.byNamespace} total={o.storage.bytes} />
            <p class="hint">
              Layers shared between images count once in the total, and in each namespace that uses
              them.
            </p>
          </Section>
          <Section title="Recent pushes">
            {o.recentPushes.length === 0 ? (
              <EmptyState title="No pushes yet." />
            ) : (
              <TableWrap label="Recent pushes" stack>
                <thead>
                  <tr>
                    <th scope="col">Image</th>
                    <th scope="col">Digest</th>
                    <th scope="col">Pushed</th>
                  </tr>
                </thead>
                <tbody>
                  {o.recentPushes.map((push) => (
                    <tr key={`${push.repository}:${push.tag}`}>
                      <th scope="row" class="fill">
                        <span class="name-pair">
                          <NameLink href={repositoryHref(push.repository)} name={push.repository} />
                          <span class="muted separator">:</span>
                          <NameLink
                            href={manifestHref(push.repository, push.tag)}
                            name={push.tag}
                          />
                        </span>
                      </th>
                      <td data-label="Digest">
                        <Link href={manifestHref(push.repository, push.digest)} class="mono">
                          {shortDigest(push.digest)}
                        </Link>
                      </td>
                      <td data-label="Pushed">
                        <Time at={push.pushedAt} />
                        {push.pushedBy !== null && <span class="muted"> by {push.pushedBy}</span>}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </TableWrap>
            )}
          </Section>
        </div>
      )}
    </>
  );
}

function Stat(props: { label: string; value: string; href?: string; children?: string }) {
  const value = <span class="stat-value">{props.value}</span>;
  return (
    <li class="stat">
      <span class="stat-label">{props.label}</span>
      {props.href !== undefined ? <Link href={props.href}>{value}</Link> : value}
      {props.children !== undefined && <span class="stat-detail">{props.children}</span>}
    </li>
  );
}

/** The empty registry: exactly what to type to push the first image. */
export function FirstPush() {
  const { host, session, system } = useApp();
  const namespace = system?.registry.defaultNamespace ?? 'library';
  const commands = firstPushCommands(host, session.user, namespace);
  return (
    <EmptyState title="No images yet — here is how to push one">
      <p>Tag any local image with this registry's address and push it:</p>
      <ol class="steps">
        {commands.map((command) => (
          <li key={command}>
            <CopyField text={command} label={command} />
          </li>
        ))}
      </ol>
      <p class="hint">
        podman and skopeo work the same way. For CI, create an{' '}
        <Link href="/tokens">access token</Link> and use it as the password.
      </p>
    </EmptyState>
  );
}
