import type { NotificationDraft } from '../../../queues/jobs.js';
import type { Orm } from '../../db/orm.js';
import { pgArray, query } from '../../db/query.js';
import { UnprocessableError, ValidationError } from '../../errors.js';
import { audienceOf } from '../inbox/audience.js';
import { newId } from '../ids.js';
import type { NotificationInput } from './input.js';
import { instantOf, isTimeZone, parseWallClock } from '../time/zoned-time.js';

/** The time zone of a user with none of their own, when the request names none either. */
export const DEFAULT_TIMEZONE = 'UTC';

/**
 * Most members of one role, store or tenant a schedule_local send splits off
 * because they live in another zone than the request's (each becomes a
 * notification of their own, listed in the 202). Past it the request is a
 * 422: send once per zone with `timezone` instead.
 */
export const MAX_LOCAL_MEMBERS = 10_000;

export interface ZoneMember {
  user_id: string;
  timezone: string;
}

/** The recipients directory's time zones (PUT /recipients/:user_id `timezone`). */
export interface ZoneLookup {
  /** each user's own zone; users without one are absent */
  users(tenant: string, userIds: string[]): Promise<Map<string, string>>;
  /** members of a role ('r:…'), store ('s:…') or the tenant ('*') whose zone is set and is not `zone`, at most `limit` */
  membersElsewhere(tenant: string, audience: string, zone: string, limit: number): Promise<ZoneMember[]>;
}

export function recipientZones(orm: Orm): ZoneLookup {
  const valid = (rows: ZoneMember[]) => rows.filter((r) => isTimeZone(r.timezone));
  return {
    async users(tenant, userIds) {
      if (!userIds.length) return new Map();
      const rows = await query<ZoneMember>(
        orm.em.fork(),
        `select user_id, timezone from recipients where tenant = ? and user_id = any(?::text[]) and timezone is not null`,
        [tenant, pgArray(userIds)],
        'read',
      );
      return new Map(valid(rows).map((r) => [r.user_id, r.timezone]));
    },
    async membersElsewhere(tenant, audience, zone, limit) {
      const rows =
        audience === '*'
          ? await query<ZoneMember>(
              orm.em.fork(),
              `select user_id, timezone from recipients where tenant = ? and timezone is not null and timezone <> ? order by user_id limit ?`,
              [tenant, zone, limit],
              'read',
            )
          : await query<ZoneMember>(
              orm.em.fork(),
              `select r.user_id, r.timezone from recipient_audiences a join recipients r on r.tenant = a.tenant and r.user_id = a.user_id
               where a.tenant = ? and a.audience = ? and r.timezone is not null and r.timezone <> ? order by a.user_id limit ?`,
              [tenant, audience, zone, limit],
              'read',
            );
      return valid(rows);
    },
  };
}

/**
 * schedule_local: the same wall-clock time in each recipient's own zone.
 *
 * A user's notification is scheduled at that time where the user is (the
 * request's `timezone`, else UTC, when the directory has no zone for them).
 * A role, store or tenant-wide notification is stored once for everyone in
 * the request's zone — including members Herald knows only from their
 * tokens — and every directory member whose own zone differs gets the
 * notification as their own, at their time, and is left out of the shared
 * one (`except`: hidden from their inbox, their sockets and its channel
 * deliveries). The 202 lists all of them; each is cancelled on its own.
 *
 * Where the time has already passed (Tokyo is past 09:00 while Shanghai is
 * not) that notification goes now (a shared copy through a firing job due
 * now, after its exclusions are stored); when it has passed for every recipient
 * the request is refused as being in the past, like a past schedule_at.
 * The drafts list is changed in place.
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
  const fallback = input.timezone ?? DEFAULT_TIMEZONE;
  const direct = new Set(drafts.flatMap((d) => (d.target.kind === 'user' ? [d.target.id] : [])));
  const own = zones && direct.size ? await zones.users(tenant, [...direct]) : new Map<string, string>();
  const zoneOf = new Map<NotificationDraft, string>();

  for (const group of drafts.filter((d) => d.target.kind !== 'user')) {
    if (!zones) break;
    const members = await zones.membersElsewhere(tenant, audienceOf(group.target), fallback, MAX_LOCAL_MEMBERS + 1);
    if (members.length > MAX_LOCAL_MEMBERS) {
      throw new UnprocessableError(`A schedule_local send to ${audienceOf(group.target)} would split into more than ${MAX_LOCAL_MEMBERS} notifications.`, [
        { path: 'schedule_local', message: `reaches more than ${MAX_LOCAL_MEMBERS} members in other time zones; send once per zone with timezone` },
      ]);
    }
    if (!members.length) continue;
    group.except = members.map((m) => m.user_id);
    for (const m of members) {
      if (direct.has(m.user_id)) continue; // already has their own, scheduled in their zone
      const mine: NotificationDraft = { ...group, id: newId(now), target: { kind: 'user', id: m.user_id }, except: undefined };
      drafts.push(mine);
      zoneOf.set(mine, m.timezone);
    }
  }

  let future = 0;
  for (const d of drafts) {
    const tz = zoneOf.get(d) ?? (d.target.kind === 'user' ? own.get(d.target.id) : undefined) ?? fallback;
    const at = instantOf(local, tz).getTime();
    d.schedule_at = at > now ? new Date(at).toISOString() : null;
    if (d.schedule_at) future++;
    d.metadata = { ...d.metadata, schedule_local: input.schedule_local, schedule_timezone: tz };
  }
  if (drafts.length && !future) throw new ValidationError([{ path: 'schedule_local', message: "is in the past in every recipient's time zone" }]);
  // A shared copy already due still goes through a firing job due now: it is
  // stored 'scheduled' (in no inbox) with the members it leaves out, and only
  // then enters inboxes, so none of them ever sees it.
  for (const d of drafts) if (d.except && !d.schedule_at) d.schedule_at = new Date(now).toISOString();
}
