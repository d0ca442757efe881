import { Hono } from 'hono';
import { z } from 'zod';
import type { NotificationAction } from '../../../queues/jobs.js';
import { SCOPES } from '../../auth/jwt.js';
import { NotFoundError, ValidationError } from '../../errors.js';
import { deliverySummary, listDeliveries, presentDelivery } from '../../domain/delivery/records.js';
import { actionCounts } from '../../domain/inbox/actions.js';
import { isUuid } from '../../domain/ids.js';
import { fieldErrors } from '../../domain/sending/input.js';
import type { ApiDeps, ApiEnv } from '../env.js';

/** Status of a direct (multi-channel) send, which has no notification row: derived from its deliveries. */
function derivedStatus(statuses: string[]): string {
  if (statuses.includes('sent')) return 'sent';
  if (statuses.some((s) => s === 'queued' || s === 'sending')) return 'processing';
  if (statuses.includes('failed')) return 'failed';
  return 'skipped';
}

export const pageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  offset: z.coerce.number().int().min(0).default(0),
  status: z.enum(['queued', 'sending', 'sent', 'failed', 'skipped']).optional(),
  channel: z.enum(['email', 'sms', 'wechat', 'feishu', 'push', 'webhook']).optional(),
});

/** GET /notifications/:id/deliveries: the sender (notify:send) or an admin of the tenant; anyone else gets 404. */
export function deliveryRoutes(deps: ApiDeps) {
  const app = new Hono<ApiEnv>();

  app.get('/notifications/:id/deliveries', async (c) => {
    const who = c.get('principal');
    const id = c.req.param('id');
    const missing = new NotFoundError(`Notification ${id} was not found.`);
    if (!isUuid(id)) throw missing;
    const q = pageQuery.safeParse(c.req.query());
    if (!q.success) throw new ValidationError(fieldErrors(q.error), 'The query has invalid parameters.');
    const em = deps.orm.em.fork();
    const [notification] = await em.execute<{ sender: string; status: string; channels: string[]; actions: NotificationAction[] }[]>(
      `select sender, status, channels, actions from notifications where tenant = ? and id = ?`,
      [who.tenant, id],
    );
    // a direct (multi-channel) send has no notification row: its deliveries name the sender
    const [first] = notification ? [] : await listDeliveries(em, who.tenant, id, { limit: 1 });
    const sender = notification?.sender ?? first?.sender;
    if (!sender) throw missing;
    const allowed = who.scopes.has(SCOPES.admin) || (who.scopes.has(SCOPES.send) && who.sub === sender);
    if (!allowed) throw missing;
    // a role send can have a delivery per member: the list is paged, the summary counts them all
    const rows = await listDeliveries(em, who.tenant, id, q.data);
    const summary = await deliverySummary(em, who.tenant, id);
    const statuses = Object.values(summary.by_channel).flatMap((s) => Object.keys(s));
    return c.json({
      notification_id: id,
      status: notification?.status ?? derivedStatus(statuses),
      channels: notification?.channels ?? Object.keys(summary.by_channel),
      summary: summary.by_channel,
      total: summary.total,
      deliveries: rows.map(presentDelivery),
      count: rows.length,
      limit: q.data.limit,
      offset: q.data.offset,
      // what recipients did with the notification's buttons (a direct send has none)
      actions_taken: notification ? await actionCounts(em, who.tenant, id, notification.actions) : [],
    });
  });

  return app;
}
