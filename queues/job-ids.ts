import { createHash } from 'node:crypto';

/**
 * Every id Herald gives a BullMQ job or job scheduler. Each is derived from
 * what the job is about, so adding the same work twice adds one job.
 * WARNING: do not change a format: jobs already in Redis keep the old ids,
 * and work added again under a new id would run twice.
 */

/** An ingest job: `n-` and the id of the first notification it carries. */
export const ingestJobId = (firstNotificationId: string) => `n-${firstNotificationId}`;

/** A delayed firing job: `fire-` and the first notification id it fires. */
export const fireJobId = (notificationId: string) => `fire-${notificationId}`;

/**
 * A snoozed notification's wake job: `wake-`, the notification id, a hash
 * of the tenant and user (BullMQ refuses a job id holding ':', which a
 * tenant or user id may; a hex hash never does) and the snooze's end in ms. The end is part of it, so snoozing again
 * to another time adds another job, and the earlier one, if it is not
 * removed, finds the receipt changed and does nothing.
 */
export const wakeJobId = (tenant: string, userId: string, notificationId: string, until: string) =>
  `wake-${notificationId}-${createHash('sha256').update(`${tenant}\u001f${userId}`).digest('hex').slice(0, 16)}-${Date.parse(until)}`;

/** A delivery's job: adding it twice adds one job. */
export const deliveryJobId = (deliveryId: string) => `d-${deliveryId}`;

/** The job scheduler of a recurring schedule (POST /schedules): it adds one job per cron occurrence. */
export const schedulerId = (scheduleId: string) => `schedule-${scheduleId}`;

/**
 * A digest window's job: `digest-`, a hash of tenant, user, channel and key
 * (any of which may hold ':'), and the window's start in ms. The first event
 * of a window adds it; every later one adds it again, which adds nothing.
 */
export const digestJobId = (tenant: string, userId: string, channel: string, key: string, windowStart: string) =>
  `digest-${createHash('sha256').update(`${tenant}\u001f${userId}\u001f${channel}\u001f${key}`).digest('hex').slice(0, 24)}-${Date.parse(windowStart)}`;
