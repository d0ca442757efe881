import { Hono } from 'hono';
import { z } from 'zod';
import { SCOPES } from '../../auth/jwt.js';
import { listAuditEvents } from '../../domain/audit/query.js';
import { fieldErrors } from '../../domain/sending/input.js';
import { parseRfc3339, rfc3339Time } from '../../domain/time/rfc3339.js';
import { ValidationError } from '../../errors.js';
import type { ApiDeps, ApiEnv } from '../env.js';
import { requireScope } from '../middleware/auth.js';

/** Under /api/v1. */
export const AUDIT_PATH = '/admin/audit';

/** GET /admin/audit query: the caller's tenant's audit events, newest first. */
export const auditQuery = z.strictObject({
  action: z
    .string()
    .max(100)
    .regex(/^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)*(\.\*)?$/, 'must be an action such as template.update, or a prefix ending in .* such as queue.*')
    .optional()
    .meta({ description: 'this action exactly (template.update), or every action under a prefix ending in `.*` (queue.*)' }),
  actor: z.string().min(1).max(200).optional().meta({ description: "the actor's token subject, exactly" }),
  target: z.string().min(1).max(1000).optional().meta({ description: 'the target exactly, as kind:id (template:order_ready, job:deliver-email/42)' }),
  since: rfc3339Time().optional().meta({ description: 'events at or after this RFC 3339 time' }),
  until: rfc3339Time().optional().meta({ description: 'events before this RFC 3339 time' }),
  cursor: z
    .string()
    .regex(/^\d{1,18}$/, 'must be the next_cursor of the previous page')
    .optional()
    .meta({ description: "the previous page's next_cursor: this page continues below it" }),
  limit: z.coerce.number().int().min(1).max(200).default(50).meta({ description: 'events per page (default 50, at most 200)' }),
});

/** GET /api/v1/admin/audit (scope admin): the audit log of the caller's tenant, filtered and a page at a time. */
export function adminAuditRoutes(deps: ApiDeps) {
  const app = new Hono<ApiEnv>();
  app.get(AUDIT_PATH, requireScope(SCOPES.admin), async (c) => {
    const q = auditQuery.safeParse(c.req.query());
    if (!q.success) throw new ValidationError(fieldErrors(q.error), 'The query has invalid parameters.');
    const since = q.data.since ? parseRfc3339(q.data.since)! : undefined;
    const until = q.data.until ? parseRfc3339(q.data.until)! : undefined;
    if (since && until && until <= since) throw new ValidationError([{ path: 'until', message: 'must be later than since' }], 'The query has invalid parameters.');
    const { action, actor, target, cursor, limit } = q.data;
    const page = await listAuditEvents(deps.orm.em.fork(), c.get('principal').tenant, { action, actor, target, since, until }, { limit, cursor });
    return c.json(page);
  });
  return app;
}
