import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { deliveryJobId } from '../../queues/job-ids.js';
import type { ExternalChannel } from '../../queues/jobs.js';
import type { Producers } from '../../queues/producers.js';
import { isExternal } from '../../src/channels/index.js';
import type { DeliveryRow } from '../../src/db/entities/delivery.js';
import type { Orm } from '../../src/db/orm.js';
import { dropMonthsBefore } from '../../src/db/partitions.js';
import { deliveryJob, messageOf } from '../../src/domain/delivery/plan.js';
import type { StoredRow } from '../../src/domain/inbox/present.js';
import { uuidv7Floor } from '../../src/domain/ids.js';
import { purgeUnreferencedAttachments } from '../../src/domain/attachments/retention.js';
import { purgeAuditEvents } from '../../src/domain/audit/purge.js';
import { openContact } from '../../src/crypto/process-keys.js';
import type { Logger } from '../../src/logger.js';
import type { Scope } from './reconcile.js';

/** Rows deleted per statement, so a large purge never holds long locks. */
const PURGE_BATCH = 5000;

/**
 * Retention: notifications created more than `days` ago go, with their
 * receipts, acks and actions, delivery records and records of rejected ones.
 * A notification still waiting to fire stays whatever its age (it was
 * scheduled far ahead on purpose).
 *
 * Notifications are partitioned by month (src/db/partitions.ts): a month
 * that ended before the cutoff is dropped whole, which costs the same for a
 * thousand rows as for a billion and leaves no dead rows to vacuum. The rows
 * left older than the cutoff are those of the month it falls in (and of a
 * month kept for a notification waiting to fire): they are deleted as
 * before, so nothing outlives `days` by up to a month. Ids are UUIDv7 (time
 * first), so those are the start of the primary key: the delete walks it in
 * id order below the cutoff's id, PURGE_BATCH rows a statement, and needs no
 * index on created_at. created_at is checked too. A purge scoped to one
 * tenant never drops months (they hold every tenant's rows).
 */
export async function purgeExpired(
  deps: { orm: Orm; logger: Logger },
  days: number,
  now = new Date(),
  scope: Scope = {},
): Promise<{ notifications: number; deliveries: number; months: string[] }> {
  const cutoff = new Date(now.getTime() - days * 86_400_000);
  const below = uuidv7Floor(cutoff);
  const em = deps.orm.em.fork();
  const months = scope.tenant ? { dropped: [], kept: [] } : await dropMonthsBefore(em, cutoff);
  if (months.kept.length) deps.logger.info({ kept: months.kept }, 'retention keeps old months that hold notifications waiting to fire');
  let notifications = 0;
  let after = '00000000-0000-0000-0000-000000000000';
  for (;;) {
    const rows = await em.execute<Array<{ last: string | null; count: string }>>(
      `with gone as (
         delete from notifications where id in (
           select id from notifications
           where id > ?::uuid and id < ?::uuid and created_at < ? and status <> 'scheduled' and (?::text is null or tenant = ?)
           order by id limit ${PURGE_BATCH})
         returning id)
       select max(id::text) as last, count(*)::text as count from gone`,
      [after, below, cutoff, scope.tenant ?? null, scope.tenant ?? null],
    );
    const n = Number(rows[0]?.count ?? 0);
    notifications += n;
    if (n < PURGE_BATCH || !rows[0].last) break;
    after = rows[0].last;
  }
  let deliveries = 0;
  for (;;) {
    const rows = await em.execute<Array<{ id: string }>>(
      `delete from deliveries where id in (
         select id from deliveries where notification_created_at < ? and status not in ('queued', 'sending')
           and (?::text is null or tenant = ?) limit ${PURGE_BATCH})
       returning id`,
      [cutoff, scope.tenant ?? null, scope.tenant ?? null],
    );
    deliveries += rows.length;
    if (rows.length < PURGE_BATCH) break;
  }
  // records of notifications that could not be stored (src/domain/sending/rejections.ts): UUIDv7 ids too
  let rejections = 0;
  for (;;) {
    const rows = await em.execute<Array<{ id: string }>>(
      `delete from notification_rejections where id in (
         select id from notification_rejections where id < ?::uuid and (?::text is null or tenant = ?) order by id limit ${PURGE_BATCH})
       returning id`,
      [below, scope.tenant ?? null, scope.tenant ?? null],
    );
    rejections += rows.length;
    if (rows.length < PURGE_BATCH) break;
  }
  // email attachments no notification names any more (their notifications have just gone, or were never stored)
  const attachments = await purgeUnreferencedAttachments(em, now, scope.tenant ?? null);
  if (notifications || deliveries || rejections || attachments || months.dropped.length)
    deps.logger.info({ notifications, deliveries, rejections, attachments, months: months.dropped, older_than: cutoff.toISOString() }, 'retention purge');
  return { notifications, deliveries, months: months.dropped };
}

