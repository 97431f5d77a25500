/**
 * @module cli/commands/fsck
 * `berth fsck [--repair]`: checks blobs, manifests and files of a data directory against each
 * other (lifecycle/fsck.ts). Safe beside a running server. Exit code 0 when clean, 1 when
 * something was found, repaired or not: a scheduled run should tell someone either way.
 */
import type { Command } from 'commander';
import { dataOptions, requireRegistry, withDataDir, type DataFlags } from '../data.js';
import { formatSize } from '../../core/quota.js';

/** Progress on a terminal at most this often: enough to see it move, not enough to flood it. */
const PROGRESS_EVERY_MS = 1000;

export function registerFsckCommand(program: Command): void {
  dataOptions(
    program
      .command('fsck')
      .description('check that stored blobs, manifests and files agree (safe while serving)')
      .option(
        '--repair',
        'quarantine corrupt blobs, drop rows of missing ones, remove orphan files older than 1 h',
        false,
      )
      .option('--json', 'print the report as JSON', false),
  ).action(async (flags: DataFlags & { repair: boolean; json: boolean }) => {
    const { runFsck, formatFinding, DEFAULT_GRACE_MS } = await import('../../lifecycle/fsck.js');
    // Other commands initialise a new directory; a check of a mistyped --data would then find an
    // empty registry and report "no problems".
    await requireRegistry(flags);
    const report = await withDataDir(flags, async ({ dataDir }) => {
      let shown = Date.now();
      const progress = process.stderr.isTTY
        ? (p: { blobs: number; bytes: number }) => {
            if (Date.now() - shown < PROGRESS_EVERY_MS) return;
            shown = Date.now();
            process.stderr.write(`\rberth fsck: ${p.blobs} blobs, ${formatSize(p.bytes)} hashed`);
          }
        : undefined;
      const result = await runFsck(dataDir.meta, dataDir.storage, {
        repair: flags.repair,
        graceMs: DEFAULT_GRACE_MS,
        ...(progress ? { onProgress: progress } : {}),
        ...(flags.json
          ? {}
          : { onFinding: (f) => void process.stdout.write(`${formatFinding(f)}\n`) }),
      });
      if (progress) process.stderr.write('\r\x1b[K');
      return result;
    });
    if (flags.json) {
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    } else {
      const found = Object.entries(report.counts)
        .filter(([, n]) => n > 0)
        .map(([kind, n]) => `${n} ${kind}`);
      const recent = report.findings.filter((f) => f.recent).length;
      process.stdout.write(
        `fsck: ${report.blobs} blobs (${formatSize(report.bytes)}) checked in ` +
          `${(report.durationMs / 1000).toFixed(1)} s: ` +
          (found.length > 0 ? found.join(', ') : 'no problems') +
          `${recent > 0 ? `; ${recent} recent file(s) left alone` : ''}\n`,
      );
    }
    if (!report.clean) process.exitCode = 1;
  });
}
