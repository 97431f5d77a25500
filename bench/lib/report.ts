/**
 * Turns the rounds into the summary: per figure, each registry's median over the rounds and the
 * candidate/reference ratio, taken per round (both measured in the same round, so they share the
 * machine's mood) and summarised by its median and its min–max spread. Printed as a Markdown table.
 */
import type { Limit } from './limits.js';
import type { Better, Figure } from './scenario.js';
import type { Role } from './servers.js';
import { ROLE_LABEL } from './servers.js';
import { median } from './stats.js';

export interface RoundResult {
  round: number;
  order: Role[];
  figures: Record<Role, Figure[]>;
  errors: { role: Role; scenario: string; message: string }[];
}

export interface SummaryRow {
  key: string;
  label: string;
  unit: string;
  better: Better;
  candidate: number | null;
  reference: number | null;
  ratio: number | null;
  ratioMin: number | null;
  ratioMax: number | null;
  /** Rounds in which both registries had a value. */
  pairs: number;
  notes: string[];
}

export function summarize(rounds: RoundResult[]): SummaryRow[] {
  interface Row extends SummaryRow {
    values: Record<Role, number[]>;
    ratios: number[];
    /** Each distinct note, with the registries it was given for. */
    noteRoles: Map<string, Set<Role>>;
  }
  const rows = new Map<string, Row>();
  for (const round of rounds) {
    for (const role of ['candidate', 'reference'] as const) {
      for (const f of round.figures[role]) {
        let row = rows.get(f.key);
        if (!row) {
          row = {
            key: f.key,
            label: f.label,
            unit: f.unit,
            better: f.better,
            candidate: null,
            reference: null,
            ratio: null,
            ratioMin: null,
            ratioMax: null,
            pairs: 0,
            notes: [],
            values: { candidate: [], reference: [] },
            ratios: [],
            noteRoles: new Map(),
          };
          rows.set(f.key, row);
        }
        if (f.value !== null && Number.isFinite(f.value)) row.values[role].push(f.value);
        if (f.note !== undefined) {
          const roles = row.noteRoles.get(f.note) ?? new Set<Role>();
          row.noteRoles.set(f.note, roles.add(role));
        }
      }
    }
    for (const c of round.figures.candidate) {
      const r = round.figures.reference.find((f) => f.key === c.key);
      if (c.value !== null && r?.value != null && r.value !== 0) {
        rows.get(c.key)?.ratios.push(c.value / r.value);
      }
    }
  }
  return [...rows.values()].map(({ values, ratios, noteRoles, ...row }) => ({
    ...row,
    notes: [...noteRoles].map(
      ([note, roles]) => `${[...roles].map((r) => ROLE_LABEL[r]).join(', ')}: ${note}`,
    ),
    candidate: values.candidate.length > 0 ? median(values.candidate) : null,
    reference: values.reference.length > 0 ? median(values.reference) : null,
    ratio: ratios.length > 0 ? median(ratios) : null,
    ratioMin: ratios.length > 0 ? Math.min(...ratios) : null,
    ratioMax: ratios.length > 0 ? Math.max(...ratios) : null,
    pairs: ratios.length,
  }));
}

/** Three significant digits, thousands grouped. */
export function formatNumber(value: number | null): string {
  if (value === null || !Number.isFinite(value)) return '—';
  const abs = Math.abs(value);
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
  return value.toLocaleString('en-US', {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

function ratio(value: number | null): string {
  return value === null ? '—' : `${value.toFixed(2)}×`;
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [
    line(header),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...rows.map(line),
  ].join('\n');
}

export function formatSummary(rows: SummaryRow[], withReference: boolean): string {
  const header = withReference
    ? [
        'figure',
        'unit',
        'better',
        ROLE_LABEL.candidate,
        ROLE_LABEL.reference,
        'ratio',
        'spread (min–max)',
      ]
    : ['figure', 'unit', 'better', ROLE_LABEL.candidate];
  const body = rows.map((r) => {
    const cells = [r.label, r.unit, r.better, formatNumber(r.candidate)];
    if (withReference) {
      cells.push(
        formatNumber(r.reference),
        ratio(r.ratio),
        r.ratioMin === null ? '—' : `${r.ratioMin.toFixed(2)}–${r.ratioMax?.toFixed(2) ?? '?'}`,
      );
    }
    return cells;
  });
  const notes = rows.flatMap((r) => r.notes.map((n) => `- ${r.label} — ${n}`));
  return [table(header, body), ...(notes.length > 0 ? ['', 'Notes:', ...notes] : [])].join('\n');
}

export function formatLimits(limits: Limit[]): string {
  return table(
    ['machine limit', 'unit', 'value'],
    limits.map((l) => [l.label, l.unit, formatNumber(l.value)]),
  );
}
