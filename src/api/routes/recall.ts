import type { EntityManager } from '@mikro-orm/postgresql';
import { Hono } from 'hono';
import { SCOPES, type Principal } from '../../auth/jwt.js';
import { actorOf } from '../../domain/audit/event.js';
import { changeAudited, recordAfterChange } from '../../domain/audit/record.js';
import { presentRow, RETURNING, type NotificationJson, type StoredRow } from '../../domain/inbox/present.js';
import { cancelScheduled, recallNotification, type RecallDeps } from '../../domain/recall/recall.js';
import type { ApiDeps, ApiEnv } from '../env.js';
import { requireScope } from '../middleware/auth.js';
import { notificationIdParam } from '../notification-id.js';

/** The notification as its sender sees it before the change, for the audit row's digest (null when it is not there). */
async function senderView(em: EntityManager, who: Principal, id: string): Promise<NotificationJson | null> {
  const [row] = await em.execute<StoredRow[]>(`select ${RETURNING} from notifications where id = ? and tenant = ? and sender = ?`, [id, who.tenant, who.sub]);
  return row ? presentRow(row) : null;
}

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

  // a cancel changes PostgreSQL alone: it commits together with its audit row
  app.post('/notifications/:id/cancel', requireScope(SCOPES.send), async (c) => {
    const who = c.get('principal');
    const id = notificationIdParam(c);
    const n = await changeAudited(deps.orm.em.fork(), actorOf(who, c.get('requestId')), async (tem) => {
      const before = await senderView(tem, who, id);
      const n = await cancelScheduled({ ...recallDeps(), em: tem }, who, id);
      return { result: n, audit: { action: 'notification.cancel', target: `notification:${n.id}`, before, after: n } };
    });
    return c.json({ success: true, message: '定时通知已取消', id: n.id, status: n.status, notification: n });
  });

  // a recall tells open sockets and removes delivery jobs in Redis, which no rollback can undo: its row is written after it
  app.delete('/notifications/:id/recall', requireScope(SCOPES.send), async (c) => {
    const who = c.get('principal');
    const id = notificationIdParam(c);
    const before = await senderView(deps.orm.em.fork(), who, id);
    const n = await recallNotification(recallDeps(), who, id);
    await recordAfterChange({ em: () => deps.orm.em.fork(), logger: c.get('logger') }, actorOf(who, c.get('requestId')), {
      action: 'notification.recall',
      target: `notification:${n.id}`,
      before,
      after: n,
    });
    return c.json({ success: true, message: n.status === 'cancelled' ? '定时通知已取消' : '通知已撤回', id: n.id, status: n.status, notification: n });
  });

  return app;
}
