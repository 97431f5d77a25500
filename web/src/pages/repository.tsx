/**
 * One repository: its tags (newest push first) with digest, type and platforms, size and who
 * pushed them; copy a pull command, open a manifest, delete a tag — or the whole repository —
 * when the caller may.
 */
import { useEffect, useState } from 'preact/hooks';
import { del, query, segment, useResource } from '../api';
import { useApp } from '../app-state';
import { DangerButton } from '../components/actions';
import { ClientPicker } from '../components/client-picker';
import { CopyButton, CopyField } from '../components/copy';
import { ConfirmDialog } from '../components/dialog';
import { Pagination } from '../components/pagination';
import { Badge, EmptyState, Loaded, NameLink, PageHeader, TableWrap, Time } from '../components/ui';
import {
  ARTIFACT_CATEGORY_LABELS,
  artifactCategory,
  formatBytes,
  formatPlatforms,
  plural,
  pullCommand,
  shortDigest,
} from '../format';
import { manifestHref } from '../paths';
import { Link, navigate } from '../router';
import type { Page, Repository, Tag } from '../types';

const PAGE_SIZE = 50;

export function RepositoryPage(props: { name: string; query: URLSearchParams }) {
  const { name } = props;
  const q = props.query.get('q') ?? '';
  const offset = Math.max(0, Number(props.query.get('offset') ?? 0) || 0);
  const base = `/repositories/${segment(name)}`;
  const repository = useResource<Repository>(base);
  const tags = useResource<Page<Tag>>(`${base}/tags${query({ q, limit: PAGE_SIZE, offset })}`);
  const [deleting, setDeleting] = useState<Tag | null>(null);
  const [deleted, setDeleted] = useState<string | null>(null);
  const [removing, setRemoving] = useState(false);
  const [text, setText] = useState(q);

  function go(next: { q?: string; offset?: number }, replace = false): void {
    const search = query({ q: next.q ?? q, offset: (next.offset ?? 0) || null });
    navigate(`${window.location.pathname}${search}`, { replace });
  }

  useEffect(() => {
    if (text.trim() === q) return;
    const timer = window.setTimeout(() => go({ q: text.trim() }, true), 250);
    return () => window.clearTimeout(timer);
  }, [text]);

  useEffect(() => {
    if (q !== text.trim()) setText(q);
  }, [q]);

  const namespace = name.includes('/') ? name.slice(0, name.indexOf('/')) : null;
  return (
    <>
      <PageHeader
        title={name}
        eyebrow={
          <>
            <Link href="/repositories">Repositories</Link>
            {namespace !== null && (
              <>
                {' / '}
                <NameLink href={`/repositories${query({ namespace })}`} name={namespace} />
              </>
            )}
          </>
        }
      >
        <ClientPicker />
      </PageHeader>
      <Loaded resource={repository} what="the repository">
        {(repo) => (
          <>
            <p class="lead">
              {plural(repo.tags, 'tag')}, {plural(repo.manifests, 'manifest')} · last push{' '}
              <Time at={repo.updatedAt} />
            </p>
            {repo.actions.includes('delete') && (
              <p>
                <DangerButton label={`Delete repository ${name}`} onClick={() => setRemoving(true)}>
                  Delete repository
                </DangerButton>
              </p>
            )}
            {deleted !== null && (
              <p class="success" role="status">
                Tag {deleted} deleted.
              </p>
            )}
            <div class="filters">
              <div class="field grow">
                <label for="tag-search">Search tags</label>
                <input
                  id="tag-search"
                  type="search"
                  autocomplete="off"
                  spellcheck={false}
                  value={text}
                  onInput={(e) => setText(e.currentTarget.value)}
                />
              </div>
            </div>
            <Loaded resource={tags} what="tags">
              {(page) => (
                <TagTable
                  repository={repo}
                  page={page}
                  searching={q !== ''}
                  onDelete={(tag) => {
                    setDeleted(null);
                    setDeleting(tag);
                  }}
                />
              )}
            </Loaded>
            {tags.data && (
              <Pagination
                label="Tags"
                total={tags.data.total}
                limit={PAGE_SIZE}
                offset={offset}
                onChange={(next) => go({ offset: next })}
              />
            )}
            {deleting && (
              <ConfirmDialog
                title={`Delete tag ${deleting.name}?`}
                confirmLabel="Delete"
                onClose={() => setDeleting(null)}
                onConfirm={async () => {
                  await del(`${base}/tags/${segment(deleting.name)}`);
                  setDeleted(deleting.name);
                  tags.reload();
                  repository.reload();
                }}
              >
                <p>
                  <code>
                    {name}:{deleting.name}
                  </code>{' '}
                  will no longer pull. The manifest <code>{shortDigest(deleting.digest)}</code>{' '}
                  stays, reachable by digest and by any other tag, until it is deleted itself.
                </p>
              </ConfirmDialog>
            )}
            {removing && (
              <DeleteRepositoryDialog
                repository={repo}
                onClose={() => setRemoving(false)}
                onDeleted={() => navigate(`/repositories${query({ namespace })}`)}
              />
            )}
          </>
        )}
      </Loaded>
    </>
  );
}

