import type { DeliveryJob, DigestJob, DigestResult } from '../../../queues/jobs.js';
import type { Producers } from '../../../queues/producers.js';
import { isExternal } from '../../channels/index.js';
import type { Orm } from '../../db/orm.js';
import { openContact } from '../../crypto/process-keys.js';
import type { Logger } from '../../logger.js';
import { digestSent } from '../../metrics/metrics.js';
import { deliveryId, insertPlanned, settleNotification } from '../delivery/records.js';
import { digestMessage, type DigestItem } from './message.js';

/**
 * The sending side of digests: when a window ends, its members go out as
 * one message.
 *
 * How the records read afterwards: the combined message is a delivery of
 * its own, like a direct send's (no notification row; its
 * `notification_id` is its own id, so its sender, the first member's, reads
 * it at GET /notifications/{id}/deliveries and a webhook receiver gets that
 * id). It is queued, sent, retried, held by do-not-disturb and failed over
 * like any delivery. Each member's own delivery becomes `skipped` with
 * reason `digested`, and its note says which delivery carried it. A
 * member whose notification was recalled before the window ended (its
 * delivery is skipped as `recalled`) is left out; one read in the inbox
 * meanwhile is still listed. Urgent notifications are never held.
 */

export interface DigestDeps {
  orm: Orm;
  queues: Producers;
  logger: Logger;
}

/** Reason on a member's delivery once its digest has carried it. */
export const DIGESTED = 'digested';

/** The combined delivery's id: derived from the window, so every run of one window makes the same delivery. */
export const digestDeliveryId = (job: DigestJob): string =>
  deliveryId(`digest\u001f${job.tenant}\u001f${job.key}\u001f${Date.parse(job.window_start)}`, job.user_id, job.channel);

interface MemberRow {
  delivery_id: string;
  notification_id: string;
  status: string;
  reason: string | null;
  sender: string;
  address: string | null;
  fallbacks: string[];
  title: string | null;
  content: string | null;
  type: string | null;
  priority: string | null;
  created_at: Date | null;
}

/**
 * Runs one window's digest; safe to run any number of times, and to stop
 * anywhere. Three steps, each repeatable:
 * 1. claim: one transaction takes the bucket row (so no member joins it any
 *    more: a later event opens the next window) and marks its members with
 *    the combined delivery's id. A window already claimed claims nothing.
 * 2. record: the combined delivery's record and the members' `digested`
 *    state, in one transaction, from the claimed members.
 * 3. enqueue the combined delivery's job (its id is the delivery's: adding
 *    it again adds nothing, and the channel worker sends a record once),
 *    then forget the members.
 * A run cut short after 1 or 2 leaves the members claimed: the next run
 * (BullMQ retries the job, or takes it over from a dead worker) does 2 and 3
 * again from them.
 */
export async function runDigest(deps: DigestDeps, job: DigestJob): Promise<DigestResult> {
  const id = digestDeliveryId(job);
  const log = deps.logger.child({ tenant: job.tenant, user: job.user_id, channel: job.channel, digest_key: job.key, delivery: id });
  const em = deps.orm.em.fork();
  const bucket = [job.tenant, job.user_id, job.channel, job.key];

  await em.transactional(async (tem) => {
    const taken = await tem.execute(
      `delete from digest_buckets where tenant = ? and user_id = ? and channel = ? and key = ? and window_start = ? returning 1`,
      [...bucket, job.window_start],
    );
    if (taken.length)
      await tem.execute(`update digest_members set digest_id = ? where tenant = ? and user_id = ? and channel = ? and key = ? and digest_id is null`, [
        id,
        ...bucket,
      ]);
  });

  const rows = await em.execute<MemberRow[]>(
    `select m.delivery_id, m.notification_id, d.status, d.reason, d.sender, d.address, d.fallbacks,
            n.title, n.content, n.type, n.priority, n.created_at
     from digest_members m
     join deliveries d on d.id = m.delivery_id
     left join notifications n on n.id = m.notification_id and n.status <> 'recalled'
     where m.digest_id = ?
     order by n.seq nulls last, m.notification_id`,
    [id],
  );
  if (!rows.length) return { members: 0 };
  // in inbox order; still waiting, or marked by an earlier run of this digest that stopped before the end
  const carried = rows.filter((r) => r.title !== null && (r.status === 'queued' || (r.status === 'skipped' && r.reason === DIGESTED)));
  if (!carried.length) {
    await em.execute(`delete from digest_members where digest_id = ?`, [id]);
    log.info({ dropped: rows.length }, 'digest had nothing left to send (recalled)');
    return { members: 0 };
  }

  const first = carried[0];
  const items: DigestItem[] = carried.map((r) => ({
    id: r.notification_id,
    title: r.title!,
    content: r.content!,
    type: r.type!,
    priority: r.priority!,
    created_at: new Date(r.created_at!).toISOString(),
  }));
  const delivery: DeliveryJob = {
    delivery_id: id,
    tenant: job.tenant,
    notification_id: id,
    sender: first.sender,
    recipient: job.user_id,
    direct: false,
    channel: job.channel,
    // the record keeps the address sealed; the job carries it in clear, as planning does
    address: openContact(first.address),
    fallbacks: first.fallbacks.filter(isExternal),
    fallback_of: null,
    message: await digestMessage({ em, logger: log }, job.tenant, job.key, items),
  };

  await em.transactional(async (tem) => {
    await insertPlanned(tem, [delivery]);
    await tem.execute(
      `update deliveries set status = 'skipped', reason = ?, note = ?, finished_at = now(), updated_at = now()
       where id = any(?::uuid[]) and status = 'queued'`,
      [DIGESTED, `sent in the digest delivery ${id} with ${carried.length} notification(s)`, `{${carried.map((r) => r.delivery_id).join(',')}}`],
    );
  });
  for (const nid of new Set(carried.map((r) => r.notification_id))) await settleNotification(em, nid, 'skipped');

  await deps.queues.enqueueDeliveries([delivery]);
  const forgotten = await em.execute(`delete from digest_members where digest_id = ? returning 1`, [id]);
  if (forgotten.length) {
    digestSent.inc({ channel: job.channel });
    log.info({ members: carried.length }, 'digest enqueued');
  }
  return { members: carried.length, delivery_id: id };
}
