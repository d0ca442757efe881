import type { EntityManager } from '@mikro-orm/postgresql';
import type { Redis } from 'ioredis';
import type { DeliveryJob } from '../../../queues/jobs.js';
import type { Producers } from '../../../queues/producers.js';
import type { Logger } from '../../logger.js';
import { getDelivery, insertPlanned, recipientState } from './records.js';
import { deliveryJob } from './plan.js';
import { notificationSchema, toDrafts } from '../sending/input.js';
import { addressOf, classifyAddress, getRecipient } from './recipients.js';
import { maskAddress } from './mask.js';

export interface FailoverDeps {
  em: EntityManager;
  /** the next channel's delivery goes to its queue, the admin alert to ingest */
  queues: Producers;
  /** for the admin-alert lock */
  redis: Redis;
  prefix: string;
  logger: Logger;
}

/** At most one admin alert per tenant and channel in this many seconds. */
export const ALERT_WINDOW_S = 60;

async function addressFor(deps: FailoverDeps, failed: DeliveryJob, channel: DeliveryJob['channel']): Promise<string | null> {
  if (failed.direct) return classifyAddress(failed.recipient, channel);
  return addressOf(await getRecipient(deps.em, failed.tenant, failed.recipient), channel, failed.message.metadata);
}

export type FailoverOutcome = { next: DeliveryJob } | { reached: true } | { exhausted: true; alerted: boolean };

/**
 * After a delivery failed for good (the 智链OS API: 主渠道 → 备用渠道 → 记录失败 → 告警):
 * nothing more when the recipient was reached on another channel;
 * otherwise the next fallback channel not yet tried for this recipient
 * gets its own delivery; when none is left, the admins are alerted.
 * Re-running it for the same failure finds the same next delivery (ids are
 * deterministic) and enqueues nothing new.
 */
export async function failover(deps: FailoverDeps, failed: DeliveryJob, reason: string, error: string): Promise<FailoverOutcome> {
  const state = await recipientState(deps.em, failed.notification_id, failed.recipient, failed.direct);
  if (state.sent) return { reached: true };
  const seed = { tenant: failed.tenant, notification_id: failed.notification_id, sender: failed.sender, message: failed.message };
  for (let i = 0; i < failed.fallbacks.length; i++) {
    const channel = failed.fallbacks[i];
    const who = { recipient: failed.recipient, direct: failed.direct, address: await addressFor(deps, failed, channel) };
    const next = deliveryJob(seed, who, channel, failed.fallbacks.slice(i + 1), failed.delivery_id);
    const fresh = await insertPlanned(deps.em, [next]);
    const existing = fresh.has(next.delivery_id) ? null : await getDelivery(deps.em, next.delivery_id);
    // a channel this recipient already went through (as a primary or an earlier fallback) is not tried twice
    if (existing && existing.status !== 'queued' && existing.status !== 'sending') continue;
    await deps.queues.enqueueDeliveries([next]);
    deps.logger.info({ delivery: failed.delivery_id, next: next.delivery_id, channel }, 'failing over');
    return { next };
  }
  if (state.pending > 0) return { exhausted: true, alerted: false };
  return { exhausted: true, alerted: await alertAdmins(deps, failed, reason, error) };
}

/**
 * Tells the tenant's admins (role 'admin', in-app) that a notification
 * reached nobody on any channel. SET NX EX keeps it to one alert per
 * channel per minute, however many deliveries fail at once.
 */
export async function alertAdmins(deps: FailoverDeps, failed: DeliveryJob, reason: string, error: string): Promise<boolean> {
  const key = `${deps.prefix}:alert:${failed.tenant}:${failed.channel}`;
  const won = await deps.redis.set(key, failed.delivery_id, 'EX', ALERT_WINDOW_S, 'NX');
  if (won !== 'OK') return false;
  // the alert is an inbox notification, stored in clear: a direct send's recipient is its address, shown masked
  const recipient = failed.direct ? maskAddress(failed.recipient) : failed.recipient;
  const input = notificationSchema.parse({
    title: `通知投递失败 / delivery failed: ${failed.channel}`.slice(0, 200),
    content: `Notification ${failed.notification_id} (“${failed.message.title}”) could not be delivered to ${recipient} on any channel. Last: ${failed.channel} ${reason}: ${error}`.slice(0, 2000),
    type: 'alert',
    priority: 'urgent',
    role: 'admin',
    channels: ['app'],
    source: 'herald.channels',
    metadata: { notification_id: failed.notification_id, delivery_id: failed.delivery_id, channel: failed.channel, reason, recipient },
  });
  await deps.queues.enqueueNotifications(toDrafts(input, { tenant: failed.tenant, sender: 'herald' }));
  deps.logger.warn({ notification: failed.notification_id, channel: failed.channel, reason }, 'every channel failed: admins alerted');
  return true;
}
