import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { IngestJob, RecurringJob } from '../../queues/jobs.js';
import { fireJob, fireJobId } from '../../queues/producers.js';
import type { Orm } from '../../src/db/orm.js';
import { schedulerId, upsertScheduler, type ScheduleRow } from '../../src/domain/schedules.js';
import type { Logger } from '../../src/logger.js';

export interface ReconcileDeps {
  orm: Orm;
  /** any connection to the queues' Redis (to look up job keys in one pipeline) */
  redis: Redis;
  logger: Logger;
  ingest: Queue<IngestJob>;
  recurring: Queue<RecurringJob>;
}

/**
 * One deployment (one QUEUE_PREFIX) owns its whole database, so by default
 * everything is reconciled; `tenant` narrows it (tests share a database
 * between queue prefixes).
 */
export interface Scope {
  tenant?: string;
}

/** Scheduled notifications read per round trip. */
const PAGE = 1000;

/**
 * PostgreSQL is the truth about what is scheduled; Redis holds the delayed
 * jobs that fire it. A notification still 'scheduled' whose firing job is
 * missing (Redis lost it, someone removed it) or failed for good gets a new
 * one, due at once if its time has passed. Returns how many were re-created.
 */
export async function reconcileScheduledSends(deps: ReconcileDeps, scope: Scope = {}): Promise<number> {
  const em = deps.orm.em.fork();
  const failedKey = deps.ingest.toKey('failed');
  let after: { at: Date; id: string } | null = null;
  let recreated = 0;
  for (;;) {
    const rows: Array<{ id: string; tenant: string; schedule_at: Date }> = await em.execute(
      `select id, tenant, schedule_at from notifications where status = 'scheduled' and (?::text is null or tenant = ?)
         ${after ? 'and (schedule_at, id) > (?, ?)' : ''} order by schedule_at, id limit ?`,
      [scope.tenant ?? null, scope.tenant ?? null, ...(after ? [after.at, after.id] : []), PAGE],
    );
    if (!rows.length) break;
    const pipe = deps.redis.pipeline();
    for (const r of rows) {
      pipe.exists(deps.ingest.toKey(fireJobId(r.id)));
      pipe.zscore(failedKey, fireJobId(r.id));
    }
    const replies = (await pipe.exec()) ?? [];
    const redo = rows.filter((_, i) => replies[2 * i]?.[1] === 0 || replies[2 * i + 1]?.[1] !== null);
    for (const r of redo) {
      // a failed job keeps its id: it must go before the same id can be added again
      await deps.ingest.remove(fireJobId(r.id)).catch(() => undefined);
    }
    if (redo.length) {
      await deps.ingest.addBulk(redo.map((r) => fireJob(r.tenant, r.id, new Date(r.schedule_at).getTime())));
      recreated += redo.length;
      deps.logger.warn({ ids: redo.map((r) => r.id) }, 'scheduled sends had lost their firing job: re-created');
    }
    if (rows.length < PAGE) break;
    const last = rows[rows.length - 1];
    after = { at: last.schedule_at, id: last.id };
  }
  return recreated;
}

/**
 * Recurring schedules: every live schedule has its job scheduler (re-made
 * if missing), and a job scheduler whose schedule was deleted goes.
 */
export async function reconcileRecurring(deps: ReconcileDeps, scope: Scope = {}): Promise<{ restored: number; removed: number }> {
  const em = deps.orm.em.fork();
  const live = await em.execute<ScheduleRow[]>(
    `select id, tenant, cron, timezone from schedules where deleted_at is null and is_active and (?::text is null or tenant = ?)`,
    [scope.tenant ?? null, scope.tenant ?? null],
  );
  const liveIds = new Set(live.map((s) => schedulerId(s.id)));
  const existing = new Set<string>();
  for (let start = 0; ; start += PAGE) {
    const page = await deps.recurring.getJobSchedulers(start, start + PAGE - 1, true);
    for (const s of page) if (!scope.tenant || s.template?.data?.tenant === scope.tenant) existing.add(s.key);
    if (page.length < PAGE) break;
  }
  let restored = 0;
  for (const s of live) {
    if (existing.has(schedulerId(s.id))) continue;
    await upsertScheduler(deps.recurring, s);
    restored++;
  }
  let removed = 0;
  for (const key of existing) {
    if (liveIds.has(key)) continue;
    await deps.recurring.removeJobScheduler(key);
    removed++;
  }
  if (restored || removed) deps.logger.warn({ restored, removed }, 'recurring schedules reconciled');
  return { restored, removed };
}
