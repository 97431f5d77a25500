/**
 * Storage by namespace as horizontal bars: which namespace is eating the disk is seen at a glance,
 * which a column of numbers does not show. Bars are SVG rects sized by attributes (no inline
 * style, so the strict CSP holds); each row still reads as text for screen readers.
 */
import { formatBytes, plural } from '../format';
import { Link } from '../router';

export interface ChartRow {
  namespace: string;
  bytes: number;
  repositories: number;
  tags: number;
}

export function StorageChart(props: { rows: readonly ChartRow[]; total: number }) {
  const largest = Math.max(1, ...props.rows.map((r) => r.bytes));
  return (
    <ul class="bar-chart" aria-label="Storage used by namespace">
      {props.rows.map((row) => {
        const width = Math.max(row.bytes > 0 ? 0.5 : 0, (row.bytes / largest) * 100);
        const share = props.total > 0 ? Math.round((row.bytes / props.total) * 100) : 0;
        return (
          <li key={row.namespace} class="bar-row">
            <Link
              class="bar-label"
              href={`/repositories?namespace=${encodeURIComponent(row.namespace)}`}
            >
              {row.namespace}
            </Link>
            <svg
              class="bar"
              viewBox="0 0 100 10"
              preserveAspectRatio="none"
              aria-hidden="true"
              focusable="false"
            >
              <rect class="bar-track" x="0" y="0" width="100" height="10" rx="1" />
              <rect class="bar-fill" x="0" y="0" width={width.toFixed(2)} height="10" rx="1" />
            </svg>
            <span class="bar-value">
              {formatBytes(row.bytes)}
              <span class="muted">
                {' '}
                · {share}% · {plural(row.repositories, 'repository', 'repositories')},{' '}
                {plural(row.tags, 'tag')}
              </span>
            </span>
          </li>
        );
      })}
    </ul>
  );
}
