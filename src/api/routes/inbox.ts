import type { EntityManager } from '@mikro-orm/postgresql';
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { SCOPES, type Principal } from '../../auth/jwt.js';
import { NotFoundError, ValidationError } from '../../errors.js';
import { isCursor } from '../../domain/inbox/cursors.js';
import { isUuid } from '../../domain/ids.js';
import * as inbox from '../../domain/inbox/inbox.js';
import * as states from '../../domain/inbox/states.js';
import { tellUser } from '../../domain/inbox/tell-user.js';
import { getRejection } from '../../domain/sending/rejections.js';
import { PRIORITIES, TYPES, fieldErrors } from '../../domain/sending/input.js';
import { isRfc3339, parseRfc3339 } from '../../domain/time/rfc3339.js';
import {
  inboxChangeFrame,
  inboxReturnFrame,
  snoozedFrame,
  type FrameBase,
  type InboxChange,
} from '../../feed/frames.js';
import { clusterConnections } from '../../realtime/presence.js';
import { readJson } from '../body.js';
import type { ApiDeps, ApiEnv } from '../env.js';
import { notificationIdParam } from '../notification-id.js';

const csv = <T extends string>(values: readonly T[]) =>
  z
    .string()
    .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean))
    .pipe(z.array(z.enum(values as unknown as [T, ...T[]])));
const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
const cursor = z.string().refine(isCursor, 'must be a cursor from an earlier answer');

export const listQuery = z.object({
  is_read: bool.optional(),
  seen: bool.optional(),
  archived: bool.optional(),
  snoozed: bool.optional(),
  type: csv(TYPES).optional(),
  priority: csv(PRIORITIES).optional(),
  /** a cursor (rows after it, oldest first) or an RFC 3339 time (rows created since) */
  since: z
    .string()
    .refine((s) => isCursor(s) || isRfc3339(s), 'must be a cursor or an RFC 3339 time')
    .optional(),
  cursor: cursor.optional(),
  limit: z.coerce.number().int().min(1).max(100).optional(),
  offset: z.coerce.number().int().min(0).max(100_000).optional(),
  page: z.coerce.number().int().min(1).max(10_000).optional(),
  page_size: z.coerce.number().int().min(1).max(100).optional(),
  /** only notifications whose title or content contains this text (case-insensitive; trimmed first) */
  q: z
    .string()
    .trim()
    .min(1, 'must not be empty')
    .max(100, 'must be at most 100 characters')
    // PostgreSQL text cannot hold NUL: refuse it here rather than fail the query
    .refine((s) => !s.includes('\0'), 'must not contain NUL characters')
    .optional(),
});

export const batchMark = z.strictObject({
  ids: z.array(z.string().refine(isUuid, 'is not a notification id')).min(1).max(1000),
  action: z.enum(['read', 'unread', 'delete']),
});

const oneOrMany = <T extends string>(values: readonly T[]) => {
  const value = z.enum(values as unknown as [T, ...T[]]);
  return z.union([value, z.array(value).min(1)]).transform((v) => (Array.isArray(v) ? v : [v]));
};

/** One count of GET /notifications/count: the list's filters, as a JSON object. */
export const countFilter = z.strictObject({
  read: z.boolean().optional(),
  seen: z.boolean().optional(),
  archived: z.boolean().optional(),
  snoozed: z.boolean().optional(),
  type: oneOrMany(TYPES).optional(),
  priority: oneOrMany(PRIORITIES).optional(),
});

/** Most counts one call may ask for. */
export const MAX_COUNTS = 10;

export const countQuery = z.object({ filters: z.string() });

/** The body of PUT /notifications/:id/snooze (snoozeUntil checks the time against the clock). */
export const snoozeBody = z.strictObject({ until: z.string().refine(isRfc3339, 'must be an RFC 3339 time with an offset') });

/** When a snooze asked for now ends: ahead of now, at most SNOOZE_MAX_MS away; else 400 naming `until`. */
function snoozeUntil(until: string): Date {
  const at = parseRfc3339(until)!;
  const ahead = at.getTime() - Date.now();
  const problem = ahead <= 0 ? 'must be in the future' : ahead > states.SNOOZE_MAX_MS ? 'must be at most 366 days ahead' : null;
  if (problem) throw new ValidationError([{ path: 'until', message: problem }]);
  return at;
}

export const groupedQuery = z.object({ limit: z.coerce.number().int().min(1).max(100).default(20) });

function parseQuery<T extends z.ZodType>(schema: T, c: Context): z.infer<T> {
  const parsed = schema.safeParse(c.req.query());
  if (!parsed.success) throw new ValidationError(fieldErrors(parsed.error), 'The query has invalid parameters.');
  return parsed.data;
}

/**
 * The count filters of a request: every `filters` parameter is a JSON
 * object or an array of them, in order. Bad ones are 400 naming
 * `filters.<n>.<field>`.
 */
