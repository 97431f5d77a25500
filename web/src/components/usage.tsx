/**
 * A namespace's use of its quota: as a bar and in words, and as a badge where space is short.
 */
import { formatUsage, usageTone } from '../format';
import { Badge } from './ui';

/**
 * A quota as a bar (a native <meter>: screen readers announce it, and the page needs no inline
 * style) and in words. The bar turns amber at 80% and red when full, as usageTone says.
 */
export function UsageMeter(props: { used: number; quota: number; label: string }) {
  const { used, quota } = props;
  return (
    <div class="usage">
      <meter
        class="usage-meter"
        aria-label={props.label}
        min={0}
        max={Math.max(quota, 1)}
        value={Math.min(used, quota)}
        optimum={0}
        low={quota * 0.8}
        high={Math.max(quota - 1, 0)}
      />
      <span class="usage-text">{formatUsage(used, quota)}</span>
    </div>
  );
}

/** A badge when a quota needs attention; nothing while there is room. */
export function QuotaBadge(props: { used: number; quota: number | null }) {
  const tone = usageTone(props.used, props.quota);
  if (tone === 'good') return null;
  return <Badge tone={tone}>{tone === 'bad' ? 'quota full' : 'nearly full'}</Badge>;
}
