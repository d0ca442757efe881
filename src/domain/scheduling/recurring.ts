import type { EntityManager } from '@mikro-orm/postgresql';
import { getNextMillis, type Queue } from 'bullmq';
import { z } from 'zod';
import { RECURRING_JOB } from '../../../queues/defaults.js';
import { schedulerId } from '../../../queues/job-ids.js';
import type { RecurringJob } from '../../../queues/jobs.js';
import type { Principal } from '../../auth/jwt.js';
import { NotFoundError, ValidationError, type FieldError } from '../../errors.js';
import { newId } from '../ids.js';
import { fieldErrors, parseNotification, type NotificationInput } from '../sending/input.js';
import { findTemplate } from '../templates/templates.js';
import { parseTemplateSend, renderTemplate, toNotificationInput } from '../templates/send.js';
import { isTimeZone } from '../time/zoned-time.js';

/**
 * Recurring sends: a cron expression (5 fields, or 6 with seconds) in an
 * IANA time zone, and what to send at each occurrence: a notification as
 * POST /notifications takes it, or a template send as POST
 * /notifications/template takes it (rendered at each occurrence, so a
 * template change applies to the next one). BullMQ's job scheduler
 * `schedule-<id>` makes one job per occurrence, whatever the number of
 * scheduler processes.
 */
export interface ScheduleRow {
  id: string;
  tenant: string;
  sender: string;
  name: string | null;
  cron: string;
  timezone: string;
  body: Record<string, unknown>;
  is_active: boolean;
  run_count: number;
  last_run_at: Date | null;
  created_at: Date;
  updated_at: Date;
  deleted_at: Date | null;
}

export const scheduleCreateSchema = z.strictObject({
  name: z.string().trim().min(1).max(200).optional(),
  cron: z.string().trim().min(9).max(200),
  timezone: z.string().refine(isTimeZone, 'is not an IANA time zone, e.g. Asia/Shanghai').default('UTC'),
  notification: z.record(z.string(), z.unknown()),
});
export type ScheduleCreate = z.infer<typeof scheduleCreateSchema>;

/** The next occurrence after `after`, or null when the pattern has none; throws on a bad pattern. */
export function nextRun(cron: string, timezone: string, after = Date.now()): number | null {
  return getNextMillis(after, { pattern: cron, tz: timezone }) ?? null;
}

const isTemplateSend = (body: Record<string, unknown>) => 'template_name' in body || 'template_id' in body;

/** Checks what a schedule will send, once at creation (and again at every occurrence). */
function checkBody(body: Record<string, unknown>): FieldError[] {
  const errors: FieldError[] = [];
  for (const f of ['schedule_at', 'schedule_local', 'timezone', 'idempotency_key'])
    if (f in body) errors.push({ path: `notification.${f}`, message: 'is decided by the schedule; remove it' });
  if (isTemplateSend(body)) {
    try {
      parseTemplateSend(body);
    } catch (err) {
      if (err instanceof ValidationError) errors.push(...(err.errors ?? []).map((e) => ({ ...e, path: `notification.${e.path}` })));
      else throw err;
    }
  } else {
    const parsed = parseNotification(body, ['notification']);
    if (!parsed.ok) errors.push(...parsed.errors);
  }
  return errors;
}

export function parseSchedule(body: unknown): ScheduleCreate {
  const parsed = scheduleCreateSchema.safeParse(body);
  if (!parsed.success) throw new ValidationError(fieldErrors(parsed.error));
  const errors = checkBody(parsed.data.notification);
  try {
    if (nextRun(parsed.data.cron, parsed.data.timezone) === null) errors.push({ path: 'cron', message: 'never fires' });
  } catch (err) {
    errors.push({ path: 'cron', message: `is not a cron expression: ${(err as Error).message}` });
  }
  if (errors.length) throw new ValidationError(errors);
  return parsed.data;
}

export interface ScheduleJson {
  id: string;
  name: string | null;
  cron: string;
  timezone: string;
  notification: Record<string, unknown>;
  is_active: boolean;
  run_count: number;
  last_run_at: string | null;
  next_run_at: string | null;
  created_at: string;
}

export function presentSchedule(s: ScheduleRow): ScheduleJson {
  let next: number | null = null;
  try {
    next = s.is_active && !s.deleted_at ? nextRun(s.cron, s.timezone) : null;
  } catch {
    /* a stored pattern the parser no longer takes: no next run */
  }
  return {
    id: s.id,
    name: s.name,
    cron: s.cron,
    timezone: s.timezone,
    notification: s.body,
    is_active: s.is_active && !s.deleted_at,
    run_count: s.run_count,
    last_run_at: s.last_run_at ? new Date(s.last_run_at).toISOString() : null,
    next_run_at: next ? new Date(next).toISOString() : null,
    created_at: new Date(s.created_at).toISOString(),
  };
}

