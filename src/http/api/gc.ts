/**
 * @module http/api/gc
 * Garbage collection for registry administrators: `POST /gc` runs one (`dryRun=true`: only
 * counts what it would remove) and answers when it has finished; `GET /gc` lists the last runs,
 * those of `berth gc` and the schedule too. A second real run while one is going is 409.
 */
import { Type } from '@sinclair/typebox';
import { parseDuration } from '../../core/duration.js';
import type { GcRunRow } from '../../meta/gc.js';
import { invalid, type Api } from './context.js';

const GcReport = Type.Object({
  durationMs: Type.Integer(),
  graceMs: Type.Integer({ description: 'Unreferenced content younger than this was kept' }),
  untaggedAfterMs: Type.Integer({ description: '0: untagged manifests are kept' }),
  manifests: Type.Integer({ description: 'Manifests removed (or that would be)' }),
  links: Type.Integer({ description: 'Blob links removed from repositories' }),
  blobs: Type.Integer({ description: 'Blobs removed from storage' }),
  bytes: Type.Integer({ description: 'Bytes reclaimed' }),
  uploads: Type.Integer({ description: 'Expired upload sessions removed' }),
  orphanFiles: Type.Integer({ description: 'Files without a row removed' }),
  trashSettled: Type.Integer(),
  maxRssBytes: Type.Integer({ description: "The process's peak resident memory at the end" }),
  retention: Type.Union([
    Type.Object({ tags: Type.Integer(), manifests: Type.Integer() }),
    Type.Null(),
  ]),
  removed: Type.Object({
    manifests: Type.Array(Type.String(), { description: '`repository@digest`, the first 1000' }),
    blobs: Type.Array(Type.String(), { description: 'Digests, the first 1000' }),
    truncated: Type.Boolean(),
  }),
  error: Type.Optional(Type.String({ description: 'Why the run stopped early' })),
});

const GcRun = Type.Object({
  id: Type.String(),
  trigger: Type.Union([Type.Literal('cli'), Type.Literal('api'), Type.Literal('schedule')]),
  dryRun: Type.Boolean(),
  status: Type.Union([
    Type.Literal('running'),
    Type.Literal('done'),
    Type.Literal('failed'),
    Type.Literal('abandoned'),
  ]),
  startedAt: Type.String(),
  finishedAt: Type.Union([Type.String(), Type.Null()]),
  report: Type.Union([GcReport, Type.Null()]),
});

const GcRuns = Type.Object({
  running: Type.Union([GcRun, Type.Null()], { description: 'A real run going now' }),
  runs: Type.Array(GcRun, { description: 'The last 20 runs, newest first' }),
});

const GcQuery = Type.Object(
  {
    dryRun: Type.Optional(Type.Boolean({ description: 'Count, change nothing (default false)' })),
    grace: Type.Optional(
      Type.String({ maxLength: 32, description: 'Overrides gc.grace for this run: `30m`, `1h`' }),
    ),
  },
  { additionalProperties: false },
);

const HISTORY = 20;

function view(row: GcRunRow): typeof GcRun.static {
  let report: typeof GcReport.static | null = null;
  if (row.report !== null) {
    try {
      report = JSON.parse(row.report) as typeof GcReport.static;
    } catch {
      report = null;
    }
  }
  return {
    id: row.id,
    trigger: row.trigger as typeof GcRun.static.trigger,
    dryRun: row.dryRun,
    status: row.status,
    startedAt: row.startedAt,
    finishedAt: row.finishedAt,
    report,
  };
}

export function registerGcRoutes(api: Api): void {
  const { gc } = api.options;

  api.route({
    method: 'GET',
    url: '/gc',
    operationId: 'listGcRuns',
    summary: 'The last garbage collections (from the API, `berth gc` and the schedule)',
    tag: 'lifecycle',
    access: 'admin',
    response: GcRuns,
    handler: async () => {
      const runs = (await gc.runs(HISTORY)).map(view);
      return {
        running: runs.find((r) => r.status === 'running' && !r.dryRun) ?? null,
        runs,
      };
    },
  });

  api.route({
    method: 'POST',
    url: '/gc',
    operationId: 'runGc',
    summary: 'Collect garbage now (dryRun=true: report what would be removed)',
    description:
      'Runs online: pushes and pulls go on. Removes manifests nothing keeps (untagged, not a ' +
      "kept index's child or a kept subject's referrer, older than gc.untaggedAfter), blob " +
      'links no manifest uses that are older than the grace, blobs left without links, expired ' +
      'upload sessions and orphan files; applies retention policies first. Answers when done. ' +
      '409 while another run is going.',
    tag: 'lifecycle',
    access: 'admin',
    querystring: GcQuery,
    response: GcRun,
    handler: async ({ caller, request, query }) => {
      let graceMs: number | undefined;
      if (query.grace !== undefined) {
        const parsed = parseDuration(query.grace);
        if (parsed === null)
          throw invalid(`grace ${JSON.stringify(query.grace)} is not a duration like 30m or 1h`);
        graceMs = parsed;
      }
      const report = await gc.run({
        trigger: 'api',
        dryRun: query.dryRun ?? false,
        graceMs,
        actor: api.actor(caller, request),
      });
      return {
        id: report.id,
        trigger: report.trigger,
        dryRun: report.dryRun,
        status: report.error === undefined ? ('done' as const) : ('failed' as const),
        startedAt: report.startedAt,
        finishedAt: report.finishedAt,
        report,
      };
    },
  });
}
