/**
 * Which page an address shows. Every address here also works after a reload: the server answers
 * any unknown GET outside /v2 and /api with index.html.
 */
import { useEffect } from 'preact/hooks';
import { useApp } from './app-state';
import { parseNamespacePath, parseRepositoryPath } from './paths';
import type { Location } from './router';
import { EmptyState, PageHeader } from './components/ui';
import { Link, navigate } from './router';
import { AccountPage } from './pages/account';
import { AuditPage } from './pages/audit';
import { DashboardPage } from './pages/dashboard';
import { ManifestPage } from './pages/manifest';
import { NamespacePage } from './pages/namespace';
import { NamespacesPage } from './pages/namespaces';
import { RepositoriesPage } from './pages/repositories';
import { RepositoryPage } from './pages/repository';
import { RolesPage } from './pages/roles';
import { SystemPage } from './pages/system';
import { TokensPage } from './pages/tokens';
import { UsersPage } from './pages/users';

export function Routes(props: { location: Location }) {
  const { session } = useApp();
  const { path, query } = props.location;

  switch (path) {
    case '/':
      return <DashboardPage />;
    case '/namespaces':
      return <NamespacesPage />;
    case '/repositories':
      return <RepositoriesPage query={query} />;
    case '/tokens':
      return <TokensPage />;
    case '/roles':
      return <RolesPage />;
    case '/system':
      return <SystemPage />;
    case '/account':
      return <AccountPage />;
    case '/users':
      return session.isAdmin ? <UsersPage /> : <AdminOnly />;
    case '/audit':
      return session.isAdmin ? <AuditPage query={query} /> : <AdminOnly />;
  }
  const moved = MOVED[path];
  if (moved !== undefined) return <Redirect to={moved + props.location.href.slice(path.length)} />;
  if (path.startsWith('/namespaces/')) {
    const name = parseNamespacePath(path.slice('/namespaces/'.length));
    if (name !== null) return <NamespacePage name={name} />;
  }
  if (path.startsWith('/repositories/')) {
    const target = parseRepositoryPath(path.slice('/repositories/'.length));
    if (target?.manifest != null) {
      return <ManifestPage repository={target.repository} reference={target.manifest} />;
    }
    if (target) return <RepositoryPage name={target.repository} query={query} />;
  }
  return <NotFound />;
}

/**
 * Addresses that once were, kept so that bookmarks and links in old notes still work: every page
 * now lives at one level, as /tokens and /roles always did.
 */
const MOVED: Partial<Record<string, string>> = {
  '/admin/users': '/users',
  '/admin/audit': '/audit',
};

/** Replaces the history entry, so Back does not bounce through the old address. */
function Redirect(props: { to: string }) {
  useEffect(() => {
    navigate(props.to, { replace: true });
  }, [props.to]);
  return null;
}

function AdminOnly() {
  return (
    <>
      <PageHeader title="Administrators only" />
      <EmptyState title="This page is for registry administrators.">
        <p>
          Ask an administrator if you need a change here.{' '}
          <Link href="/">Back to the dashboard</Link>
        </p>
      </EmptyState>
    </>
  );
}

function NotFound() {
  return (
    <>
      <PageHeader title="Page not found" />
      <EmptyState title="Nothing lives at this address.">
        <p>
          <Link href="/">Go to the dashboard</Link> or{' '}
          <Link href="/repositories">browse the repositories</Link>.
        </p>
      </EmptyState>
    </>
  );
}
