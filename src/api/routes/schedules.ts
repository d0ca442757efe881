import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { SCOPES } from '../../auth/jwt.js';
import { NotFoundError, ValidationError } from '../../errors.js';
import { isUuid } from '../../domain/ids.js';
import { fieldErrors } from '../../domain/sending/input.js';
import * as schedules from '../../domain/scheduling/recurring.js';
import { presentRow, RETURNING, type StoredRow } from '../../domain/inbox/present.js';
import { actorOf } from '../../domain/audit/event.js';
import { recordAfterChange } from '../../domain/audit/record.js';
import { readJson } from '../body.js';
import type { ApiDeps, ApiEnv } from '../env.js';
import { requireScope } from '../middleware/auth.js';

export const pageQuery = z.object({ limit: z.coerce.number().int().min(1).max(500).default(100), offset: z.coerce.number().int().min(0).default(0) });

/** POST/GET/DELETE /schedules: recurring sends, and GET /notifications/scheduled: one-off sends waiting (scope notify:send). */
export function scheduleRoutes(deps: ApiDeps) {
  const app = new Hono<ApiEnv>();
  const em = () => deps.orm.em.fork();
  const recurring = deps.queues.recurring;
  const id = (c: Context) => {
    const v = c.req.param('id') ?? '';
    if (!isUuid(v)) throw new NotFoundError(`Schedule ${v} was not found.`);
    return v;
  };
  // a schedule's job scheduler lives in Redis, beyond a PostgreSQL rollback: the audit row is written after the change
  const audited = (c: Context<ApiEnv>, change: Parameters<typeof recordAfterChange>[2]) =>
    recordAfterChange({ em, logger: c.get('logger') }, actorOf(c.get('principal'), c.get('requestId')), change);
  app.use('/schedules', requireScope(SCOPES.send));
  app.use('/schedules/*', requireScope(SCOPES.send));

  app.post('/schedules', async (c) => {
    const input = schedules.parseSchedule(await readJson(c));
    const row = schedules.presentSchedule(await schedules.createSchedule(em(), recurring, c.get('principal'), input));
    await audited(c, { action: 'schedule.create', target: `schedule:${row.id}`, before: null, after: row });
    return c.json(row, 201);
  });

  app.get('/schedules', async (c) => {
    const q = pageQuery.safeParse(c.req.query());
    if (!q.success) throw new ValidationError(fieldErrors(q.error), 'The query has invalid parameters.');
    const rows = await schedules.listSchedules(em(), c.get('principal'), q.data.limit, q.data.offset);
    return c.json({ schedules: rows.map(schedules.presentSchedule), count: rows.length });
  });

  app.get('/schedules/:id', async (c) => c.json(schedules.presentSchedule(await schedules.getSchedule(em(), c.get('principal'), id(c)))));

  /** The caller's one-off scheduled notifications still waiting to fire, soonest first. */
  app.get('/notifications/scheduled', requireScope(SCOPES.send), async (c) => {
    const q = pageQuery.safeParse(c.req.query());
    if (!q.success) throw new ValidationError(fieldErrors(q.error), 'The query has invalid parameters.');
    const who = c.get('principal');
    const rows = await em().execute<StoredRow[]>(
      `select ${RETURNING} from notifications where tenant = ? and sender = ? and status = 'scheduled'
       order by schedule_at, id limit ? offset ?`,
      [who.tenant, who.sub, q.data.limit, q.data.offset],
    );
    return c.json({ notifications: rows.map(presentRow), count: rows.length });
  });

  app.delete('/schedules/:id', async (c) => {
    const before = schedules.presentSchedule(await schedules.getSchedule(em(), c.get('principal'), id(c)));
    const row = await schedules.deleteSchedule(em(), recurring, c.get('principal'), id(c));
    await audited(c, { action: 'schedule.delete', target: `schedule:${row.id}`, before, after: null });
    return c.json({ success: true, message: '定时任务已删除', id: row.id });
  });

  return app;
}
