/**
 * @module lifecycle/gc-service
 * Garbage collection as the server, the admin API and `berth gc` run it: the configured grace
 * and untagged age, retention first (lifecycle/retention.ts), the run recorded in the audit log,
 * and in the server a schedule (`gc.schedule`) that a shutdown stops between two steps.
 */
import type { AuditLog } from '../auth/audit.js';
import type { Config } from '../config/schema.js';
import { parseDuration } from '../core/duration.js';
import type { GcRunRow } from '../meta/gc.js';
import type { UploadService } from '../registry/uploads.js';
import type { StorageDriver } from '../storage/driver.js';
import { runGc, type GcDeps, type GcReport, type GcTrigger } from './gc.js';
import { runRetention, type RetentionDeps } from './retention.js';

export interface GcRequest {
  trigger: GcTrigger;
  dryRun: boolean;
  /** Overrides `gc.grace` for this run. */
  graceMs?: number | undefined;
  /** Who asked, for the audit log. */
  actor: { name: string; client: string };
}

export interface GcService {
  run(request: GcRequest): Promise<GcReport>;
  /** Newest first. */
  runs(limit: number): Promise<GcRunRow[]>;
  /** Starts the `gc.schedule` timer (the server only). */
  schedule(onReport: (report: GcReport) => void, onError: (err: unknown) => void): void;
  /** Stops the schedule and any run this process has going (it ends at its next step). */
  stop(): Promise<void>;
}

const SCHEDULES: Record<string, number> = {
  hourly: 3_600_000,
  daily: 86_400_000,
  weekly: 7 * 86_400_000,
};

/** The schedule's interval in ms; null for `off`. */
export function scheduleInterval(schedule: string): number | null {
  if (schedule === 'off') return null;
  const ms = SCHEDULES[schedule] ?? parseDuration(schedule);
  return ms === null || ms === 0 ? null : ms;
}

export function createGcService(deps: {
  meta: GcDeps['meta'] & RetentionDeps['meta'];
  storage: StorageDriver;
  uploads: UploadService;
  config: Config;
  audit: AuditLog;
}): GcService {
  const { meta, config, audit } = deps;
  const controller = new AbortController();
  const active = new Set<Promise<unknown>>();
  let timer: NodeJS.Timeout | undefined;

  async function run(request: GcRequest): Promise<GcReport> {
    const graceMs = request.graceMs ?? parseDuration(config.gc.grace) ?? 3_600_000;
    const work = runGc(deps, {
      trigger: request.trigger,
      dryRun: request.dryRun,
      graceMs,
      untaggedAfterMs: parseDuration(config.gc.untaggedAfter) ?? 0,
      uploadTtlMs: config.registry.uploadTtlHours * 3_600_000,
      signal: controller.signal,
      retention: async (dryRun) => {
        const report = await runRetention({ meta }, { dryRun, now: new Date() });
        return { tags: report.tags.length, manifests: report.manifests };
      },
    });
    active.add(work);
    try {
      const report = await work;
      if (!request.dryRun) {
        audit.record({
          actor: request.actor.name,
          client: request.actor.client,
          action: 'gc.run',
          target: report.id,
          outcome: report.error === undefined ? 'success' : 'failure',
          detail: {
            trigger: report.trigger,
            manifests: report.manifests,
            blobs: report.blobs,
            bytes: report.bytes,
            links: report.links,
            uploads: report.uploads,
            orphanFiles: report.orphanFiles,
            retention: report.retention,
            durationMs: report.durationMs,
            ...(report.error === undefined ? {} : { error: report.error }),
          },
        });
      }
      return report;
    } finally {
      active.delete(work);
    }
  }

  return {
    run,
    runs: (limit) => meta.listGcRuns(limit),
    schedule(onReport, onError) {
      const every = scheduleInterval(config.gc.schedule);
      if (every === null) return;
      timer = setInterval(() => {
        run({
          trigger: 'schedule',
          dryRun: false,
          actor: { name: 'system', client: 'schedule' },
        }).then(onReport, onError);
      }, every);
      timer.unref();
    },
    async stop() {
      clearInterval(timer);
      controller.abort();
      await Promise.allSettled([...active]);
    },
  };
}
