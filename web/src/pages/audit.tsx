/**
 * The audit log (administrators): who did what, when, from where; newest first, filtered by
 * actor, action and time, and paged backwards with "Show older events". Filters live in the
 * address so a filtered view can be shared.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { get, messageOf, query } from '../api';
import {
  Badge,
  EmptyState,
  ErrorMessage,
  Loading,
  PageHeader,
  TableWrap,
  Time,
} from '../components/ui';
import { navigate } from '../router';
import type { AuditEvent, AuditPage as AuditPageData } from '../types';

const PAGE_SIZE = 100;

const KNOWN_ACTIONS = [
  'login',
  'logout',
  'push',
  'delete',
  'namespace.create',
  'namespace.update',
  'namespace.delete',
  'gc.run',
  'retention.run',
  'user.create',
  'user.delete',
  'user.disable',
  'user.enable',
  'user.password',
  'role.put',
  'role.delete',
  'role.bind',
  'role.unbind',
  'token.create',
  'token.revoke',
];

const OUTCOME_TONE = { success: 'good', failure: 'bad', denied: 'warn' } as const;

/** `datetime-local` value (local time, no zone) → ISO 8601 for the API; '' stays ''. */
function localToIso(value: string): string {
  if (value === '') return '';
  const t = new Date(value).getTime();
  return Number.isNaN(t) ? '' : new Date(t).toISOString();
}

function isoToLocal(iso: string): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '';
  const d = new Date(t - new Date(t).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 16);
}

export function AuditPage(props: { query: URLSearchParams }) {
  const actor = props.query.get('actor') ?? '';
  const action = props.query.get('action') ?? '';
  const since = props.query.get('since') ?? '';
  const [form, setForm] = useState({ actor, action, since: isoToLocal(since) });
  const [events, setEvents] = useState<AuditEvent[] | null>(null);
  const [nextBefore, setNextBefore] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loadingMore, setLoadingMore] = useState(false);

  const filters = query({ actor, action, since, limit: PAGE_SIZE });
  /** The filters the form was last filled from: the state's initial value covers the first. */
  const formFilters = useRef(filters);

  useEffect(() => {
    // Refilled only when the address changes (Back, Clear, a link), not after the first render:
    // what someone typed before this effect ran must stay.
    if (formFilters.current !== filters) {
      formFilters.current = filters;
      setForm({ actor, action, since: isoToLocal(since) });
    }
    const controller = new AbortController();
    setEvents(null);
    setError(null);
    get<AuditPageData>(`/audit${filters}`, controller.signal).then(
      (page) => {
        setEvents(page.items);
        setNextBefore(page.nextBefore);
      },
      (e: unknown) => {
        if (!controller.signal.aborted) setError(messageOf(e));
      },
    );
    return () => controller.abort();
  }, [filters]);

  async function older(): Promise<void> {
    if (nextBefore === null) return;
    setLoadingMore(true);
    try {
      const page = await get<AuditPageData>(
        `/audit${query({ actor, action, since, limit: PAGE_SIZE, before: nextBefore })}`,
      );
      setEvents((previous) => [...(previous ?? []), ...page.items]);
      setNextBefore(page.nextBefore);
    } catch (e) {
      setError(messageOf(e));
    } finally {
      setLoadingMore(false);
    }
  }

  function apply(event: Event): void {
    event.preventDefault();
    navigate(
      `/audit${query({
        actor: form.actor.trim(),
        action: form.action.trim(),
        since: localToIso(form.since),
      })}`,
    );
  }

  const filtered = actor !== '' || action !== '' || since !== '';
  return (
    <>
      <PageHeader title="Audit log" />
      <form class="filters" aria-label="Filter the audit log" onSubmit={apply}>
        <div class="field">
          <label for="audit-actor">Actor</label>
          <input
            id="audit-actor"
            autocomplete="off"
            spellcheck={false}
            value={form.actor}
            onInput={(e) => setForm({ ...form, actor: e.currentTarget.value })}
          />
        </div>
        <div class="field">
          <label for="audit-action">Action</label>
          <input
            id="audit-action"
            list="audit-actions"
            autocomplete="off"
            spellcheck={false}
            value={form.action}
            onInput={(e) => setForm({ ...form, action: e.currentTarget.value })}
          />
          <datalist id="audit-actions">
            {KNOWN_ACTIONS.map((a) => (
              <option key={a} value={a} />
            ))}
          </datalist>
        </div>
        <div class="field">
          <label for="audit-since">Since</label>
          <input
            id="audit-since"
            type="datetime-local"
            value={form.since}
            onInput={(e) => setForm({ ...form, since: e.currentTarget.value })}
          />
        </div>
        <div class="filter-buttons">
          <button type="submit" class="button primary">
            Apply filters
          </button>
          {filtered && (
            <button type="button" class="button subtle" onClick={() => navigate('/audit')}>
              Clear
            </button>
          )}
        </div>
      </form>
      <ErrorMessage error={error} />
      {events === null ? (
        error === null && <Loading what="the audit log" />
      ) : events.length === 0 ? (
        <EmptyState title={filtered ? 'No event matches these filters.' : 'No events yet.'} />
      ) : (
        <>
          <TableWrap label="Audit events" stack>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Actor</th>
                <th scope="col">Action</th>
                <th scope="col">Target</th>
                <th scope="col">Outcome</th>
                <th scope="col">Client</th>
                <th scope="col">Detail</th>
              </tr>
            </thead>
            <tbody>
              {events.map((e) => (
                <tr key={e.id}>
                  <td data-label="When">
                    <Time at={e.at} />
                  </td>
                  <td class="wrap" data-label="Actor">
                    {e.actor !== '' ? e.actor : <span class="muted">anonymous</span>}
                  </td>
                  <td data-label="Action">
                    <code>{e.action}</code>
                  </td>
                  <td class="break" data-label="Target">
                    {e.target}
                  </td>
                  <td data-label="Outcome">
                    <Badge tone={OUTCOME_TONE[e.outcome]}>{e.outcome}</Badge>
                  </td>
                  <td class="mono small" data-label="Client">
                    {e.client}
                  </td>
                  <td class="break small" data-label="Detail">
                    {e.detail && Object.keys(e.detail).length > 0 ? JSON.stringify(e.detail) : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </TableWrap>
          {nextBefore !== null && (
            <p>
              <button
                type="button"
                class="button"
                disabled={loadingMore}
                onClick={() => void older()}
              >
                {loadingMore ? 'Loading…' : 'Show older events'}
              </button>
            </p>
          )}
        </>
      )}
    </>
  );
}
