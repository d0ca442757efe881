import { UnrecoverableError, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { schedulerId } from '../../queues/job-ids.js';
import type { RecurringJob } from '../../queues/jobs.js';
import type { Producers } from '../../queues/producers.js';
import type { Orm } from '../../src/db/orm.js';
import { acceptNotifications } from '../../src/domain/sending/accept.js';
import { occurrenceInput, type ScheduleRow } from '../../src/domain/scheduling/recurring.js';
import type { ZoneLookup } from '../../src/domain/sending/schedule-local.js';
import { HeraldError } from '../../src/errors.js';
import type { Logger } from '../../src/logger.js';

export interface RecurringDeps {
  orm: Orm;
  /** producer connection for idempotency keys */
  redis: Redis;
  prefix: string;
  logger: Logger;
  /** the occurrence's notification goes to ingest (the normal send path); the job scheduler of a schedule that is gone is dropped from the recurring queue */
  queues: Producers;
  zones?: ZoneLookup;
}

/** The occurrence time from the job scheduler's job id `repeat:<scheduler>:<millis>`. */
export function occurrenceOf(job: Pick<Job, 'id' | 'timestamp'>): number {
  const millis = Number(String(job.id ?? '').split(':').pop());
  return Number.isFinite(millis) && millis > 0 ? millis : job.timestamp;
}

/**
 * One occurrence of a recurring schedule: build its notification and send
 * it through the normal path (acceptNotifications → ingest). The
 * notification's idempotency key comes from the occurrence, so a job run
 * twice (a crash after enqueueing, two scheduler processes racing on a
 * stalled job) still makes one notification.
 */
export function createRecurringProcessor(deps: RecurringDeps) {
  return async function runOccurrence(job: Job<RecurringJob>): Promise<{ notifications: string[] }> {
    const em = deps.orm.em.fork();
    const log = deps.logger.child({ schedule: job.data.schedule_id, job: job.id });
    const [s] = await em.execute<ScheduleRow[]>(`select * from schedules where id = ? and tenant = ?`, [job.data.schedule_id, job.data.tenant]);
    if (!s || s.deleted_at || !s.is_active) {
      await deps.queues.recurring.removeJobScheduler(schedulerId(job.data.schedule_id));
      log.info('schedule is gone: its job scheduler was removed');
      return { notifications: [] };
    }
    const at = occurrenceOf(job);
    let input;
    try {
      input = await occurrenceInput(em, s, { jobId: String(job.id), at });
    } catch (err) {
      // the schedule's notification no longer validates (its template was deleted…): retrying cannot help
      if (err instanceof HeraldError) throw new UnrecoverableError(`schedule ${s.id}: ${err.message} ${JSON.stringify(err.errors ?? [])}`);
      throw err;
    }
    const who = { sub: s.sender, tenant: s.tenant, roles: [], stores: [], scopes: new Set(['notify:send']) };
    const [result] = await acceptNotifications({ redis: deps.redis, queues: deps.queues, prefix: deps.prefix, zones: deps.zones }, who, [input]);
    if (!result.replayed)
      await em.execute(`update schedules set run_count = run_count + 1, last_run_at = ?, updated_at = now() where id = ?`, [new Date(at), s.id]);
    const ids = result.notifications.map((n) => n.id);
    log.info({ occurrence: new Date(at).toISOString(), notifications: ids, replayed: result.replayed }, 'recurring send made');
    return { notifications: ids };
  };
}
