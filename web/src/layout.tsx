/**
 * The frame around every signed-in page: skip link, header with navigation (a menu button on
 * phones), who is signed in (a link to their account page) and "Sign out". Moving to another page
 * puts the keyboard focus on its heading, so screen reader users hear where they arrived.
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { useApp } from './app-state';
import { Badge } from './components/ui';
import { Link, type Location } from './router';

interface NavItem {
  href: string;
  label: string;
  /** Whether the item is current for a path. */
  matches: (path: string) => boolean;
}

const exact =
  (href: string) =>
  (path: string): boolean =>
    path === href;
const within =
  (href: string) =>
  (path: string): boolean =>
    path === href || path.startsWith(`${href}/`);

const BROWSE: NavItem[] = [
  { href: '/', label: 'Dashboard', matches: exact('/') },
  { href: '/namespaces', label: 'Namespaces', matches: within('/namespaces') },
  { href: '/repositories', label: 'Repositories', matches: within('/repositories') },
  { href: '/tokens', label: 'Access tokens', matches: exact('/tokens') },
  { href: '/roles', label: 'Roles', matches: exact('/roles') },
  { href: '/system', label: 'System', matches: exact('/system') },
];

const ADMIN: NavItem[] = [
  { href: '/users', label: 'Users', matches: exact('/users') },
  { href: '/audit', label: 'Audit log', matches: exact('/audit') },
];

export function Layout(props: { location: Location; children: ComponentChildren }) {
  const { session, signOut } = useApp();
  const [menuOpen, setMenuOpen] = useState(false);
  const firstRender = useRef(true);
  const path = props.location.path;

  useEffect(() => {
    setMenuOpen(false);
    if (firstRender.current) {
      firstRender.current = false;
      return;
    }
    window.scrollTo(0, 0);
    document.querySelector<HTMLElement>('main h1')?.focus();
  }, [path]);

  const items = session.isAdmin ? [...BROWSE, ...ADMIN] : BROWSE;
  return (
    <div class="shell">
      <a class="skip-link" href="#main">
        Skip to content
      </a>
      <header class={menuOpen ? 'topbar menu-open' : 'topbar'}>
        <Link href="/" class="brand">
          <span class="brand-mark" aria-hidden="true">
            ⚓
          </span>{' '}
          Berth
        </Link>
        <button
          type="button"
          class="button subtle menu-button"
          aria-expanded={menuOpen}
          aria-controls="primary-nav account"
          onClick={() => setMenuOpen(!menuOpen)}
        >
          Menu
        </button>
        <nav id="primary-nav" class="nav" aria-label="Main">
          <ul>
            {items.map((item) => (
              <li key={item.href}>
                <Link
                  href={item.href}
                  class="nav-link"
                  {...(item.matches(path) ? { 'aria-current': 'page' as const } : {})}
                >
                  {item.label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <div class="account" id="account">
          {session.authEnabled ? (
            <>
              <Link
                href="/account"
                class="account-name"
                title="My account"
                {...(path === '/account' ? { 'aria-current': 'page' as const } : {})}
              >
                <span class="visually-hidden">My account: </span>
                {session.user}
                {session.isAdmin && <Badge tone="info">admin</Badge>}
              </Link>
              {session.via === 'session' && (
                <button type="button" class="button subtle" onClick={() => void signOut()}>
                  Sign out
                </button>
              )}
            </>
          ) : (
            <Badge tone="warn">authentication off</Badge>
          )}
        </div>
      </header>
      <main id="main" tabIndex={-1} class="content">
        {props.children}
      </main>
    </div>
  );
}
