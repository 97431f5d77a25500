/**
 * @module cli/commands/retention
 * `berth retention run [NAMESPACE] [--dry-run] [--json]`: applies namespaces' retention policies
 * (lifecycle/retention.ts) on a data directory, whether or not a server runs on it: every change
 * is one store transaction that checks again, as a push's does.
 */
import type { Command } from 'commander';
import { dataOptions, withDataDir, type DataFlags } from '../data.js';

export function registerRetentionCommand(program: Command): void {
  const retention = program
    .command('retention')
    .description("namespaces' retention policies (set with: berth namespace set NAME --retention)");
  dataOptions(
    retention
      .command('run [namespace]')
      .description(
        'remove the tags no keep-rule keeps, and manifests left untagged by that (safe while serving)',
      )
      .option('--dry-run', 'only list what would be removed', false)
      .option('--json', 'print the report as JSON', false),
  ).action(
    async (
      namespace: string | undefined,
      flags: DataFlags & { dryRun: boolean; json: boolean },
    ) => {
      const { runRetention, retentionCounts } = await import('../../lifecycle/retention.js');
      const report = await withDataDir(flags, async ({ dataDir, actor }) => {
        const result = await runRetention(
          { meta: dataDir.meta },
          { namespace, dryRun: flags.dryRun, now: new Date() },
        );
        if (!result.dryRun) {
          await dataDir.meta.appendAudit([
            {
              at: new Date().toISOString(),
              actor: actor.name,
              action: 'retention.run',
              target: namespace ?? '*',
              outcome: 'success',
              client: actor.client,
              detail: retentionCounts(result),
            },
          ]);
        }
        return result;
      });
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
        return;
      }
      const verb = report.dryRun ? 'would remove' : 'removed';
      for (const t of report.tags) {
        process.stdout.write(`${verb} tag ${t.repository}:${t.tag} (${t.reason ?? t.digest})\n`);
      }
      for (const m of report.manifests)
        process.stdout.write(`${verb} manifest ${m.repository}@${m.digest}\n`);
      process.stdout.write(
        report.namespaces.length === 0
          ? 'retention: no namespace has a policy that removes tags\n'
          : `retention${report.dryRun ? ' (dry run)' : ''}: ${report.namespaces.join(', ')}: ` +
              `${verb} ${report.tags.length} tag(s) and ${report.manifests.length} manifest(s), ` +
              `kept ${report.kept} tag(s)\n`,
      );
    },
  );
}