function countFilters(c: Context): inbox.InboxFilter[] {
  parseQuery(countQuery, c);
  const list: unknown[] = [];
  for (const raw of c.req.queries('filters') ?? []) {
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      throw new ValidationError([{ path: 'filters', message: 'must be a JSON object or an array of them' }], 'The query has invalid parameters.');
    }
    if (Array.isArray(value)) list.push(...value);
    else list.push(value);
  }
  const parsed = z.array(countFilter).min(1).max(MAX_COUNTS).safeParse(list);
  if (!parsed.success) throw new ValidationError(fieldErrors(parsed.error, ['filters']), 'The query has invalid parameters.');
  return parsed.data.map((f) => ({ is_read: f.read, is_seen: f.seen, archived: f.archived, snoozed: f.snoozed, type: f.type, priority: f.priority }));
}

/** The token's own inbox, with both legacy APIs' paths. */
export function inboxRoutes(deps: ApiDeps) {
  const app = new Hono<ApiEnv>();
  const em = () => deps.orm.em.fork();
  /** listings and counts may come from a read replica (DATABASE_READ_URLS) */
  const reader = () => inbox.replicaReads(deps.orm.em.fork());
  const prefix = deps.config.QUEUE_PREFIX;

  const feed = { orm: deps.orm, redis: deps.redis, prefix, logger: deps.logger };
  const tell = (who: Principal, frames: FrameBase[], countChanged: boolean) => tellUser(feed, who, frames, countChanged);

  /** Tells the user's other devices which notifications changed (notification.read and the like). */
  async function announce(who: Principal, event: InboxChange, ids: string[], countChanged = true) {
    if (ids.length) await tell(who, [inboxChangeFrame(event, ids)], countChanged);
  }

  app.get('/notifications', async (c) => {
    const q = parseQuery(listQuery, c);
    const who = c.get('principal');
    const sinceCursor = q.since && isCursor(q.since) ? q.since : undefined;
    const sinceTime = q.since && !sinceCursor ? (parseRfc3339(q.since) ?? undefined) : undefined;
    const pageSize = q.page_size ?? q.limit ?? 20;
    const offset = q.page ? (q.page - 1) * pageSize : (q.offset ?? 0);
    const keyset = Boolean(q.cursor || sinceCursor);
    const filter: inbox.InboxFilter = {
      is_read: q.is_read,
      is_seen: q.seen,
      archived: q.archived,
      snoozed: q.snoozed,
      type: q.type,
      priority: q.priority,
      sinceCursor,
      sinceTime,
      before: q.cursor,
      q: q.q,
    };
    const { rows, total, capped } = await inbox.listInbox(reader(), who, filter, {
      limit: pageSize,
      offset: keyset ? 0 : offset,
      order: sinceCursor ? 'asc' : 'desc',
      withTotal: !keyset,
    });
    const last = rows.at(-1)?.cursor ?? null;
    const next_cursor = sinceCursor ? (last ?? sinceCursor) : rows.length === pageSize ? last : null;
    return c.json({
      notifications: rows,
      total: keyset ? null : total,
      total_capped: keyset ? null : capped,
      page: keyset ? null : Math.floor(offset / pageSize) + 1,
      page_size: pageSize,
      total_pages: keyset ? null : Math.ceil(total / pageSize),
      next_cursor,
    });
  });

  const unread = async (c: Context<ApiEnv>) => c.json({ unread_count: await inbox.unreadCount(reader(), c.get('principal')) });
  app.get('/notifications/unread-count', unread);
  app.get('/notifications/unread/count', unread);

  app.get('/notifications/count', async (c) => {
    const filters = countFilters(c);
    return c.json({ counts: await inbox.countInboxMany(reader(), c.get('principal'), filters) });
  });

  app.get('/notifications/stats', async (c) => {
    const who = c.get('principal');
    const mine = await inbox.inboxStats(reader(), who);
    if (!who.scopes.has(SCOPES.admin)) return c.json(mine);
    const [system, connections] = await Promise.all([inbox.tenantStats(reader(), who.tenant), clusterConnections(deps.redis, prefix)]);
    return c.json({ ...mine, system: { ...system, websocket_connections: connections } });
  });

  app.get('/notifications/grouped', async (c) => {
    const q = parseQuery(groupedQuery, c);
    return c.json({ groups: await inbox.groupedInbox(reader(), c.get('principal'), q.limit) });
  });

  /** A change to every notification of the inbox that qualifies, told to the user's other devices. */
  const markAll =
    (change: (em: EntityManager, who: Principal) => Promise<string[]>, event: InboxChange, message: (n: number) => string, countChanged = true) =>
    async (c: Context<ApiEnv>) => {
      const who = c.get('principal');
      const ids = await change(em(), who);
      await announce(who, event, ids, countChanged);
      return c.json({ success: true, message: message(ids.length), count: ids.length });
    };
  const readAll = markAll(inbox.markAllRead, 'notification.read', (n) => `已标记${n}条通知为已读`);
  app.put('/notifications/read-all', readAll);
  app.post('/notifications/read-all', readAll);
  app.post('/notifications/seen-all', markAll(states.markAllSeen, 'notification.seen', (n) => `已标记${n}条通知为已查看`, false));
  app.post('/notifications/archive-all', markAll(states.archiveAll, 'notification.archived', (n) => `已归档${n}条通知`));
  app.post('/notifications/archive-read', markAll(states.archiveRead, 'notification.archived', (n) => `已归档${n}条已读通知`, false));

  app.post('/notifications/batch-mark', async (c) => {
    const body = batchMark.safeParse(await readJson(c));
    if (!body.success) throw new ValidationError(fieldErrors(body.error));
    const who = c.get('principal');
    const { changed } = await inbox.markMany(em(), who, body.data.ids, body.data.action);
    const event = ({ read: 'notification.read', unread: 'notification.unread', delete: 'notification.deleted' } as const)[body.data.action];
    await announce(who, event, changed);
    return c.json({ success: true, count: changed.length });
  });

  app.get('/notifications/:id', async (c) => {
    const who = c.get('principal');
    const id = notificationIdParam(c);
    try {
      return c.json(await inbox.getFromInbox(reader(), who, id));
    } catch (err) {
      // accepted but never stored (PostgreSQL refused its content): its sender learns it failed, and why
      const rejected = err instanceof NotFoundError && who.scopes.has(SCOPES.send) ? await getRejection(em(), who, id) : null;
      if (rejected) return c.json(rejected);
      throw err;
    }
  });

  /** PUT /notifications/:id/<path>: one notification's state, told to the user's other devices when it changed. */
  const markOne = (path: string, change: (em: EntityManager, who: Principal, id: string) => Promise<boolean>, event: InboxChange, message: string, countChanged = true) =>
    app.put(`/notifications/:id/${path}`, async (c) => {
      const who = c.get('principal');
      const id = notificationIdParam(c);
      if (await change(em(), who, id)) await announce(who, event, [id], countChanged);
      return c.json({ success: true, message });
    });
  markOne('read', (m, who, id) => inbox.markOne(m, who, id, 'read'), 'notification.read', '已标记为已读');
  markOne('unread', (m, who, id) => inbox.markOne(m, who, id, 'unread'), 'notification.unread', '已标记为未读');
  markOne('seen', (m, who, id) => states.markState(m, who, id, 'seen'), 'notification.seen', '已标记为已查看', false);
  markOne('archive', (m, who, id) => states.markState(m, who, id, 'archive'), 'notification.archived', '已归档');

  app.put('/notifications/:id/unarchive', async (c) => {
    const who = c.get('principal');
    const id = notificationIdParam(c);
    const back = await states.unarchive(em(), who, id);
    if (back) await tell(who, [inboxReturnFrame('notification.unarchived', back)], true);
    return c.json({ success: true, message: '已取消归档' });
  });

  app.put('/notifications/:id/snooze', async (c) => {
    const who = c.get('principal');
    const id = notificationIdParam(c);
    const body = snoozeBody.safeParse(await readJson(c));
    if (!body.success) throw new ValidationError(fieldErrors(body.error));
    const until = snoozeUntil(body.data.until);
    const { previous } = await states.snooze(em(), who, id, until);
    // Stored first: were the job lost, the notification still comes back at its time (lists and counts
    // compare snoozed_until with the clock), only without the frame and the unread mark.
    const wake = { tenant: who.tenant, user_id: who.sub, roles: who.roles, stores: who.stores, notification_id: id, until: until.toISOString() };
    await deps.queues.scheduleWake(wake);
    if (previous && previous.getTime() !== until.getTime()) await deps.queues.cancelWake({ ...wake, until: previous.toISOString() });
    await tell(who, [snoozedFrame(id, wake.until)], true);
    return c.json({ success: true, message: '已设置稍后提醒', snoozed_until: wake.until });
  });

  app.put('/notifications/:id/unsnooze', async (c) => {
    const who = c.get('principal');
    const id = notificationIdParam(c);
    const ended = await states.unsnooze(em(), who, id);
    if (ended) {
      await deps.queues.cancelWake({ tenant: who.tenant, user_id: who.sub, notification_id: id, until: ended.previous.toISOString() });
      if (ended.notification) await tell(who, [inboxReturnFrame('notification.unsnoozed', ended.notification)], true);
    }
    return c.json({ success: true, message: '已取消稍后提醒' });
  });

  app.delete('/notifications/:id', async (c) => {
    const who = c.get('principal');
    const id = notificationIdParam(c);
    if (await inbox.markOne(em(), who, id, 'delete')) await announce(who, 'notification.deleted', [id]);
    return c.json({ success: true, message: '通知已删除' });
  });

  return app;
}
