import cron, { type ScheduledTask } from 'node-cron';
import type { Redis } from 'ioredis';
import type { Config } from '../src/config.js';
import { ensurePartitions } from '../src/db/partitions.js';
import { buildSearchIndexes } from '../src/db/search-index.js';
import { forgetDeadNodes } from '../src/realtime/presence.js';
import { purgeExpired, purgeExpiredAudit, requeueStuckDeliveries, withLock } from './processors/maintenance.js';
import { reconcileRecurring, reconcileScheduledSends, type ReconcileDeps } from './processors/reconcile.js';

export type MaintenanceDeps = ReconcileDeps & { redis: Redis; prefix: string };

type Patterns = Pick<
  Config,
  'RECONCILE_CRON' | 'RETENTION_CRON' | 'STUCK_DELIVERY_CRON' | 'RETENTION_DAYS' | 'AUDIT_RETENTION_DAYS' | 'STUCK_DELIVERY_AFTER_MS' | 'PARTITIONS_AHEAD' | 'SEARCH_INDEX_MONTHS'
>;

/**
 * Daily, and at start: months of notifications made PARTITIONS_AHEAD ahead,
 * so a month's first insert never waits for its partition (the store path
 * would make it, but that takes a lock on notifications while inserts wait).
 */
const PARTITIONS_CRON = '41 2 * * *';

/**
 * Hourly, and at start: the inbox search index of each month that has
 * ended, or of every month (SEARCH_INDEX_MONTHS; src/db/search-index.ts).
 * A month's build takes minutes, or hours for a very busy month; the lock
 * lapses after an hour, and a build PostgreSQL is still running then is
 * left alone by the next run.
 */
const SEARCH_INDEX_CRON = '23 * * * *';

/** A bad pattern stops the process at start with the variable's name, rather than never running. */
export function checkPatterns(p: Patterns): string[] {
  return (['RECONCILE_CRON', 'RETENTION_CRON', 'STUCK_DELIVERY_CRON'] as const).filter((k) => !cron.validate(p[k])).map((k) => `${k}: not a cron pattern`);
}

/**
 * The scheduler process's node-cron maintenance (reconciliation, retention,
 * partitions ahead, the search index of ended months, stuck deliveries,
 * realtime presence housekeeping). Every
 * scheduler process runs the timers; a Redis lock per task lets one of them
 * do the work. Reconciliation, partitions and the search index also run
 * once at start, so a restart repairs at once.
 */
export function startMaintenance(
  deps: MaintenanceDeps,
  p: Patterns,
): { stop(): void; reconcileNow(): Promise<void>; partitionsNow(): Promise<void>; searchIndexNow(): Promise<void> } {
  const log = deps.logger.child({ component: 'maintenance' });
  const lock = (name: string) => `${deps.prefix}:lock:scheduler:${name}`;
  const guarded = (name: string, ttlMs: number, task: () => Promise<unknown>) => async () => {
    try {
      await withLock(deps.redis, lock(name), ttlMs, task);
    } catch (err) {
      log.error({ err, task: name }, 'maintenance task failed');
    }
  };
  const reconcile = guarded('reconcile', 55_000, async () => {
    await reconcileScheduledSends(deps);
    await reconcileRecurring(deps);
  });
  const partitions = guarded('partitions', 300_000, async () => {
    const created = await ensurePartitions(deps.orm.em.fork(), p.PARTITIONS_AHEAD);
    if (created.length) log.info({ created }, 'partitions made ahead');
  });
  const searchIndex = guarded('search-index', 3600_000, async () => {
    const built = await buildSearchIndexes(deps.orm.em.fork(), p.SEARCH_INDEX_MONTHS);
    if (built.length) log.info({ built }, 'search index built');
  });
  const tasks: ScheduledTask[] = [
    cron.schedule(p.RECONCILE_CRON, reconcile, { name: 'reconcile', noOverlap: true }),
    cron.schedule(PARTITIONS_CRON, partitions, { name: 'partitions', noOverlap: true }),
    cron.schedule(SEARCH_INDEX_CRON, searchIndex, { name: 'search-index', noOverlap: true }),
    cron.schedule(p.RETENTION_CRON, guarded('retention', 3600_000, () => purgeExpired(deps, p.RETENTION_DAYS)), { name: 'retention', noOverlap: true }),
    cron.schedule(p.RETENTION_CRON, guarded('audit-retention', 3600_000, () => purgeExpiredAudit(deps, p.AUDIT_RETENTION_DAYS)), {
      name: 'audit-retention',
      noOverlap: true,
    }),
    // connection-count housekeeping: crashed realtime nodes' presence entries
    cron.schedule(p.RECONCILE_CRON, guarded('realtime-presence', 55_000, () => forgetDeadNodes(deps.redis, deps.prefix)), {
      name: 'realtime-presence',
      noOverlap: true,
    }),
    cron.schedule(p.STUCK_DELIVERY_CRON, guarded('stuck-deliveries', 55_000, () => requeueStuckDeliveries(deps, p.STUCK_DELIVERY_AFTER_MS)), {
      name: 'stuck-deliveries',
      noOverlap: true,
    }),
  ];
  return {
    stop() {
      for (const t of tasks) void t.stop();
    },
    reconcileNow: reconcile,
    partitionsNow: partitions,
    searchIndexNow: searchIndex,
  };
}
