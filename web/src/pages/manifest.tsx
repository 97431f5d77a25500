/**
 * One manifest, by tag or digest: what it is, how to pull it, its platforms (an index), layers,
 * image configuration, build history, annotations and the artifacts that refer to it
 * (signatures, SBOMs, attestations). Every value shown is untrusted text from whoever pushed.
 */
import { useState } from 'preact/hooks';
import { del, query, segment, useResource } from '../api';
import { useApp } from '../app-state';
import { ClientPicker } from '../components/client-picker';
import { CopyButton, CopyField } from '../components/copy';
import { ConfirmDialog } from '../components/dialog';
import {
  Badge,
  EmptyState,
  Loaded,
  NameLink,
  PageHeader,
  Section,
  TableWrap,
  Time,
} from '../components/ui';
import {
  ARTIFACT_CATEGORY_LABELS,
  artifactCategory,
  formatBytes,
  formatPlatform,
  isDigest,
  mediaTypeLabel,
  plural,
  pullCommand,
  shellJoin,
  shortDigest,
  sortedEntries,
} from '../format';
import { manifestHref, repositoryHref } from '../paths';
import { Link, navigate } from '../router';
import type { Annotations, ImageConfig, ManifestDetail } from '../types';

export function ManifestPage(props: { repository: string; reference: string }) {
  const { repository, reference } = props;
  const manifest = useResource<ManifestDetail>(
    `/repositories/${segment(repository)}/manifests/${segment(reference)}`,
  );
  const title = isDigest(reference)
    ? `${repository}@${shortDigest(reference)}`
    : `${repository}:${reference}`;
  const namespace = repository.includes('/') ? repository.slice(0, repository.indexOf('/')) : null;
  return (
    <>
      <PageHeader
        title={title}
        eyebrow={
          <>
            <Link href="/repositories">Repositories</Link>
            {namespace !== null && (
              <>
                {' / '}
                <NameLink href={`/repositories${query({ namespace })}`} name={namespace} />
              </>
            )}
            {' / '}
            <NameLink href={repositoryHref(repository)} name={repository} />
          </>
        }
      >
        <ClientPicker />
      </PageHeader>
      <Loaded resource={manifest} what="the manifest">
        {(m) => <ManifestBody repository={repository} manifest={m} />}
      </Loaded>
    </>
  );
}

function ManifestBody(props: { repository: string; manifest: ManifestDetail }) {
  const { repository, manifest: m } = props;
  const [deleting, setDeleting] = useState(false);
  return (
    <>
      <Summary repository={repository} manifest={m} />
      <PullCommands repository={repository} manifest={m} />
      {m.kind === 'index' && <Platforms repository={repository} manifest={m} />}
      {m.kind !== 'index' && <Layers manifest={m} />}
      {m.config && <Configuration config={m.config} />}
      {m.config && m.config.history.length > 0 && <History config={m.config} />}
      <AnnotationTable title="Annotations" annotations={m.annotations} />
      <Referrers repository={repository} manifest={m} />
      {m.actions.includes('delete') && (
        <Section title="Delete">
          <p>
            Deleting the manifest also removes {m.tags.length > 0 ? 'its tags' : 'it by digest'}.
            Its layers go with the next garbage collection, unless another image uses them.
          </p>
          <button type="button" class="button danger" onClick={() => setDeleting(true)}>
            Delete manifest
          </button>
        </Section>
      )}
      {deleting && (
        <ConfirmDialog
          title={`Delete manifest ${shortDigest(m.digest)}?`}
          confirmLabel="Delete"
          onClose={() => setDeleting(false)}
          onConfirm={async () => {
            await del(`/repositories/${segment(repository)}/manifests/${segment(m.digest)}`);
            navigate(repositoryHref(repository));
          }}
        >
          {m.tags.length > 0 ? (
            <p>
              These tags go with it: <TagList repository={repository} tags={m.tags} plain />
            </p>
          ) : (
            <p>No tag points to it.</p>
          )}
          <p>Anyone pulling it by digest will get “manifest unknown”. This cannot be undone.</p>
        </ConfirmDialog>
      )}
    </>
  );
}

