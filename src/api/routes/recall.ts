import { Hono } from 'hono';
import { SCOPES } from '../../auth/jwt.js';
import { cancelScheduled, recallNotification, type RecallDeps } from '../../domain/recall/recall.js';
import type { ApiDeps, ApiEnv } from '../env.js';
import { requireScope } from '../middleware/auth.js';
import { notificationIdParam } from '../notification-id.js';

/** POST /notifications/:id/cancel and DELETE /notifications/:id/recall, by the notification's sender. */
export function recallRoutes(deps: ApiDeps) {
  const app = new Hono<ApiEnv>();
  const recallDeps = (): RecallDeps => ({
    em: deps.orm.em.fork(),
    redis: deps.redis,
    prefix: deps.config.QUEUE_PREFIX,
    queues: deps.queues,
    logger: deps.logger,
  });

  app.post('/notifications/:id/cancel', requireScope(SCOPES.send), async (c) => {
    const n = await cancelScheduled(recallDeps(), c.get('principal'), notificationIdParam(c));
    return c.json({ success: true, message: '定时通知已取消', id: n.id, status: n.status, notification: n });
  });

  app.delete('/notifications/:id/recall', requireScope(SCOPES.send), async (c) => {
    const n = await recallNotification(recallDeps(), c.get('principal'), notificationIdParam(c));
    return c.json({ success: true, message: n.status === 'cancelled' ? '定时通知已取消' : '通知已撤回', id: n.id, status: n.status, notification: n });
  });

  return app;
}
