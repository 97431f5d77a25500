/**
 * All repositories the caller may pull, searchable by name and filterable by namespace. The
 * search, filter and page live in the address, so a result can be linked to and survives reload.
 */
import { useEffect, useState } from 'preact/hooks';
import { query, useResource } from '../api';
import { Pagination } from '../components/pagination';
import { EmptyState, Loaded, NameLink, PageHeader, TableWrap, Time } from '../components/ui';
import { formatCount } from '../format';
import { repositoryHref } from '../paths';
import { Link, navigate } from '../router';
import type { Namespace, Page, Repository } from '../types';
import { FirstPush } from './dashboard';

const PAGE_SIZE = 50;

export function RepositoriesPage(props: { query: URLSearchParams }) {
  const q = props.query.get('q') ?? '';
  const namespace = props.query.get('namespace') ?? '';
  const offset = Math.max(0, Number(props.query.get('offset') ?? 0) || 0);
  const [text, setText] = useState(q);

  const namespaces = useResource<{ items: Namespace[] }>('/namespaces');
  const repositories = useResource<Page<Repository>>(
    `/repositories${query({ q, namespace, limit: PAGE_SIZE, offset })}`,
  );

  function go(next: { q?: string; namespace?: string; offset?: number }, replace = false): void {
    const target = query({
      q: next.q ?? q,
      namespace: next.namespace ?? namespace,
      offset: (next.offset ?? 0) || null,
    });
    navigate(`/repositories${target}`, { replace });
  }

  // Search as you type, without a history entry per keystroke.
  useEffect(() => {
    if (text.trim() === q) return;
    const timer = window.setTimeout(() => go({ q: text.trim() }, true), 250);
    return () => window.clearTimeout(timer);
  }, [text]);

  // Back and forward change the address: the search box follows it.
  useEffect(() => {
    if (q !== text.trim()) setText(q);
  }, [q]);

  return (
    <>
      <PageHeader title="Repositories" />
      <form
        class="filters"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          go({ q: text.trim() });
        }}
      >
        <div class="field grow">
          <label for="repo-search">Search repositories</label>
          <input
            id="repo-search"
            type="search"
            placeholder="part of a name, e.g. nginx"
            autocomplete="off"
            spellcheck={false}
            value={text}
            onInput={(e) => setText(e.currentTarget.value)}
          />
        </div>
        <div class="field">
          <label for="repo-namespace">Namespace</label>
          <select
            id="repo-namespace"
            value={namespace}
            onChange={(e) => go({ namespace: e.currentTarget.value })}
          >
            <option value="">All namespaces</option>
            {namespaces.data?.items.map((ns) => (
              <option key={ns.name} value={ns.name}>
                {ns.name}
              </option>
            ))}
            {namespace !== '' &&
              namespaces.data !== undefined &&
              !namespaces.data.items.some((ns) => ns.name === namespace) && (
                <option value={namespace}>{namespace}</option>
              )}
          </select>
        </div>
      </form>
      <Loaded resource={repositories} what="repositories">
        {(page) =>
          page.total === 0 ? (
            q === '' && namespace === '' ? (
              <FirstPush />
            ) : (
              <EmptyState title="No repository matches.">
                <p>
                  Nothing {q !== '' ? <>contains “{q}”</> : null}
                  {namespace !== '' ? <> in namespace {namespace}</> : null}.{' '}
                  <Link href="/repositories">Show all repositories</Link>
                </p>
              </EmptyState>
            )
          ) : (
            <>
              <p class="result-count" role="status">
                {formatCount(page.total)} {page.total === 1 ? 'repository' : 'repositories'}
              </p>
              <TableWrap label="Repositories" stack>
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col" class="num">
                      Tags
                    </th>
                    <th scope="col" class="num">
                      Manifests
                    </th>
                    <th scope="col">Last push</th>
                  </tr>
                </thead>
                <tbody>
                  {page.items.map((repo) => (
                    <tr key={repo.name}>
                      <th scope="row" class="fill">
                        <NameLink href={repositoryHref(repo.name)} name={repo.name} />
                      </th>
                      <td class="num" data-label="Tags">
                        {formatCount(repo.tags)}
                      </td>
                      <td class="num" data-label="Manifests">
                        {formatCount(repo.manifests)}
                      </td>
                      <td data-label="Last push">
                        <Time at={repo.updatedAt} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </TableWrap>
              <Pagination
                label="Repositories"
                total={page.total}
                limit={PAGE_SIZE}
                offset={offset}
                onChange={(next) => go({ offset: next })}
              />
            </>
          )
        }
      </Loaded>
    </>
  );
}
