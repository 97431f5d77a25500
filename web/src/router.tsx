/**
 * A tiny history-API router: the address bar is the state. `navigate` pushes (or replaces) an
 * entry and wakes every `useLocation`; `<Link>` is a real <a href> (open in new tab, copy link
 * and keyboard use all work) whose plain left click is handled without a page load.
 */
import type { ComponentChildren, TargetedMouseEvent } from 'preact';
import { useEffect, useState } from 'preact/hooks';

export interface Location {
  path: string;
  query: URLSearchParams;
  /** path + search, for "come back here after signing in". */
  href: string;
}

const listeners = new Set<() => void>();

function current(): Location {
  return {
    path: window.location.pathname,
    query: new URLSearchParams(window.location.search),
    href: window.location.pathname + window.location.search,
  };
}

function notify(): void {
  for (const listener of listeners) listener();
}

window.addEventListener('popstate', notify);

export function navigate(to: string, options: { replace?: boolean } = {}): void {
  if (to === window.location.pathname + window.location.search) return;
  if (options.replace === true) window.history.replaceState(null, '', to);
  else window.history.pushState(null, '', to);
  notify();
}

export function useLocation(): Location {
  const [location, setLocation] = useState(current);
  useEffect(() => {
    const update = (): void => {
      const next = current();
      setLocation((previous) => (previous.href === next.href ? previous : next));
    };
    listeners.add(update);
    // The address may have changed between render and subscription.
    update();
    return () => {
      listeners.delete(update);
    };
  }, []);
  return location;
}

export interface LinkProps {
  href: string;
  class?: string;
  title?: string;
  'aria-current'?: 'page';
  children?: ComponentChildren;
}

export function Link(props: LinkProps) {
  const { href, children, ...rest } = props;
  function follow(event: TargetedMouseEvent<HTMLAnchorElement>): void {
    const plainClick =
      event.button === 0 && !event.metaKey && !event.ctrlKey && !event.shiftKey && !event.altKey;
    if (event.defaultPrevented || !plainClick) return;
    event.preventDefault();
    navigate(href);
  }
  return (
    <a href={href} onClick={follow} {...rest}>
      {children}
    </a>
  );
}
