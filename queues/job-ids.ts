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

/** A delivery's job: adding it twice adds one job. */
export const deliveryJobId = (deliveryId: string) => `d-${deliveryId}`;

/** The job scheduler of a recurring schedule (POST /schedules): it adds one job per cron occurrence. */
export const schedulerId = (scheduleId: string) => `schedule-${scheduleId}`;