function KindBadge(props: { manifest: ManifestDetail }) {
  const m = props.manifest;
  if (m.kind === 'index') return <Badge tone="info">multi-arch index</Badge>;
  if (m.kind === 'artifact') {
    return <Badge tone="warn">{ARTIFACT_CATEGORY_LABELS[artifactCategory(m.artifactType)]}</Badge>;
  }
  return <Badge>image</Badge>;
}

function Summary(props: { repository: string; manifest: ManifestDetail }) {
  const { repository, manifest: m } = props;
  const config = m.config;
  return (
    <Section title="Summary">
      <dl class="facts">
        <dt>Digest</dt>
        <dd class="digest-line">
          <code class="break">{m.digest}</code>
          <CopyButton compact text={m.digest} label="digest" />
        </dd>
        <dt>Type</dt>
        <dd>
          <KindBadge manifest={m} /> <span class="muted">{mediaTypeLabel(m.mediaType)}</span>
        </dd>
        {m.artifactType !== null && (
          <>
            <dt>Artifact type</dt>
            <dd>
              <code class="break">{m.artifactType}</code>
            </dd>
          </>
        )}
        {config && (
          <>
            <dt>Platform</dt>
            <dd>
              {formatPlatform({
                os: config.os ?? '',
                architecture: config.architecture ?? '',
                variant: config.variant,
              })}
            </dd>
          </>
        )}
        <dt>Size</dt>
        <dd>
          {formatBytes(m.totalSize)}{' '}
          <span class="muted">
            ({m.kind === 'index' ? 'all platforms' : 'manifest, config and layers'}; the manifest
            itself is {formatBytes(m.size)})
          </span>
        </dd>
        <dt>Pushed</dt>
        <dd>
          <Time at={m.pushedAt} />
          {m.pushedBy !== null && <> by {m.pushedBy}</>}
        </dd>
        <dt>Tags</dt>
        <dd>
          {m.tags.length === 0 ? (
            <span class="muted">none (reachable by digest only)</span>
          ) : (
            <TagList repository={repository} tags={m.tags} />
          )}
        </dd>
        {m.subject && (
          <>
            <dt>Refers to</dt>
            <dd>
              <Link href={manifestHref(repository, m.subject.digest)} class="mono">
                {shortDigest(m.subject.digest)}
              </Link>{' '}
              <span class="muted">{mediaTypeLabel(m.subject.mediaType)}</span>
            </dd>
          </>
        )}
      </dl>
    </Section>
  );
}

function TagList(props: { repository: string; tags: string[]; plain?: boolean }) {
  return (
    <ul class="chips">
      {props.tags.map((tag) => (
        <li class="chip" key={tag}>
          {props.plain === true ? (
            tag
          ) : (
            <Link href={manifestHref(props.repository, tag)}>{tag}</Link>
          )}
        </li>
      ))}
    </ul>
  );
}

function PullCommands(props: { repository: string; manifest: ManifestDetail }) {
  const { host, client } = useApp();
  const { repository, manifest: m } = props;
  const references = [...m.tags.slice(0, 5), m.digest];
  return (
    <Section title="Pull">
      <ul class="commands">
        {references.map((ref) => (
          <li key={ref}>
            {isDigest(ref) ? (
              <span class="command-label">by digest</span>
            ) : (
              <span class="command-label truncate" title={ref}>
                tag {ref}
              </span>
            )}
            <CopyField
              text={pullCommand(client, host, repository, ref)}
              label={`${client} pull command ${isDigest(ref) ? 'by digest' : `for ${ref}`}`}
            />
          </li>
        ))}
      </ul>
      {m.tags.length > 5 && (
        <p class="hint">{plural(m.tags.length - 5, 'more tag')} point to the same digest.</p>
      )}
    </Section>
  );
}

