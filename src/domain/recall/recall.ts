import type { EntityManager } from '@mikro-orm/postgresql';
import type { Redis } from 'ioredis';
import { deliveryJobId } from '../../../queues/job-ids.js';
import type { Producers } from '../../../queues/producers.js';
import type { Principal } from '../../auth/jwt.js';
import { isExternal } from '../../channels/index.js';
import { ConflictError, NotFoundError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { recalledFrame } from '../../feed/frames.js';
import { publishEvents } from '../../feed/publish.js';
import { uuidv7Time } from '../ids.js';
import { presentRow, RETURNING, type NotificationJson, type StoredRow } from '../inbox/present.js';

/**
 * Taking a notification back, by its sender only (anyone else gets 404):
 * cancel before a scheduled one fires, recall after it was sent.
 */
export interface RecallDeps {
  em: EntityManager;
  redis: Redis;
  prefix: string;
  /** the channels' delivery queues, to remove jobs that have not started */
  queues: Producers;
  logger: Logger;
}

type Sender = Pick<Principal, 'sub' | 'tenant'>;

async function current(em: EntityManager, who: Sender, id: string): Promise<StoredRow> {
  const [row] = await em.execute<StoredRow[]>(`select ${RETURNING} from notifications where id = ? and tenant = ? and sender = ?`, [
    id,
    who.tenant,
    who.sub,
  ]);
  if (!row) throw new NotFoundError(`Notification ${id} was not found.`);
  return row;
}

/**
 * Cancels a scheduled notification that has not fired: it never enters an
 * inbox. Cancelling twice is answered with
 * the cancelled notification; once it fired it is 409 (recall it instead).
 */
export async function cancelScheduled(deps: RecallDeps, who: Sender, id: string): Promise<NotificationJson> {
  const cancel = () =>
    deps.em.execute<StoredRow[]>(
      `update notifications set status = 'cancelled', updated_at = now()
       where id = ? and tenant = ? and sender = ? and status = 'scheduled' returning ${RETURNING}`,
      [id, who.tenant, who.sub],
    );
  let [row] = await cancel();
  if (!row && (await storing(deps, who, id))) [row] = await cancel();
  if (!row) {
    const now = await current(deps.em, who, id);
    if (now.status === 'cancelled') return presentRow(now);
    throw new ConflictError(`Notification ${id} is ${now.status}, not scheduled: it can no longer be cancelled${now.seq ? '; recall it instead' : ''}.`);
  }
  // its firing job (shared with notifications due at the same time) stays: it finds this one cancelled and skips it
  return presentRow(row);
}

/** How recent (by the time in its UUIDv7) a notification must be for a cancel to wait for its row. */
const JUST_SENT_MS = 60_000;

/**
 * A cancel that arrives right after the send can beat the ingest worker to
 * the row. Ids are UUIDv7 and carry their creation time: for one made in
 * the last minute, wait a little for the row rather than answer 404 for a
 * notification the caller just created.
 */
async function storing(deps: RecallDeps, who: Sender, id: string, timeoutMs = 3000): Promise<boolean> {
  const created = uuidv7Time(id);
  if (!(Math.abs(Date.now() - created) < JUST_SENT_MS)) return false;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const found = await deps.em.execute(`select 1 from notifications where id = ? and tenant = ?`, [id, who.tenant]);
    if (found.length) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

/**
 * Recalls a sent notification: it leaves every inbox and unread count (its
 * cursor is cleared), open sockets get `notification.recalled`, and channel
 * deliveries that have not started are skipped and their jobs removed.
 * A scheduled one is simply cancelled. Recalling twice is harmless.
 */
export async function recallNotification(deps: RecallDeps, who: Sender, id: string): Promise<NotificationJson> {
  const [row] = await deps.em.execute<StoredRow[]>(
    `update notifications set seq = null, status = 'recalled', updated_at = now()
     where id = ? and tenant = ? and sender = ? and status not in ('scheduled', 'cancelled', 'recalled')
     returning ${RETURNING}`,
    [id, who.tenant, who.sub],
  );
  if (!row) {
    const now = await current(deps.em, who, id);
    if (now.status === 'scheduled') return cancelScheduled(deps, who, id);
    if (now.status === 'recalled') return presentRow(now);
    throw new ConflictError(`Notification ${id} was cancelled before it was sent; there is nothing to recall.`);
  }
  await publishEvents(deps.redis, deps.prefix, [
    { tenant: row.tenant, audience: row.audience, frame: recalledFrame(row.id, row.group_key) },
  ]).catch((err) => deps.logger.warn({ err, id }, 'could not publish notification.recalled'));
  await cancelDeliveries(deps, id);
  return presentRow(row);
}

/** Skips the notification's deliveries still queued (reason 'recalled') and removes their jobs. */
async function cancelDeliveries(deps: RecallDeps, id: string): Promise<void> {
  const skipped = await deps.em.execute<Array<{ id: string; channel: string; tenant: string; recipient: string }>>(
    `update deliveries set status = 'skipped', reason = 'recalled', finished_at = now(), updated_at = now()
     where notification_id = ? and status = 'queued' returning id, channel, tenant, recipient`,
    [id],
  );
  for (const d of skipped) {
    if (!isExternal(d.channel)) continue;
    // an active job is not removable; it finds its delivery skipped and does not send
    await deps.queues
      .deliveryFor(d.channel, d.tenant, d.recipient)
      .remove(deliveryJobId(d.id))
      .catch((err) => deps.logger.warn({ err, delivery: d.id }, 'could not remove a delivery job'));
  }
}
