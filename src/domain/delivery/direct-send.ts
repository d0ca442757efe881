import type { EntityManager } from '@mikro-orm/postgresql';
import type { ExternalChannel, NotificationType, Priority } from '../../../queues/jobs.js';
import type { Producers } from '../../../queues/producers.js';
import type { Principal } from '../../auth/jwt.js';
import type { Orm } from '../../db/orm.js';
import { insertPlanned, listDeliveries, markFailed } from './records.js';
import { deliveryJob } from './plan.js';
import { newId } from '../ids.js';
import { addressOf, classifyAddress, findRecipientByAddress } from './recipients.js';

/**
 * The 智链OS API's direct send: a message to one address (an email, a phone number
 * or a channel user id) on each channel, with delivery records but no inbox
 * row. Used by POST /notifications/multi-channel, and by template sends whose
 * `recipient` is an address no recipient has.
 */
export interface DirectSend {
  recipient: string;
  channels: ExternalChannel[];
  fallback_channels: ExternalChannel[];
  title: string;
  content: string;
  type: NotificationType;
  priority: Priority;
  metadata: Record<string, unknown>;
}

export interface DirectDeps {
  orm: Orm;
  queues: Producers;
}

/** Records and enqueues one delivery per channel; returns the id the deliveries are listed under. */
export async function sendDirect(deps: DirectDeps, who: Principal, send: DirectSend): Promise<string> {
  const em = deps.orm.em.fork();
  const id = newId();
  // a recipient named by user id, email or phone reaches that user's addresses; anything else is used as given
  const known = await findRecipientByAddress(em, who.tenant, send.recipient);
  const seed = {
    tenant: who.tenant,
    notification_id: id,
    sender: who.sub,
    message: {
      title: send.title,
      content: send.content,
      type: send.type,
      priority: send.priority,
      metadata: send.metadata,
      created_at: new Date().toISOString(),
    },
  };
  const jobs = send.channels.map((ch) => {
    const address = (known && addressOf(known, ch, send.metadata)) || classifyAddress(send.recipient, ch);
    const recipient = known ? { recipient: known.user_id, direct: false } : { recipient: send.recipient, direct: true };
    return deliveryJob(seed, { ...recipient, address }, ch, send.fallback_channels, null);
  });
  await insertPlanned(em, jobs);
  try {
    await deps.queues.enqueueDeliveries(jobs);
  } catch (err) {
    // no job will ever run for these records: say so in them rather than leave them queued forever
    await Promise.all(jobs.map((j) => markFailed(em, j.delivery_id, 'not_enqueued', (err as Error).message))).catch(() => undefined);
    throw err;
  }
  return id;
}

export interface DirectOutcome {
  success: boolean;
  message: string;
  results: Record<string, boolean>;
  pending?: string[];
  errors: Record<string, string>;
}

const POLL_MS = 100;

/** Longest `?wait=` honoured, in seconds (the request must still end well before the api's request timeout). */
export const DIRECT_MAX_WAIT_S = 25;

/**
 * Waits until no delivery of `id` is in flight, or `waitMs` has passed, and
 * answers the 智链OS API's `{ success, message, results: { email: true, sms: false } }`.
 * A fallback's record is written before its failed predecessor is final, so
 * "nothing queued or sending" means the whole chain has settled.
 */
export async function waitForOutcome(orm: Orm, tenant: string, id: string, waitMs: number): Promise<DirectOutcome> {
  const deadline = Date.now() + waitMs;
  const list = (em: EntityManager) => listDeliveries(em, tenant, id);
  let rows = await list(orm.em.fork());
  while (rows.some((r) => r.status === 'queued' || r.status === 'sending') && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, POLL_MS));
    rows = await list(orm.em.fork());
  }
  const pending = rows.filter((r) => r.status === 'queued' || r.status === 'sending').map((r) => r.channel);
  const results: Record<string, boolean> = Object.fromEntries(rows.map((r) => [r.channel, r.status === 'sent']));
  const success = Object.values(results).some(Boolean);
  return {
    success,
    message: pending.length ? `仍在发送: ${pending.join(', ')}` : success ? '通知已发送' : '通知发送失败',
    results,
    ...(pending.length ? { pending } : {}),
    errors: Object.fromEntries(rows.filter((r) => r.status === 'failed').map((r) => [r.channel, `${r.reason}: ${r.last_error ?? ''}`])),
  };
}