/**
 * Retention of the audit log, on its own clock (AUDIT_RETENTION_DAYS, 0 =
 * forever): an audit trail usually has to outlive the notifications it
 * speaks of. Batches of old events go under the purge setting that lets the
 * append-only table accept a delete (src/domain/audit/purge.ts).
 */
export async function purgeExpiredAudit(deps: { orm: Orm; logger: Logger }, days: number, now = new Date(), scope: Scope = {}): Promise<number> {
  const events = await purgeAuditEvents(deps.orm.em.fork(), days, now, scope.tenant ?? null);
  if (events) deps.logger.info({ audit_events: events, older_than_days: days }, 'audit retention purge');
  return events;
}

/** BullMQ states in which a job is still on its way: its worker (or BullMQ's stalled check) will finish it. */
const IN_PROGRESS = new Set(['active', 'waiting', 'delayed', 'prioritized', 'waiting-children']);

/**
 * Deliveries left in `sending` longer than `afterMs`: the worker that
 * claimed them died and the job went missing or ended without settling the
 * record. Each gets its job again (same id, rebuilt from PostgreSQL); the
 * delivery processor then asks the provider whether the interrupted attempt
 * got through before sending. Jobs still in progress are left to BullMQ.
 */
export async function requeueStuckDeliveries(
  deps: { orm: Orm; queues: Producers; logger: Logger },
  afterMs: number,
  now = new Date(),
  scope: Scope = {},
): Promise<string[]> {
  const em = deps.orm.em.fork();
  const stuck = await em.execute<Array<DeliveryRow & { n: StoredRow }>>(
    `select d.*, to_jsonb(n) as n from deliveries d join notifications n on n.id = d.notification_id
     where d.status = 'sending' and d.updated_at < ? and (?::text is null or d.tenant = ?) order by d.updated_at limit 1000`,
    [new Date(now.getTime() - afterMs), scope.tenant ?? null, scope.tenant ?? null],
  );
  const requeued: string[] = [];
  for (const d of stuck) {
    if (!isExternal(d.channel)) continue;
    const queue = deps.queues.deliveryFor(d.channel as ExternalChannel, d.tenant, d.recipient);
    const state = await queue.getJobState(deliveryJobId(d.id));
    if (IN_PROGRESS.has(state)) continue;
    if (state !== 'unknown') await queue.remove(deliveryJobId(d.id));
    const planned = deliveryJob(
      { tenant: d.tenant, notification_id: d.notification_id, sender: d.sender, message: messageOf(d.n) },
      // the record keeps the address sealed; the job carries it in clear, as planning does
      { recipient: d.recipient, direct: d.direct, address: openContact(d.address) },
      d.channel as ExternalChannel,
      d.fallbacks.filter(isExternal),
      d.fallback_of,
    );
    // the record's id is the truth (it is derived the same way when planned; keep it whatever happens to the derivation)
    await deps.queues.enqueueDeliveries([{ ...planned, delivery_id: d.id }]);
    requeued.push(d.id);
  }
  if (requeued.length) deps.logger.warn({ deliveries: requeued }, 'deliveries stuck in sending were re-enqueued');
  return requeued;
}

/**
 * Runs `task` only if no other scheduler process is running it: a Redis
 * lock with a deadline, released only by its holder. Returns undefined when
 * another process holds it.
 */
export async function withLock<T>(redis: Redis, key: string, ttlMs: number, task: () => Promise<T>): Promise<T | undefined> {
  const token = randomBytes(8).toString('hex');
  if ((await redis.set(key, token, 'PX', ttlMs, 'NX')) !== 'OK') return undefined;
  try {
    return await task();
  } finally {
    await redis.eval(`if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0`, 1, key, token);
  }
}