function Platforms(props: { repository: string; manifest: ManifestDetail }) {
  const { repository, manifest: m } = props;
  return (
    <Section title="Platforms">
      {m.manifests.length === 0 ? (
        <EmptyState title="This index lists no manifests." />
      ) : (
        <TableWrap label="Platforms">
          <thead>
            <tr>
              <th scope="col">Platform</th>
              <th scope="col">Digest</th>
              <th scope="col">Type</th>
              <th scope="col" class="num">
                Manifest size
              </th>
            </tr>
          </thead>
          <tbody>
            {m.manifests.map((child) => (
              <tr key={child.digest}>
                <th scope="row">
                  {child.platform ? (
                    formatPlatform(child.platform)
                  ) : (
                    <span class="muted">none</span>
                  )}
                </th>
                <td>
                  <Link
                    href={manifestHref(repository, child.digest)}
                    class="mono"
                    title={child.digest}
                  >
                    {shortDigest(child.digest)}
                  </Link>
                </td>
                <td>
                  {child.artifactType !== null ? (
                    <Badge tone="warn">
                      {ARTIFACT_CATEGORY_LABELS[artifactCategory(child.artifactType)]}
                    </Badge>
                  ) : (
                    mediaTypeLabel(child.mediaType)
                  )}
                </td>
                <td class="num">{formatBytes(child.size)}</td>
              </tr>
            ))}
          </tbody>
        </TableWrap>
      )}
    </Section>
  );
}

function Layers(props: { manifest: ManifestDetail }) {
  const layers = props.manifest.layers;
  const total = layers.reduce((sum, l) => sum + l.size, 0);
  return (
    <Section title="Layers">
      {layers.length === 0 ? (
        <EmptyState title="No layers." />
      ) : (
        <TableWrap label="Layers">
          <thead>
            <tr>
              <th scope="col" class="num">
                #
              </th>
              <th scope="col">Digest</th>
              <th scope="col">Type</th>
              <th scope="col" class="num">
                Size
              </th>
            </tr>
          </thead>
          <tbody>
            {layers.map((layer, index) => (
              <tr key={`${String(index)}-${layer.digest}`}>
                <td class="num">{index + 1}</td>
                <td>
                  <span class="digest-line">
                    <code title={layer.digest}>{shortDigest(layer.digest)}</code>
                    <CopyButton
                      compact
                      text={layer.digest}
                      label={`digest of layer ${String(index + 1)}`}
                    />
                  </span>
                  {sortedEntries(layer.annotations).map(([k, v]) => (
                    <div class="small muted break" key={k}>
                      {k}={v}
                    </div>
                  ))}
                </td>
                <td>{mediaTypeLabel(layer.mediaType)}</td>
                <td class="num">{formatBytes(layer.size)}</td>
              </tr>
            ))}
          </tbody>
          <tfoot>
            <tr>
              <th scope="row" colSpan={3}>
                {plural(layers.length, 'layer')}
              </th>
              <td class="num">{formatBytes(total)}</td>
            </tr>
          </tfoot>
        </TableWrap>
      )}
    </Section>
  );
}

function Configuration(props: { config: ImageConfig }) {
  const c = props.config;
  return (
    <Section title="Configuration">
      <dl class="facts">
        <dt>Created</dt>
        <dd>
          <Time at={c.created} fallback="not recorded" />
        </dd>
        {c.author !== null && c.author !== '' && (
          <>
            <dt>Author</dt>
            <dd>{c.author}</dd>
          </>
        )}
        <dt>Entrypoint</dt>
        <dd>
          {c.entrypoint ? (
            <code class="break">{shellJoin(c.entrypoint)}</code>
          ) : (
            <span class="muted">none</span>
          )}
        </dd>
        <dt>Command</dt>
        <dd>
          {c.cmd ? <code class="break">{shellJoin(c.cmd)}</code> : <span class="muted">none</span>}
        </dd>
        <dt>Working directory</dt>
        <dd>{c.workingDir ? <code>{c.workingDir}</code> : <span class="muted">/</span>}</dd>
        <dt>User</dt>
        <dd>{c.user ? <code>{c.user}</code> : <span class="muted">root (default)</span>}</dd>
        <dt>Exposed ports</dt>
        <dd>
          {c.exposedPorts.length > 0 ? c.exposedPorts.join(', ') : <span class="muted">none</span>}
        </dd>
        <dt>Environment</dt>
        <dd>
          {c.env.length === 0 ? (
            <span class="muted">none</span>
          ) : (
            <ul class="plain-list">
              {c.env.map((e, i) => (
                <li key={i}>
                  <code class="break">{e}</code>
                </li>
              ))}
            </ul>
          )}
        </dd>
      </dl>
      <AnnotationTable title="Labels" annotations={c.labels} nested />
    </Section>
  );
}

