/**
 * Small building blocks every page uses: page header (title, focus target), loading and error
 * states, empty states that say what to do next, times with both relative and absolute forms.
 * Every value from the registry is rendered as a text child, never as markup.
 */
import type { ComponentChildren } from 'preact';
import { useEffect } from 'preact/hooks';
import type { ApiError } from '../api';
import { formatBytes, formatDateTime, formatRelative } from '../format';
import { Link } from '../router';

/**
 * A link named by a repository, tag or namespace name, which may be 255 characters long: one line,
 * cut with an ellipsis so the columns beside it stay in view, and whole in its tooltip. Screen
 * readers and search read the text itself, which is never cut. In a table, give its cell `fill`.
 */
export function NameLink(props: { href: string; name: string }) {
  return (
    <Link href={props.href} class="truncate" title={props.name}>
      {props.name}
    </Link>
  );
}

export function PageHeader(props: {
  title: string;
  /** Shown above the title, e.g. the namespace of a repository. */
  eyebrow?: ComponentChildren;
  children?: ComponentChildren;
}) {
  useEffect(() => {
    document.title = `${props.title} · Berth`;
  }, [props.title]);
  return (
    <header class="page-header">
      <div class="page-title">
        {props.eyebrow !== undefined && <p class="eyebrow">{props.eyebrow}</p>}
        <h1 tabIndex={-1}>{props.title}</h1>
      </div>
      {props.children !== undefined && <div class="page-actions">{props.children}</div>}
    </header>
  );
}

export function Loading(props: { what?: string }) {
  return (
    <p class="loading" role="status">
      Loading{props.what !== undefined ? ` ${props.what}` : ''}…
    </p>
  );
}

/** An error in words, announced to screen readers. */
export function ErrorMessage(props: { error: ApiError | Error | string | undefined | null }) {
  if (props.error === undefined || props.error === null) return null;
  const text = typeof props.error === 'string' ? props.error : props.error.message;
  return (
    <p class="error" role="alert">
      {text}
    </p>
  );
}

/** While data loads show Loading; on failure the error; then the children with the data. */
export function Loaded<T>(props: {
  resource: { data: T | undefined; error: ApiError | undefined; loading: boolean };
  what?: string;
  children: (data: T) => ComponentChildren;
}) {
  const { data, error } = props.resource;
  if (error) return <ErrorMessage error={error} />;
  if (data === undefined)
    return <Loading {...(props.what !== undefined ? { what: props.what } : {})} />;
  return <>{props.children(data)}</>;
}

export function EmptyState(props: { title: string; children?: ComponentChildren }) {
  return (
    <div class="empty">
      <p class="empty-title">{props.title}</p>
      {props.children}
    </div>
  );
}

/** `3 days ago`, with the exact local time on hover and for assistive technology. */
export function Time(props: { at: string | null | undefined; fallback?: string }) {
  if (props.at === null || props.at === undefined || props.at === '') {
    return <span class="muted">{props.fallback ?? '—'}</span>;
  }
  const absolute = formatDateTime(props.at);
  return (
    <time dateTime={props.at} title={absolute}>
      {formatRelative(props.at)}
    </time>
  );
}

/** A size in words (`1.2 GiB`) that keeps the exact byte count for machines in a <data> value. */
export function Bytes(props: { bytes: number }) {
  return <data value={String(props.bytes)}>{formatBytes(props.bytes)}</data>;
}

export function Badge(props: {
  tone?: 'neutral' | 'good' | 'warn' | 'bad' | 'info';
  children: ComponentChildren;
}) {
  return <span class={`badge badge-${props.tone ?? 'neutral'}`}>{props.children}</span>;
}

export function Section(props: {
  title: string;
  id?: string;
  actions?: ComponentChildren;
  children: ComponentChildren;
}) {
  const id = props.id ?? `section-${props.title.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;
  return (
    <section class="section" aria-labelledby={id}>
      <div class="section-header">
        <h2 id={id}>{props.title}</h2>
        {props.actions}
      </div>
      {props.children}
    </section>
  );
}

/**
 * A named table that scrolls sideways on narrow screens instead of breaking the page layout
 * (browsers make such a scroller keyboard-focusable themselves).
 */
export function TableWrap(props: {
  label: string;
  /**
   * On phones, show each row as a block of "label: value" lines instead of a wide table; the
   * cells then need `data-label` attributes.
   */
  stack?: boolean;
  children: ComponentChildren;
}) {
  return (
    <div class="table-wrap">
      <table aria-label={props.label} class={props.stack === true ? 'stack' : undefined}>
        {props.children}
      </table>
    </div>
  );
}
