import type { EntityManager } from '@mikro-orm/postgresql';
import { query } from '../../db/query.js';

/** Rows deleted per transaction, so the purge never holds long locks. */
const PURGE_BATCH = 5000;

/**
 * Retention of the audit log: events older than `days` go (AUDIT_RETENTION_DAYS,
 * apart from the notifications' retention: an audit trail usually has to
 * outlive what it audits); `days` 0 keeps them forever. audit_events
 * refuses deletes (its append-only trigger) unless the transaction has set
 * herald.audit_purge: each batch sets it for its own transaction only, so
 * nothing else on that connection can delete with it. `tenant` narrows the
 * purge (tests share a database). Returns how many events went.
 */
export async function purgeAuditEvents(em: EntityManager, days: number, now = new Date(), tenant: string | null = null): Promise<number> {
  if (days <= 0) return 0;
  const cutoff = new Date(now.getTime() - days * 86_400_000);
  let deleted = 0;
  for (;;) {
    const n = await em.transactional(async (tem) => {
      await query(tem, `select set_config('herald.audit_purge', 'on', true)`);
      const [row] = await query<{ count: string }>(
        tem,
        `with gone as (
           delete from audit_events where id in (
             select id from audit_events where time < ? and (?::text is null or tenant = ?) order by time limit ${PURGE_BATCH})
           returning 1)
         select count(*)::text as count from gone`,
        [cutoff, tenant, tenant],
      );
      return Number(row.count);
    });
    deleted += n;
    if (n < PURGE_BATCH) return deleted;
  }
}