function History(props: { config: ImageConfig }) {
  return (
    <Section title="History">
      <TableWrap label="Build history">
        <thead>
          <tr>
            <th scope="col" class="num">
              #
            </th>
            <th scope="col">Step</th>
            <th scope="col">Created</th>
          </tr>
        </thead>
        <tbody>
          {props.config.history.map((step, index) => (
            <tr key={index}>
              <td class="num">{index + 1}</td>
              <td>
                {step.createdBy !== null && step.createdBy !== '' ? (
                  <code class="break">{step.createdBy}</code>
                ) : (
                  <span class="muted">not recorded</span>
                )}
                {step.comment !== null && step.comment !== '' && (
                  <div class="small muted">{step.comment}</div>
                )}
                {step.emptyLayer && <Badge>no layer</Badge>}
              </td>
              <td>
                <Time at={step.created} />
              </td>
            </tr>
          ))}
        </tbody>
      </TableWrap>
    </Section>
  );
}

function AnnotationTable(props: { title: string; annotations: Annotations; nested?: boolean }) {
  const entries = sortedEntries(props.annotations);
  const table =
    entries.length === 0 ? (
      <p class="muted">None.</p>
    ) : (
      <TableWrap label={props.title}>
        <thead>
          <tr>
            <th scope="col">Key</th>
            <th scope="col">Value</th>
          </tr>
        </thead>
        <tbody>
          {entries.map(([key, value]) => (
            <tr key={key}>
              <th scope="row" class="break mono">
                {key}
              </th>
              <td class="break">{value}</td>
            </tr>
          ))}
        </tbody>
      </TableWrap>
    );
  if (props.nested === true) {
    return (
      <>
        <h3>{props.title}</h3>
        {table}
      </>
    );
  }
  return <Section title={props.title}>{table}</Section>;
}

function Referrers(props: { repository: string; manifest: ManifestDetail }) {
  const { repository, manifest: m } = props;
  return (
    <Section title="Referrers">
      {m.referrers.length === 0 ? (
        <p class="muted">No signatures, SBOMs or attestations refer to this manifest.</p>
      ) : (
        <TableWrap label="Referrers">
          <thead>
            <tr>
              <th scope="col">Kind</th>
              <th scope="col">Digest</th>
              <th scope="col" class="num">
                Size
              </th>
              <th scope="col">Created</th>
            </tr>
          </thead>
          <tbody>
            {m.referrers.map((r) => (
              <tr key={r.digest}>
                <th scope="row">
                  <Badge tone="warn">
                    {ARTIFACT_CATEGORY_LABELS[artifactCategory(r.artifactType)]}
                  </Badge>
                  {r.artifactType !== null && <div class="small muted break">{r.artifactType}</div>}
                </th>
                <td>
                  <Link href={manifestHref(repository, r.digest)} class="mono" title={r.digest}>
                    {shortDigest(r.digest)}
                  </Link>
                </td>
                <td class="num">{formatBytes(r.size)}</td>
                <td>
                  <Time at={r.createdAt} />
                </td>
              </tr>
            ))}
          </tbody>
        </TableWrap>
      )}
    </Section>
  );
}
