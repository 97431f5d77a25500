/**
 * @module http/api/retention
 * `POST /retention`: applies namespaces' retention policies now (lifecycle/retention.ts), or with
 * `dryRun=true` lists what that would remove. One namespace needs `admin` on it; all of them (no
 * `namespace`) need the registry administrator. A real run goes to the audit log with its counts.
 */
import { Type } from '@sinclair/typebox';
import { retentionCounts, runRetention } from '../../lifecycle/retention.js';
import { denied, type Api } from './context.js';

const RetentionQuery = Type.Object(
  {
    namespace: Type.Optional(
      Type.String({ minLength: 1, maxLength: 255, description: 'Only this namespace' }),
    ),
    dryRun: Type.Optional(
      Type.Boolean({ description: 'List what would be removed, change nothing (default false)' }),
    ),
  },
  { additionalProperties: false },
);

const RetentionReport = Type.Object({
  dryRun: Type.Boolean(),
  namespaces: Type.Array(Type.String(), {
    description: 'The namespaces whose policy prunes tags',
  }),
  tags: Type.Array(
    Type.Object({
      repository: Type.String(),
      tag: Type.String(),
      digest: Type.String(),
      reason: Type.Optional(Type.String()),
    }),
    { description: 'Tags removed (or that would be)' },
  ),
  manifests: Type.Array(Type.Object({ repository: Type.String(), digest: Type.String() }), {
    description: 'Manifests deleted with their last tag (or that would be)',
  }),
  kept: Type.Integer({ description: 'Tags of those namespaces that stay' }),
});

export function registerRetentionRoutes(api: Api): void {
  api.route({
    method: 'POST',
    url: '/retention',
    operationId: 'runRetention',
    summary: "Apply namespaces' retention policies now (dryRun=true: only list what would go)",
    description:
      'Removes the tags no keep-rule of the namespace keeps, and manifests left untagged by that ' +
      '(unless an index lists them). Immutable tags, tags of referrers and cosign signature tags ' +
      'of kept images stay. `namespace` needs admin on it; without it, the registry administrator.',
    tag: 'lifecycle',
    access: 'signed-in',
    querystring: RetentionQuery,
    response: RetentionReport,
    handler: async ({ caller, request, query }) => {
      const { namespace } = query;
      if (namespace === undefined) {
        if (!(await api.isAdmin(caller)))
          throw denied('retention of every namespace needs the registry administrator');
      } else if (!(await api.actions(caller, namespace)).has('admin')) {
        throw denied(`retention of namespace "${namespace}" needs the admin action on it`);
      }
      const dryRun = query.dryRun ?? false;
      const report = await runRetention(
        { meta: api.options.meta },
        { namespace, dryRun, now: new Date() },
      );
      if (!dryRun)
        api.record(caller, request, 'retention.run', namespace ?? '*', retentionCounts(report));
      return report;
    },
  });
}
