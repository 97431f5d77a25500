import { formatCount } from '../format';

/** "51–100 of 240" with previous/next; nothing when everything fits on one page. */
export function Pagination(props: {
  total: number;
  limit: number;
  offset: number;
  label: string;
  onChange: (offset: number) => void;
}) {
  const { total, limit, offset } = props;
  if (total <= limit && offset === 0) return null;
  const first = total === 0 ? 0 : offset + 1;
  const last = Math.min(total, offset + limit);
  return (
    <nav class="pagination" aria-label={`${props.label} pages`}>
      <button
        type="button"
        class="button"
        disabled={offset === 0}
        onClick={() => props.onChange(Math.max(0, offset - limit))}
      >
        Previous
      </button>
      <span aria-live="polite">
        {formatCount(first)}–{formatCount(last)} of {formatCount(total)}
      </span>
      <button
        type="button"
        class="button"
        disabled={last >= total}
        onClick={() => props.onChange(offset + limit)}
      >
        Next
      </button>
    </nav>
  );
}
