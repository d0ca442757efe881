import { createHash } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { DeliveryJob } from '../../../queues/jobs.js';
import type { DeliveryRow, DeliveryStatus } from '../../db/entities/delivery.js';
import { pgArray } from '../../db/query.js';
import { openContact, sealContact } from '../../crypto/process-keys.js';
import { UnsealError } from '../../crypto/sealed-value.js';
import { maskAddress } from './mask.js';

/**
 * Delivery records: one per (notification, recipient, channel), moving
 * queued → sending → sent | failed | skipped. Every transition is a
 * conditional UPDATE, so a job that runs again (a retried ingest, a worker
 * killed before it acknowledged) finds the record already final and
 * records nothing twice.
 *
 * A delivery of a notification sent with `digest` stays queued (reason
 * `digest`) while its window is open, then is skipped (reason `digested`)
 * once the window's one combined delivery is enqueued: src/domain/digest/digest.ts.
 */

/** A UUID (version 5 layout) derived from what makes a delivery unique, so planning twice yields the same ids. */
export function deliveryId(notificationId: string, recipient: string, channel: string): string {
  const h = createHash('sha1').update(`herald.delivery\u001f${notificationId}\u001f${recipient}\u001f${channel}`).digest();
  h[6] = (h[6] & 0x0f) | 0x50;
  h[8] = (h[8] & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/**
 * What a record stores of a job's addresses: the address sealed, and a direct
 * send's recipient (the raw address it was sent to) sealed as well. Jobs in
 * Redis carry them in clear (see docs/operations.md); the record is what
 * stays.
 */
const storedAddress = (j: DeliveryJob) => sealContact(j.address);
const storedRecipient = (j: DeliveryJob) => (j.direct ? sealContact(j.recipient) : j.recipient);

const ROW_COLUMNS = `id uuid, tenant text, notification_id uuid, sender text, recipient text, direct boolean, channel text,
  address text, fallback_of uuid, fallbacks text[], notification_created_at timestamptz`;

const asRow = (j: DeliveryJob) => ({
  id: j.delivery_id,
  tenant: j.tenant,
  notification_id: j.notification_id,
  sender: j.sender,
  recipient: storedRecipient(j),
  direct: j.direct,
  channel: j.channel,
  address: storedAddress(j),
  fallback_of: j.fallback_of,
  fallbacks: j.fallbacks,
  notification_created_at: j.message.created_at,
});

/** Records planned deliveries (status queued) in one INSERT; existing ones are left as they are. Returns the ids that are new. */
export async function insertPlanned(em: EntityManager, jobs: DeliveryJob[]): Promise<Set<string>> {
  if (!jobs.length) return new Set();
  const rows = await em.execute<{ id: string }[]>(
    `insert into deliveries (id, tenant, notification_id, sender, recipient, direct, channel, address, fallback_of, fallbacks, notification_created_at)
     select x.id, x.tenant, x.notification_id, x.sender, x.recipient, x.direct, x.channel, x.address, x.fallback_of, x.fallbacks, x.notification_created_at
     from json_to_recordset(?::json) as x(${ROW_COLUMNS})
     on conflict do nothing
     returning id`,
    [JSON.stringify(jobs.map(asRow))],
  );
  return new Set(rows.map((r) => r.id));
}

export interface Claim {
  attempts: number;
  /** the status before this claim: 'sending' means an earlier attempt was interrupted mid-send */
  previous: DeliveryStatus | null;
}

/**
 * queued|sending → sending, counting the attempt. Creates the record when
 * planning never wrote it. Null when the delivery is already final.
 */
export async function claimDelivery(em: EntityManager, j: DeliveryJob): Promise<Claim | null> {
  const [row] = await em.execute<Claim[]>(
    `with prev as (select status from deliveries where id = ?)
     insert into deliveries (id, tenant, notification_id, sender, recipient, direct, channel, address, fallback_of, fallbacks,
                             notification_created_at, status, attempts, started_at)
     values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?::text[], ?, 'sending', 1, now())
     on conflict (id) do update set status = 'sending', attempts = deliveries.attempts + 1,
       started_at = coalesce(deliveries.started_at, now()), updated_at = now()
       where deliveries.status in ('queued', 'sending')
     returning attempts, (select status from prev) as previous`,
    [
      j.delivery_id,
      j.delivery_id,
      j.tenant,
      j.notification_id,
      j.sender,
      storedRecipient(j),
      j.direct,
      j.channel,
      storedAddress(j),
      j.fallback_of,
      pgArray(j.fallbacks),
      j.message.created_at,
    ],
  );
  return row ?? null;
}

export async function getDelivery(em: EntityManager, id: string): Promise<DeliveryRow | null> {
  const [row] = await em.execute<DeliveryRow[]>(`select * from deliveries where id = ?`, [id]);
  return row ?? null;
}

/**
 * sending → sent, and the notification with it (one delivered channel makes
 * it sent); `note` says what the channel could not show of it. Returns the latency in ms, or null when another run recorded it
 * first.
 */
export async function markSent(em: EntityManager, id: string, providerMessageId: string | null, note: string | null = null): Promise<number | null> {
  const [row] = await em.execute<{ latency_ms: number }[]>(
    `with d as (
       update deliveries set status = 'sent', provider_message_id = ?, note = ?, reason = null, finished_at = now(), updated_at = now(),
         latency_ms = greatest(0, round(extract(epoch from (now() - notification_created_at)) * 1000))::int
       where id = ? and status = 'sending' returning notification_id, latency_ms
     ), n as (
       update notifications set status = 'sent', sent_at = coalesce(sent_at, now()), updated_at = now()
       where id = (select notification_id from d) and status in ('processing', 'failed') returning id
     )
     select latency_ms from d`,
    [providerMessageId, note?.slice(0, 2000) ?? null, id],
  );
  return row ? row.latency_ms : null;
}

/** queued|sending → failed. False when it was already final. */
export async function markFailed(em: EntityManager, id: string, reason: string, error: string): Promise<boolean> {
  const rows = await em.execute(
    `update deliveries set status = 'failed', reason = ?, last_error = ?, finished_at = now(), updated_at = now()
     where id = ? and status in ('queued', 'sending') returning id`,
    [reason, error.slice(0, 2000), id],
  );
  return rows.length > 0;
}

/** queued|sending → skipped (a preference turned the channel off). */
export async function markSkipped(em: EntityManager, id: string, reason: string): Promise<boolean> {
  const rows = await em.execute(
    `update deliveries set status = 'skipped', reason = ?, attempts = greatest(0, attempts - 1), finished_at = now(), updated_at = now()
     where id = ? and status in ('queued', 'sending') returning id`,
    [reason, id],
  );
  return rows.length > 0;
}

/**
 * sending → queued after a retryable failure: a retry is scheduled. With
 * `outcomeUnknown` (the provider may have accepted it: a timeout, an SMTP
 * reply lost after the end of DATA) the record stays `sending`, so the retry
 * treats it as interrupted: it asks the provider whether it went out, or,
 * for one that cannot be asked (email), resends it under the same id.
 */
export async function markRetrying(em: EntityManager, id: string, reason: string, error: string, outcomeUnknown = false): Promise<void> {
  await em.execute(
    `update deliveries set status = ?, reason = ?, last_error = ?, updated_at = now() where id = ? and status = 'sending'`,
    [outcomeUnknown ? 'sending' : 'queued', reason, error.slice(0, 2000), id],
  );
}

/** sending → queued without using up an attempt: throttled by the provider, or held back (do-not-disturb). */
export async function markHeld(em: EntityManager, id: string, reason: string, note: string): Promise<void> {
  await em.execute(
    `update deliveries set status = 'queued', reason = ?, last_error = ?, attempts = greatest(0, attempts - 1), updated_at = now()
     where id = ? and status = 'sending'`,
    [reason, note.slice(0, 2000), id],
  );
}

/**
 * What the recipient's other deliveries of this notification look like (failover decides on it).
 * A direct send has one recipient, stored sealed (so not comparable): its deliveries are all of the id's.
 */
export async function recipientState(em: EntityManager, notificationId: string, recipient: string, direct = false): Promise<{ sent: boolean; pending: number }> {
  const [row] = await em.execute<{ sent: boolean; pending: string }[]>(
    `select coalesce(bool_or(status = 'sent'), false) as sent, count(*) filter (where status in ('queued', 'sending')) as pending
     from deliveries where notification_id = ? and (recipient = ? or (?::boolean and direct))`,
    [notificationId, recipient, direct],
  );
  return { sent: row?.sent ?? false, pending: Number(row?.pending ?? 0) };
}

/**
 * The notification's status from all its deliveries (used once per
 * notification, when its deliveries are planned): sent when any channel
 * delivered (the inbox counts when 'app' is among its channels), processing
 * while any is in flight, failed when at least one failed and none was
 * delivered, skipped when every delivery was skipped. Only notifications in
 * flight are touched (never a recalled or cancelled one).
 */
export async function refreshNotificationStatus(em: EntityManager, notificationIds: string[]): Promise<void> {
  if (!notificationIds.length) return;
  await em.execute(
    `update notifications n set status = s.next, updated_at = now(),
       sent_at = case when s.next = 'sent' then coalesce(n.sent_at, now()) else n.sent_at end
     from (
       select n2.id,
         case when 'app' = any(n2.channels) or bool_or(d.status = 'sent') then 'sent'
              when bool_or(d.status in ('queued', 'sending')) then 'processing'
              when bool_or(d.status = 'skipped') and not coalesce(bool_or(d.status = 'failed'), false) then 'skipped'
              else 'failed' end as next
       from notifications n2 left join deliveries d on d.notification_id = n2.id
       where n2.id = any(?::uuid[])
       group by n2.id, n2.channels
     ) s
     where n.id = s.id and n.status in ('processing', 'failed') and n.status <> s.next`,
    [pgArray([...new Set(notificationIds)])],
  );
}

/**
 * After a delivery failed or was skipped: once nothing of the notification
 * is in flight (one index probe), it is failed when any delivery failed
 * and none was delivered (a delivered one would have made it sent
 * already), skipped when every delivery was skipped. O(1) per delivery, so
 * a role send to a million recipients does not rescan its deliveries each
 * time one settles.
 */
export async function settleNotification(em: EntityManager, notificationId: string, outcome: 'failed' | 'skipped'): Promise<void> {
  await em.execute(
    `update notifications n set updated_at = now(),
       status = case when ? = 'failed' or exists (select 1 from deliveries f where f.notification_id = n.id and f.status = 'failed')
                     then 'failed' else 'skipped' end
     where n.id = ? and n.status = 'processing'
       and not exists (select 1 from deliveries d where d.notification_id = n.id and d.status in ('queued', 'sending'))`,
    [outcome, notificationId],
  );
}

export interface DeliveryPage {
  /** at most this many records (default: all; the route caps it) */
  limit?: number;
  offset?: number;
  status?: string;
  channel?: string;
}

export async function listDeliveries(em: EntityManager, tenant: string, notificationId: string, page: DeliveryPage = {}): Promise<DeliveryRow[]> {
  const where = ['tenant = ?', 'notification_id = ?'];
  const params: unknown[] = [tenant, notificationId];
  if (page.status) {
    where.push('status = ?');
    params.push(page.status);
  }
  if (page.channel) {
    where.push('channel = ?');
    params.push(page.channel);
  }
  const limit = page.limit === undefined ? '' : ' limit ? offset ?';
  if (page.limit !== undefined) params.push(page.limit, page.offset ?? 0);
  return em.execute<DeliveryRow[]>(
    `select * from deliveries where ${where.join(' and ')} order by created_at, channel, recipient, id${limit}`,
    params,
  );
}

/** How many deliveries of a notification are in each status, per channel. */
export async function deliverySummary(em: EntityManager, tenant: string, notificationId: string) {
  const rows = await em.execute<{ channel: string; status: string; n: number }[]>(
    `select channel, status, count(*)::int as n from deliveries where tenant = ? and notification_id = ? group by channel, status`,
    [tenant, notificationId],
  );
  const summary: Record<string, Record<string, number>> = {};
  for (const r of rows) (summary[r.channel] ??= {})[r.status] = r.n;
  return { total: rows.reduce((t, r) => t + r.n, 0), by_channel: summary };
}

const iso = (d: Date | string | null) => (d == null ? null : new Date(d).toISOString());

/** A stored address as the API shows it: masked; one sealed with a key no longer listed says so rather than failing the listing. */
function shown(stored: string): string {
  try {
    return maskAddress(openContact(stored));
  } catch (err) {
    if (err instanceof UnsealError) return `(sealed with key '${err.keyId}', not listed in HERALD_DATA_KEYS)`;
    throw err;
  }
}

/** A record as the API lists it: addresses masked (the full ones are the recipient's record's, not a delivery log's). */
export function presentDelivery(d: DeliveryRow) {
  return {
    id: d.id,
    channel: d.channel,
    recipient: d.direct ? shown(d.recipient) : d.recipient,
    address: d.address === null ? null : shown(d.address),
    status: d.status,
    attempts: d.attempts,
    reason: d.reason,
    last_error: d.last_error,
    provider_message_id: d.provider_message_id,
    note: d.note ?? null,
    fallback_of: d.fallback_of,
    created_at: iso(d.created_at),
    started_at: iso(d.started_at),
    finished_at: iso(d.finished_at),
    latency_ms: d.latency_ms,
  };
}
