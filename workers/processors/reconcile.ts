import type { Queue } from 'bullmq';
import { fireJobId, schedulerId } from '../../queues/job-ids.js';
import type { IngestJob } from '../../queues/jobs.js';
import { fireJob, type Producers } from '../../queues/producers.js';
import type { Orm } from '../../src/db/orm.js';
import { upsertScheduler, type ScheduleRow } from '../../src/domain/scheduling/recurring.js';
import type { Logger } from '../../src/logger.js';

export interface ReconcileDeps {
  orm: Orm;
  logger: Logger;
  /** the ingest queue holds the firing jobs, the recurring queue the job schedulers */
  queues: Producers;
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
 * Where a firing job that will still run can be. Firing jobs carry no
 * priority, so they are never in 'prioritized', where the (large) backlog
 * of ingest jobs waits: the scan does not read it.
 */
const PENDING = ['delayed', 'waiting', 'active'] as const;

/** Every notification id a pending firing job of the ingest queue will fire. */
async function pendingFireIds(ingest: Queue<IngestJob>): Promise<Set<string>> {
  const ids = new Set<string>();
  for (const state of PENDING) {
    for (let start = 0; ; start += PAGE) {
      const jobs = await ingest.getJobs([state], start, start + PAGE - 1, true);
      for (const j of jobs) for (const id of j?.data?.fire?.ids ?? []) ids.add(id);
      if (jobs.length < PAGE) break;
    }
  }
  return ids;
}

/**
 * PostgreSQL is the truth about what is scheduled; Redis holds the delayed
 * jobs that fire it (one per tenant, time and chunk). A notification still
 * 'scheduled' that no pending firing job covers (Redis lost it, someone
 * removed it, it failed for good) gets a job of its own, due at once if its
 * time has passed. Returns how many were re-created.
 */
export async function reconcileScheduledSends(deps: ReconcileDeps, scope: Scope = {}): Promise<number> {
  const em = deps.orm.em.fork();
  const rows: Array<{ id: string; tenant: string; schedule_at: Date }> = [];
  for (let after: { at: Date; id: string } | null = null; ; ) {
    const page: Array<{ id: string; tenant: string; schedule_at: Date }> = await em.execute(
      `select id, tenant, schedule_at from notifications where status = 'scheduled' and (?::text is null or tenant = ?)
         ${after ? 'and (schedule_at, id) > (?, ?)' : ''} order by schedule_at, id limit ?`,
      [scope.tenant ?? null, scope.tenant ?? null, ...(after ? [after.at, after.id] : []), PAGE],
    );
    rows.push(...page);
    if (page.length < PAGE) break;
    after = { at: page[page.length - 1].schedule_at, id: page[page.length - 1].id };
  }
  if (!rows.length) return 0;
  const covered = new Set<string>();
  for (const shard of deps.queues.ingestShards) for (const id of await pendingFireIds(shard)) covered.add(id);
  const redo = rows.filter((r) => !covered.has(r.id));
  // a re-created firing job goes to the first shard: it is one job per notification, and order among them means nothing
  const ingest = deps.queues.ingest;
  for (const r of redo) {
    // a failed or finished job may hold the id this one takes: it is not pending, so it can go
    await ingest.remove(fireJobId(r.id)).catch(() => undefined);
  }
  for (let i = 0; i < redo.length; i += PAGE)
    await ingest.addBulk(redo.slice(i, i + PAGE).map((r) => fireJob(r.tenant, [r.id], new Date(r.schedule_at).getTime())));
  if (redo.length) deps.logger.warn({ ids: redo.map((r) => r.id) }, 'scheduled sends had lost their firing job: re-created');
  return redo.length;
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
    const page = await deps.queues.recurring.getJobSchedulers(start, start + PAGE - 1, true);
    for (const s of page) if (!scope.tenant || s.template?.data?.tenant === scope.tenant) existing.add(s.key);
    if (page.length < PAGE) break;
  }
  let restored = 0;
  for (const s of live) {
    if (existing.has(schedulerId(s.id))) continue;
    await upsertScheduler(deps.queues.recurring, s);
    restored++;
  }
  let removed = 0;
  for (const key of existing) {
    if (liveIds.has(key)) continue;
    await deps.queues.recurring.removeJobScheduler(key);
    removed++;
  }
  if (restored || removed) deps.logger.warn({ restored, removed }, 'recurring schedules reconciled');
  return { restored, removed };
}