/** Makes the BullMQ job scheduler of a schedule (again): idempotent, so reconciliation can call it freely. */
export async function upsertScheduler(queue: Queue<RecurringJob>, s: Pick<ScheduleRow, 'id' | 'tenant' | 'cron' | 'timezone'>): Promise<void> {
  await queue.upsertJobScheduler(
    schedulerId(s.id),
    { pattern: s.cron, tz: s.timezone },
    { name: 'recurring', data: { schedule_id: s.id, tenant: s.tenant }, opts: RECURRING_JOB },
  );
}

type Owner = Pick<Principal, 'sub' | 'tenant' | 'scopes'>;
/** A schedule is its creator's; a token with `admin` sees every schedule of its tenant. */
const ownerClause = (who: Owner) => (who.scopes.has('admin') ? { sql: '', params: [] } : { sql: ' and sender = ?', params: [who.sub] });

/** Stores the schedule, then its job scheduler; if Redis refuses, the row goes too (nothing half-made). */
export async function createSchedule(em: EntityManager, queue: Queue<RecurringJob>, who: Owner, input: ScheduleCreate): Promise<ScheduleRow> {
  const [row] = await em.execute<ScheduleRow[]>(
    `insert into schedules (id, tenant, sender, name, cron, timezone, body) values (?, ?, ?, ?, ?, ?, ?::jsonb) returning *`,
    [newId(), who.tenant, who.sub, input.name ?? null, input.cron, input.timezone, JSON.stringify(input.notification)],
  );
  try {
    await upsertScheduler(queue, row);
  } catch (err) {
    await em.execute(`delete from schedules where id = ?`, [row.id]);
    throw err;
  }
  return row;
}

export async function listSchedules(em: EntityManager, who: Owner, limit = 100, offset = 0): Promise<ScheduleRow[]> {
  const own = ownerClause(who);
  return em.execute<ScheduleRow[]>(
    `select * from schedules where tenant = ? and deleted_at is null${own.sql} order by created_at desc limit ? offset ?`,
    [who.tenant, ...own.params, limit, offset],
  );
}

export async function getSchedule(em: EntityManager, who: Owner, id: string): Promise<ScheduleRow> {
  const own = ownerClause(who);
  const [row] = await em.execute<ScheduleRow[]>(`select * from schedules where id = ? and tenant = ? and deleted_at is null${own.sql}`, [
    id,
    who.tenant,
    ...own.params,
  ]);
  if (!row) throw new NotFoundError(`Schedule ${id} was not found.`);
  return row;
}

/** Soft delete; the job scheduler goes, so no further occurrence is made. */
export async function deleteSchedule(em: EntityManager, queue: Queue<RecurringJob>, who: Owner, id: string): Promise<ScheduleRow> {
  const own = ownerClause(who);
  const [row] = await em.execute<ScheduleRow[]>(
    `update schedules set deleted_at = now(), is_active = false, updated_at = now()
     where id = ? and tenant = ? and deleted_at is null${own.sql} returning *`,
    [id, who.tenant, ...own.params],
  );
  if (!row) throw new NotFoundError(`Schedule ${id} was not found.`);
  await queue.removeJobScheduler(schedulerId(id));
  return row;
}

/**
 * The notification of one occurrence. Its idempotency key is the
 * occurrence's job id (`repeat:schedule-<id>:<time>`), so running the job
 * twice makes it once; schedule id and occurrence time go in metadata.
 */
export async function occurrenceInput(em: EntityManager, s: ScheduleRow, occurrence: { jobId: string; at: number }): Promise<NotificationInput> {
  const stamp = { schedule_id: s.id, schedule_occurrence: new Date(occurrence.at).toISOString() };
  const key = `schedule:${s.id}:${occurrence.at}`;
  if (isTemplateSend(s.body)) {
    const req = parseTemplateSend(s.body);
    const t = await findTemplate(em, s.tenant, req.template_name ?? req.template_id!);
    if (!t || !t.is_active) throw new ValidationError([{ path: 'notification.template_name', message: `no active template ${req.template_name ?? req.template_id}` }]);
    const input = toNotificationInput(t, { ...req, metadata: { ...(req.metadata ?? req.extra_data ?? {}), ...stamp }, extra_data: undefined }, renderTemplate(t, req.template_vars), null);
    return { ...input, idempotency_key: key };
  }
  const parsed = parseNotification(s.body);
  if (!parsed.ok) throw new ValidationError(parsed.errors);
  const v = parsed.value;
  return { ...v, metadata: { ...(v.metadata ?? v.extra_data ?? {}), ...stamp }, extra_data: undefined, idempotency_key: key };
}
