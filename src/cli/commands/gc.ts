/**
 * @module cli/commands/gc
 * `berth gc [--dry-run] [--grace DURATION] [--json]`: collects garbage in a data directory, also
 * while a server runs on it (lifecycle/gc.ts: online, one real run at a time across processes).
 * Exit code 0 when the run finished, 1 when it failed or another run is going.
 */
import type { Command } from 'commander';
import { formatDuration, parseDuration } from '../../core/duration.js';
import { ConfigError } from '../../config/errors.js';
import type { GcReport } from '../../lifecycle/gc.js';
import { dataOptions, requireRegistry, withDataDir, type DataFlags } from '../data.js';
import { formatSize } from '../../core/quota.js';

function summary(r: GcReport): string {
  const verb = r.dryRun ? 'would remove' : 'removed';
  const parts = [
    `${r.manifests} manifests`,
    `${r.blobs} blobs (${formatSize(r.bytes)})`,
    `${r.links} blob links`,
    `${r.uploads} expired uploads`,
    `${r.orphanFiles} orphan files`,
  ];
  const retention = r.retention
    ? `; retention ${r.dryRun ? 'would remove' : 'removed'} ${r.retention.tags} tags and ${r.retention.manifests} manifests`
    : '';
  return (
    `gc${r.dryRun ? ' (dry run)' : ''}: ${verb} ${parts.join(', ')}${retention} ` +
    `in ${(r.durationMs / 1000).toFixed(1)} s (grace ${formatDuration(r.graceMs)})`
  );
}

export function registerGcCommand(program: Command): void {
  dataOptions(
    program
      .command('gc')
      .description('remove what nothing references any more (online: safe while serving)')
      .option('--dry-run', 'report what would be removed, change nothing', false)
      .option(
        '--grace <duration>',
        'keep unreferenced content used within this long (default gc.grace, 1h): 30m, 2h, 90s',
      )
      .option('--json', 'print the report as JSON', false),
  ).action(async (flags: DataFlags & { dryRun: boolean; grace?: string; json: boolean }) => {
    let graceMs: number | undefined;
    if (flags.grace !== undefined) {
      const parsed = parseDuration(flags.grace);
      if (parsed === null)
        throw new ConfigError(`--grace ${flags.grace} is not a duration like 30m, 1h or 90s`);
      graceMs = parsed;
    }
    // A mistyped --data must not make (and collect) an empty registry with a new admin password.
    await requireRegistry(flags);
    const { createGcService } = await import('../../lifecycle/gc-service.js');
    const report = await withDataDir(flags, async ({ config, dataDir, registry, audit, actor }) => {
      const gc = createGcService({
        meta: dataDir.meta,
        storage: dataDir.storage,
        uploads: registry.uploads,
        config,
        audit,
      });
      return gc.run({ trigger: 'cli', dryRun: flags.dryRun, graceMs, actor });
    });
    if (flags.json) {
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    } else {
      if (flags.dryRun) {
        for (const m of report.removed.manifests) process.stdout.write(`manifest ${m}\n`);
        for (const b of report.removed.blobs) process.stdout.write(`blob ${b}\n`);
        if (report.removed.truncated) process.stdout.write('… (the counts below cover all)\n');
      }
      process.stdout.write(`${summary(report)}\n`);
    }
    if (report.error !== undefined) {
      process.stderr.write(`berth gc: stopped early: ${report.error}\n`);
      process.exitCode = 1;
    }
  });
}