/**
 * Deleting a whole repository cannot be undone, so the name must be typed (as Harbor and GitHub
 * ask): a click on the wrong row of a long list cannot do it.
 */
function DeleteRepositoryDialog(props: {
  repository: Repository;
  onClose: () => void;
  onDeleted: () => void;
}) {
  const { name } = props.repository;
  const [typed, setTyped] = useState('');
  return (
    <ConfirmDialog
      title={`Delete repository ${name}?`}
      confirmLabel="Delete repository"
      ready={typed === name}
      onClose={props.onClose}
      onConfirm={async () => {
        await del(`/repositories/${segment(name)}`);
        props.onDeleted();
      }}
    >
      <p>
        Its {plural(props.repository.tags, 'tag')} and{' '}
        {plural(props.repository.manifests, 'manifest')} are deleted and no longer pull. Layers that
        other repositories share stay there.
      </p>
      <div class="field">
        <label for="confirm-repository">Type the repository name to confirm</label>
        <input
          id="confirm-repository"
          autocomplete="off"
          spellcheck={false}
          value={typed}
          onInput={(e) => setTyped(e.currentTarget.value)}
        />
      </div>
    </ConfirmDialog>
  );
}

function TagTable(props: {
  repository: Repository;
  page: Page<Tag>;
  searching: boolean;
  onDelete: (tag: Tag) => void;
}) {
  const { host, client } = useApp();
  const repo = props.repository;
  const mayDelete = repo.actions.includes('delete');

  if (props.page.total === 0) {
    return props.searching ? (
      <EmptyState title="No tag matches that search." />
    ) : (
      <EmptyState title="This repository has no tags.">
        <p>
          Its manifests are still reachable by digest. Push a tag with{' '}
          <code>{`docker push ${host}/${repo.name}:<tag>`}</code>.
        </p>
      </EmptyState>
    );
  }
  const newest = props.page.items[0];
  return (
    <>
      {newest && (
        <div class="pull-box">
          <span class="pull-box-label">Pull the newest tag</span>
          <CopyField
            text={pullCommand(client, host, repo.name, newest.name)}
            label={`${client} pull command for ${newest.name}`}
          />
        </div>
      )}
      <TableWrap label="Tags" stack>
        <thead>
          <tr>
            <th scope="col">Tag</th>
            <th scope="col">Digest</th>
            <th scope="col">Type</th>
            <th scope="col" class="num">
              Size
            </th>
            <th scope="col">Pushed</th>
            <th scope="col">
              <span class="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {props.page.items.map((tag) => (
            <tr key={tag.name}>
              <th scope="row" class="fill">
                <NameLink href={manifestHref(repo.name, tag.name)} name={tag.name} />
              </th>
              <td data-label="Digest">
                <Link href={manifestHref(repo.name, tag.digest)} class="mono" title={tag.digest}>
                  {shortDigest(tag.digest)}
                </Link>
              </td>
              <td data-label="Type">
                <KindCell tag={tag} />
              </td>
              <td class="num" data-label="Size">
                {formatBytes(tag.size)}
              </td>
              <td data-label="Pushed">
                <Time at={tag.pushedAt} />
                {tag.pushedBy !== null && <span class="muted"> by {tag.pushedBy}</span>}
              </td>
              <td class="row-actions">
                <CopyButton
                  compact
                  idle="Copy pull"
                  text={pullCommand(client, host, repo.name, tag.name)}
                  label={`${client} pull command for ${tag.name}`}
                />
                {mayDelete && (
                  <DangerButton
                    label={`Delete tag ${tag.name}`}
                    onClick={() => props.onDelete(tag)}
                  >
                    Delete
                  </DangerButton>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </TableWrap>
    </>
  );
}

function KindCell(props: { tag: Tag }) {
  const { tag } = props;
  switch (tag.kind) {
    case 'image':
      return <Badge>image</Badge>;
    case 'index': {
      const platforms = formatPlatforms(tag.platforms);
      return (
        <span class="kind">
          <Badge tone="info">multi-arch</Badge>
          <ul class="platforms" aria-label="Platforms">
            {platforms.map((p) => (
              <li class="chip" key={p}>
                {p}
              </li>
            ))}
          </ul>
        </span>
      );
    }
    case 'artifact':
      return (
        <span class="kind">
          <Badge tone="warn">{ARTIFACT_CATEGORY_LABELS[artifactCategory(tag.artifactType)]}</Badge>
          {tag.artifactType !== null && <span class="muted small">{tag.artifactType}</span>}
        </span>
      );
  }
}
