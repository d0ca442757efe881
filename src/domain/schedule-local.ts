import type { NotificationDraft } from '../../queues/jobs.js';
import type { Orm } from '../db/orm.js';
import { ValidationError } from '../errors.js';
import type { NotificationInput } from './notification-input.js';
import { instantOf, isTimeZone, parseWallClock } from './zoned-time.js';

/** The time zone of a user with none of their own, when the request names none either. */
export const DEFAULT_TIMEZONE = 'UTC';

/** Each user's own time zone (users without one are absent). */
export type ZoneLookup = (tenant: string, userIds: string[]) => Promise<Map<string, string>>;

/** Time zones from the recipients table (PUT /recipients/:user_id `timezone`). */
export function recipientZones(orm: Orm): ZoneLookup {
  return async (tenant, userIds) => {
    if (!userIds.length) return new Map();
    const rows = await orm.em
      .fork()
      .execute<Array<{ user_id: string; timezone: string }>>(
        `select user_id, timezone from recipients where tenant = ? and user_id = any(?::text[]) and timezone is not null`,
        [tenant, `{${userIds.map((u) => `"${u.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`).join(',')}}`],
      );
    return new Map(rows.filter((r) => isTimeZone(r.timezone)).map((r) => [r.user_id, r.timezone]));
  };
}

/**
 * schedule_local: the same wall-clock time in each recipient's own zone.
 * A user's notification is scheduled at that time where the user is; a
 * role, store or tenant-wide one (one stored row for many people) and a
 * user with no zone use the request's `timezone`, else UTC. Where the time
 * has already passed (Tokyo is past 09:00 while Shanghai is not) it goes out
 * now; when it has passed for every recipient the request is refused as
 * being in the past, like a past schedule_at.
 */
export async function applyLocalSchedule(
  zones: ZoneLookup | undefined,
  tenant: string,
  input: NotificationInput,
  drafts: NotificationDraft[],
  now = Date.now(),
): Promise<void> {
  const local = parseWallClock(input.schedule_local!);
  if (!local) throw new ValidationError([{ path: 'schedule_local', message: 'must be a local time with no offset, e.g. 2026-12-01T09:00' }]);
  const users = drafts.flatMap((d) => (d.target.kind === 'user' ? [d.target.id] : []));
  const own = zones && users.length ? await zones(tenant, users) : new Map<string, string>();
  const fallback = input.timezone ?? DEFAULT_TIMEZONE;
  let future = 0;
  for (const d of drafts) {
    const tz = (d.target.kind === 'user' ? own.get(d.target.id) : undefined) ?? fallback;
    const at = instantOf(local, tz).getTime();
    d.schedule_at = at > now ? new Date(at).toISOString() : null;
    if (d.schedule_at) future++;
    d.metadata = { ...d.metadata, schedule_local: input.schedule_local, schedule_timezone: tz };
  }
  if (drafts.length && !future) throw new ValidationError([{ path: 'schedule_local', message: "is in the past in every recipient's time zone" }]);
}
