import type { EntityManager } from '@mikro-orm/postgresql';
import { z } from 'zod';
import type { DeliveryJob } from '../../../queues/jobs.js';
import type { Orm } from '../../db/orm.js';
import { ValidationError } from '../../errors.js';
import { CHANNELS, TYPES, fieldErrors, notificationSchema } from '../sending/input.js';
import { NO_PREFERENCES, decide, type Decision, type Preferences } from './rules.js';
import { parseRfc3339, rfc3339Time } from '../time/rfc3339.js';
import { isTimeZone } from '../time/zoned-time.js';

/**
 * A user's preferences (GET/PUT /preferences, the token's own user). PUT
 * changes the fields it names and keeps the others; null clears one. Both
 * the VoiceHelper API's flat names (do_not_disturb_start/_end) and a nested
 * do_not_disturb { start, end, timezone } are accepted and answered.
 */
const clock = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be HH:MM, e.g. 22:00');
const tz = z.string().refine(isTimeZone, 'is not an IANA time zone, e.g. Asia/Shanghai');
const typeKey = z.string().refine((k) => k === '*' || (TYPES as readonly string[]).includes(k), `must be a type (${TYPES.join(', ')}) or *`);

export const preferencesSchema = z.strictObject({
  channels: z.record(typeKey, notificationSchema.shape.channels.unwrap()).nullable().optional(),
  do_not_disturb: z
    .strictObject({ enabled: z.boolean().optional(), start: clock.optional(), end: clock.optional(), timezone: tz.optional() })
    .nullable()
    .optional(),
  do_not_disturb_start: clock.nullable().optional(),
  do_not_disturb_end: clock.nullable().optional(),
  timezone: tz.nullable().optional(),
  mute_until: rfc3339Time().nullable().optional(),
});

interface Row {
  tenant: string;
  user_id: string;
  channels: Record<string, string[]>;
  dnd_start: string | null;
  dnd_end: string | null;
  timezone: string | null;
  mute_until: Date | null;
  updated_at: Date | null;
}

export async function getPreferences(em: EntityManager, tenant: string, userId: string): Promise<Row> {
  const [row] = await em.execute<Row[]>(`select * from preferences where tenant = ? and user_id = ?`, [tenant, userId]);
  return row ?? { tenant, user_id: userId, ...NO_PREFERENCES, updated_at: null };
}

/** Applies a PUT body to the stored preferences. */
export async function putPreferences(em: EntityManager, tenant: string, userId: string, body: unknown): Promise<Row> {
  const parsed = preferencesSchema.safeParse(body);
  if (!parsed.success) throw new ValidationError(fieldErrors(parsed.error));
  const b = parsed.data;
  const cur = await getPreferences(em, tenant, userId);
  const next = { ...cur };
  if (b.channels !== undefined) next.channels = b.channels ?? {};
  if (b.timezone !== undefined) next.timezone = b.timezone;
  if (b.do_not_disturb_start !== undefined) next.dnd_start = b.do_not_disturb_start;
  if (b.do_not_disturb_end !== undefined) next.dnd_end = b.do_not_disturb_end;
  if (b.do_not_disturb === null || b.do_not_disturb?.enabled === false) {
    next.dnd_start = null;
    next.dnd_end = null;
  } else if (b.do_not_disturb) {
    if (b.do_not_disturb.start) next.dnd_start = b.do_not_disturb.start;
    if (b.do_not_disturb.end) next.dnd_end = b.do_not_disturb.end;
    if (b.do_not_disturb.timezone) next.timezone = b.do_not_disturb.timezone;
  }
  if (b.mute_until !== undefined) next.mute_until = b.mute_until ? parseRfc3339(b.mute_until) : null;
  if ((next.dnd_start === null) !== (next.dnd_end === null))
    throw new ValidationError([{ path: next.dnd_start ? 'do_not_disturb_end' : 'do_not_disturb_start', message: 'a do-not-disturb window needs both start and end' }]);
  const [row] = await em.execute<Row[]>(
    `insert into preferences (tenant, user_id, channels, dnd_start, dnd_end, timezone, mute_until)
     values (?, ?, ?::jsonb, ?, ?, ?, ?)
     on conflict (tenant, user_id) do update set channels = excluded.channels, dnd_start = excluded.dnd_start,
       dnd_end = excluded.dnd_end, timezone = excluded.timezone, mute_until = excluded.mute_until, updated_at = now()
     returning *`,
    [tenant, userId, JSON.stringify(next.channels), next.dnd_start, next.dnd_end, next.timezone, next.mute_until],
  );
  return row;
}

export function presentPreferences(r: Row) {
  const dnd = r.dnd_start && r.dnd_end;
  return {
    user_id: r.user_id,
    channels: r.channels,
    do_not_disturb: { enabled: Boolean(dnd), start: r.dnd_start, end: r.dnd_end, timezone: r.timezone ?? 'UTC' },
    do_not_disturb_start: r.dnd_start,
    do_not_disturb_end: r.dnd_end,
    timezone: r.timezone,
    mute_until: r.mute_until ? new Date(r.mute_until).toISOString() : null,
    available_channels: CHANNELS,
    updated_at: r.updated_at ? new Date(r.updated_at).toISOString() : null,
  };
}

/** The preferences the rules see: the window's time zone falls back to the recipient's own, then UTC. */
export async function effectivePreferences(em: EntityManager, tenant: string, userId: string): Promise<Preferences> {
  const [row] = await em.execute<Array<Row & { recipient_tz: string | null }>>(
    `select p.*, r.timezone as recipient_tz
     from (select ?::text as tenant, ?::text as user_id) k
     left join preferences p on p.tenant = k.tenant and p.user_id = k.user_id
     left join recipients r on r.tenant = k.tenant and r.user_id = k.user_id`,
    [tenant, userId],
  );
  if (!row) return NO_PREFERENCES;
  const zone = [row.timezone, row.recipient_tz].find((z) => z && isTimeZone(z)) ?? null;
  return {
    channels: row.channels ?? {},
    dnd_start: row.dnd_start,
    dnd_end: row.dnd_end,
    timezone: zone,
    mute_until: row.mute_until ? new Date(row.mute_until) : null,
  };
}

/**
 * The delivery processor's gate (workers/processors/deliver.ts): the user's
 * preferences applied right before the provider call. A direct send to a
 * raw address (multi-channel `recipient`) belongs to no user and passes.
 * A notification recalled meanwhile is skipped too.
 */
export function preferenceGate(orm: Orm, now: () => number = Date.now) {
  return async (job: DeliveryJob): Promise<Decision | { action: 'skip'; reason: 'recalled' }> => {
    const em = orm.em.fork();
    // recalled while this delivery was already running (too late to remove its job): nothing goes out
    const [n] = await em.execute<Array<{ status: string }>>(`select status from notifications where id = ?`, [job.notification_id]);
    if (n && (n.status === 'recalled' || n.status === 'cancelled')) return { action: 'skip', reason: 'recalled' };
    if (job.direct) return { action: 'send' };
    const prefs = await effectivePreferences(em, job.tenant, job.recipient);
    return decide(prefs, { channel: job.channel, type: job.message.type, priority: job.message.priority }, now());
  };
}
