/**
 * @module http/api/audit
 * The audit log, newest first, for administrators. Page backwards with `before` = the smallest id
 * of the previous page (`nextBefore`). Events are written in batches; pending ones are flushed
 * before reading so a change just made is listed.
 */
import { Type } from '@sinclair/typebox';
import { invalid, type Api } from './context.js';
import { AuditEvent } from './schemas.js';

const AuditQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
    before: Type.Optional(Type.Integer({ minimum: 1, description: 'Events with a smaller id' })),
    actor: Type.Optional(Type.String({ maxLength: 255 })),
    action: Type.Optional(
      Type.String({ maxLength: 100, description: 'Exact action, e.g. `login`, `user.create`' }),
    ),
    since: Type.Optional(
      Type.String({ maxLength: 64, description: 'ISO 8601 time: events at or after it' }),
    ),
  },
  { additionalProperties: false },
);

const AuditPage = Type.Object({
  items: Type.Array(AuditEvent),
  more: Type.Boolean(),
  nextBefore: Type.Union([Type.Integer(), Type.Null()], {
    description: 'Pass as `before` for the next page; null on the last page',
  }),
});

export function registerAuditRoutes(api: Api): void {
  const { identity, audit } = api.options;

  api.route({
    method: 'GET',
    url: '/audit',
    operationId: 'listAudit',
    summary: 'Audit events: logins, pushes, deletes and every administrative change',
    tag: 'audit',
    access: 'admin',
    querystring: AuditQuery,
    response: AuditPage,
    handler: async ({ query }) => {
      let since: string | undefined;
      if (query.since !== undefined) {
        const t = Date.parse(query.since);
        if (Number.isNaN(t)) throw invalid('since must be an ISO 8601 time');
        since = new Date(t).toISOString();
      }
      await audit.flush();
      const page = await identity.listAudit({
        limit: query.limit ?? 100,
        ...(query.before !== undefined ? { before: query.before } : {}),
        ...(query.actor !== undefined ? { actor: query.actor } : {}),
        ...(query.action !== undefined ? { action: query.action } : {}),
        ...(since !== undefined ? { since } : {}),
      });
      const last = page.items.at(-1);
      return {
        items: page.items,
        more: page.more,
        nextBefore: page.more && last ? last.id : null,
      };
    },
  });
}
