import { Hono } from 'hono';
import { SCOPES } from '../../auth/jwt.js';
import { NotFoundError } from '../../errors.js';
import { listDeliveries, presentDelivery } from '../../domain/deliveries.js';
import { isUuid } from '../../domain/ids.js';
import type { ApiDeps, ApiEnv } from '../env.js';

/** Status of a direct (multi-channel) send, which has no notification row: derived from its deliveries. */
function derivedStatus(statuses: string[]): string {
  if (statuses.includes('sent')) return 'sent';
  if (statuses.some((s) => s === 'queued' || s === 'sending')) return 'processing';
  if (statuses.includes('failed')) return 'failed';
  return 'skipped';
}

/** GET /notifications/:id/deliveries: the sender (notify:send) or an admin of the tenant; anyone else gets 404. */
export function deliveryRoutes(deps: ApiDeps) {
  const app = new Hono<ApiEnv>();

  app.get('/notifications/:id/deliveries', async (c) => {
    const who = c.get('principal');
    const id = c.req.param('id');
    const missing = new NotFoundError(`Notification ${id} was not found.`);
    if (!isUuid(id)) throw missing;
    const em = deps.orm.em.fork();
    const [notification] = await em.execute<{ sender: string; status: string; channels: string[] }[]>(
      `select sender, status, channels from notifications where tenant = ? and id = ?`,
      [who.tenant, id],
    );
    const rows = await listDeliveries(em, who.tenant, id);
    const sender = notification?.sender ?? rows[0]?.sender;
    if (!sender) throw missing;
    const allowed = who.scopes.has(SCOPES.admin) || (who.scopes.has(SCOPES.send) && who.sub === sender);
    if (!allowed) throw missing;
    return c.json({
      notification_id: id,
      status: notification?.status ?? derivedStatus(rows.map((r) => r.status)),
      channels: notification?.channels ?? [...new Set(rows.map((r) => r.channel))],
      deliveries: rows.map(presentDelivery),
      count: rows.length,
    });
  });

  return app;
}
