import type { EntityManager } from '@mikro-orm/postgresql';
import type { DeliveryJob, DigestJob } from '../../../queues/jobs.js';
import type { Producers } from '../../../queues/producers.js';
import { pgArray } from '../../db/query.js';
import { digestMembers } from '../../metrics/metrics.js';
import { digestOf, type DigestSpec } from './window.js';

/**
 * The planning side of digests: a delivery of a notification sent with
 * `digest` is recorded `queued` (reason `digest`) like any other, but
 * instead of its channel job it becomes a member of its (tenant, user,
 * channel, key) bucket, whose delayed job sends every member as one message
 * when the window ends (src/domain/digest/digest.ts).
 */

/** Reason on a delivery waiting in a digest window. */
export const HELD_FOR_DIGEST = 'digest';

/**
 * The digest a delivery waits for, or null when it goes out alone: urgent
 * ones never wait, nor do fallbacks, nor sends to a raw address.
 */
export function digestFor(job: DeliveryJob): DigestSpec | null {
  if (job.message.priority === 'urgent' || job.direct || job.fallback_of) return null;
  return digestOf(job.message.metadata);
}

const bucketKey = (j: { tenant: string; recipient: string; channel: string }, key: string) => `${j.tenant}\u001f${j.recipient}\u001f${j.channel}\u001f${key}`;

/**
 * Puts planned (and recorded) deliveries into their digest buckets and makes
 * sure each bucket's window has its job. One transaction: the bucket rows are
 * taken (in key order, so two batches never wait on each other in a cycle)
 * before the members are added, so a digest job claiming a bucket either
 * sees these members or has already claimed it, and they open the next
 * window. A delivery that is no longer queued (a retried plan whose digest
 * already went) is left out. Adding the windows' jobs after the commit is
 * safe to repeat: a window's job id is fixed by its start.
 */
export async function holdForDigest(deps: { em: EntityManager; queues: Producers }, held: Array<{ job: DeliveryJob; spec: DigestSpec }>): Promise<void> {
  if (!held.length) return;
  const windows = await deps.em.transactional(async (em) => {
    const queued = await em.execute<Array<{ id: string }>>(
      `update deliveries set reason = ?, updated_at = now() where id = any(?::uuid[]) and status = 'queued' returning id`,
      [HELD_FOR_DIGEST, pgArray(held.map((h) => h.job.delivery_id))],
    );
    const still = new Set(queued.map((r) => r.id));
    const members = held.filter((h) => still.has(h.job.delivery_id));
    if (!members.length) return null;
    const buckets = new Map<string, { tenant: string; user_id: string; channel: string; key: string; window_ms: number }>();
    for (const { job, spec } of members) {
      const k = bucketKey(job, spec.key);
      // the window of the event that opens the bucket holds; a later event with another window joins it as it is
      if (!buckets.has(k)) buckets.set(k, { tenant: job.tenant, user_id: job.recipient, channel: job.channel, key: spec.key, window_ms: spec.windowMs });
    }
    const open = await em.execute<Array<{ tenant: string; user_id: string; channel: string; key: string; window_start: Date; window_ms: number }>>(
      `insert into digest_buckets (tenant, user_id, channel, key, window_start, window_ms)
       select x.tenant, x.user_id, x.channel, x.key, date_trunc('milliseconds', clock_timestamp()), x.window_ms
       from json_to_recordset(?::json) as x(tenant text, user_id text, channel text, key text, window_ms int)
       order by x.tenant, x.user_id, x.channel, x.key
       on conflict (tenant, user_id, channel, key) do update set window_ms = digest_buckets.window_ms
       returning tenant, user_id, channel, key, window_start, window_ms`,
      [JSON.stringify([...buckets.values()])],
    );
    const added = await em.execute<Array<{ channel: string }>>(
      `insert into digest_members (delivery_id, tenant, user_id, channel, key, notification_id)
       select x.delivery_id, x.tenant, x.user_id, x.channel, x.key, x.notification_id
       from json_to_recordset(?::json) as x(delivery_id uuid, tenant text, user_id text, channel text, key text, notification_id uuid)
       on conflict (delivery_id) do nothing
       returning channel`,
      [
        JSON.stringify(
          members.map(({ job, spec }) => ({
            delivery_id: job.delivery_id,
            tenant: job.tenant,
            user_id: job.recipient,
            channel: job.channel,
            key: spec.key,
            notification_id: job.notification_id,
          })),
        ),
      ],
    );
    return { open, added };
  });
  if (!windows) return;
  // counted at the commit: a retried plan adds no member twice, so it would never count one whose job add failed
  for (const m of windows.added) digestMembers.inc({ channel: m.channel });
  await deps.queues.scheduleDigests(
    windows.open.map((b) => ({
      job: { tenant: b.tenant, user_id: b.user_id, channel: b.channel, key: b.key, window_start: new Date(b.window_start).toISOString() } as DigestJob,
      windowMs: b.window_ms,
    })),
  );
}
