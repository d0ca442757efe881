import { DelayedError, UnrecoverableError, Worker, type Job, type Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { DELIVERY_MAX_THROTTLES } from '../../queues/defaults.js';
import type { DeliveryJob, DeliveryResult, IngestJob } from '../../queues/jobs.js';
import type { DeliveryQueues } from '../../src/channels/queues.js';
import type { ChannelProvider, DeliveryError, OutgoingMessage, SendResult } from '../../src/channels/types.js';
import type { Orm } from '../../src/db/orm.js';
import {
  claimDelivery,
  getDelivery,
  markFailed,
  markHeld,
  markRetrying,
  markSent,
  markSkipped,
  settleNotification,
} from '../../src/domain/deliveries.js';
import { failover } from '../../src/domain/deliveries-failover.js';
import { removePushTokens } from '../../src/domain/recipients.js';
import type { Logger } from '../../src/logger.js';
import { deliveryDuration, notificationFailed, notificationSent } from '../../src/metrics.js';

/**
 * What happens to a delivery right before the provider call. Issue #5
 * (preferences) plugs in here: a channel the user turned off is skipped;
 * do-not-disturb and mute_until delay the job to a later time (not a failed
 * attempt). Without a gate every delivery is sent.
 */
export type GateDecision = { action: 'send' } | { action: 'skip'; reason: string } | { action: 'delay'; until: number; reason: string };
export type DeliveryGate = (job: DeliveryJob) => Promise<GateDecision>;

export interface DeliverDeps {
  orm: Orm;
  /** for the admin-alert lock */
  redis: Redis;
  prefix: string;
  logger: Logger;
  provider: ChannelProvider;
  /** producers of every channel queue: fallbacks go there, and this channel's own queue takes rate-limit signals */
  queues: DeliveryQueues;
  /** the ingest queue, where admin alerts are sent */
  ingest: Queue<IngestJob>;
  /** ms one provider call may take (default 10 000) */
  timeoutMs?: number;
  gate?: DeliveryGate;
}

/** Network failures after the request may have been sent: the provider's answer was lost, not necessarily the message. */
const AMBIGUOUS = new Set(['ECONNRESET', 'UND_ERR_SOCKET', 'EPIPE']);

const toMessage = (d: DeliveryJob): OutgoingMessage => ({
  ...d.message,
  deliveryId: d.delivery_id,
  notificationId: d.notification_id,
  tenant: d.tenant,
  address: d.address ?? '',
});

/**
 * The processor of every channel queue. The record in PostgreSQL is the
 * truth about a delivery: it is claimed (queued → sending) before the
 * provider is called and settled with conditional updates after, so a job
 * that runs again after its send was recorded sends nothing and records
 * nothing twice.
 */
export function createDeliverProcessor(deps: DeliverDeps) {
  const { provider } = deps;
  const channel = provider.channel;

  async function settleFailed(d: DeliveryJob, reason: string, error: string, log: Logger): Promise<void> {
    const em = deps.orm.em.fork();
    // one transaction: the next fallback's record appears together with this failure, so nobody sees the
    // recipient with nothing in flight while a fallback is on its way
    const changed = await em.transactional(async (tem) => {
      const marked = await markFailed(tem, d.delivery_id, reason, error);
      await failover({ em: tem, queues: deps.queues, ingest: deps.ingest, redis: deps.redis, prefix: deps.prefix, logger: log }, d, reason, error);
      return marked;
    });
    if (changed) {
      notificationFailed.inc({ channel, reason });
      log.warn({ reason, error }, 'delivery failed');
    }
    await settleNotification(em, d.notification_id, 'failed');
  }

  async function settleSent(d: DeliveryJob, result: SendResult, log: Logger): Promise<DeliveryResult> {
    const em = deps.orm.em.fork();
    const latency = await markSent(em, d.delivery_id, result.providerMessageId);
    if (latency !== null) {
      notificationSent.inc({ channel });
      deliveryDuration.observe({ channel }, latency / 1000);
      log.info({ provider_message_id: result.providerMessageId, latency_ms: latency }, 'delivered');
    }
    return { status: 'sent', provider_message_id: result.providerMessageId };
  }

  /** A job whose record is already final: make sure what should follow it did (a crash may have cut it short). */
  async function resume(d: DeliveryJob, log: Logger): Promise<DeliveryResult> {
    const em = deps.orm.em.fork();
    const row = await getDelivery(em, d.delivery_id);
    if (row?.status === 'failed') await settleFailed(d, row.reason ?? 'failed', row.last_error ?? '', log);
    if (row?.status === 'skipped') await settleNotification(em, d.notification_id, 'skipped');
    log.info({ status: row?.status }, 'delivery already settled: nothing sent');
    return { status: (row?.status ?? 'failed') as DeliveryResult['status'], provider_message_id: row?.provider_message_id ?? null };
  }

  return async function deliver(job: Job<DeliveryJob>, token?: string): Promise<DeliveryResult> {
    const d = job.data;
    const log = deps.logger.child({ delivery: d.delivery_id, notification: d.notification_id, channel, job: job.id });
    const em = deps.orm.em.fork();
    const claim = await claimDelivery(em, d);
    if (!claim) return resume(d, log);

    if (provider.missing.length) {
      const error = `${channel} is not configured: set ${provider.missing.join(', ')}`;
      await settleFailed(d, 'not_configured', error, log);
      throw new UnrecoverableError(error);
    }
    if (!d.address) {
      const error = `recipient ${d.recipient} has no ${channel} address`;
      await settleFailed(d, 'no_address', error, log);
      throw new UnrecoverableError(error);
    }

    // preferences (issue #5): the one step before the provider call
    const decision = deps.gate ? await deps.gate(d) : ({ action: 'send' } as const);
    if (decision.action === 'skip') {
      if (await markSkipped(em, d.delivery_id, decision.reason)) log.info({ reason: decision.reason }, 'delivery skipped');
      await settleNotification(em, d.notification_id, 'skipped');
      return { status: 'skipped' };
    }
    if (decision.action === 'delay') {
      await markHeld(em, d.delivery_id, decision.reason, `held until ${new Date(decision.until).toISOString()}`);
      await job.moveToDelayed(decision.until, token);
      throw new DelayedError();
    }

    const message = toMessage(d);
    const signal = AbortSignal.timeout(deps.timeoutMs ?? 10_000);
    let result: SendResult;
    try {
      // an earlier attempt stopped between the provider call and its record: ask the provider before sending again
      const previous = claim.previous === 'sending' && provider.findPrevious ? await provider.findPrevious(message, signal) : null;
      if (previous) {
        log.info('an interrupted attempt had reached the provider: recorded, not resent');
        return await settleSent(d, previous, log);
      }
      result = await provider.send(message, signal);
    } catch (err) {
      const e: DeliveryError = provider.classify(err);
      if (e.opts.rejected?.length && channel === 'push' && !d.direct) await removePushTokens(em, d.tenant, d.recipient, e.opts.rejected);
      const holds = job.attemptsStarted - job.attemptsMade;
      if (e.kind === 'throttled' && holds < DELIVERY_MAX_THROTTLES) {
        await markHeld(em, d.delivery_id, 'throttled', `${e.code}: ${e.message}`);
        await deps.queues[channel].rateLimit(e.opts.retryAfterMs ?? 1000);
        log.warn({ code: e.code, retry_after_ms: e.opts.retryAfterMs }, 'provider throttled: rate limit applied');
        throw Worker.RateLimitError();
      }
      const last = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      const detail = `${e.code}: ${e.message}`;
      if (e.kind === 'permanent' || last) {
        await settleFailed(d, e.reason, detail, log);
        throw new UnrecoverableError(detail);
      }
      // a timed-out or cut call may have gone out: a provider that can be asked is asked before the retry resends
      const unknown = Boolean(provider.findPrevious) && (e.reason === 'timeout' || AMBIGUOUS.has(e.code));
      await markRetrying(em, d.delivery_id, e.reason, detail, unknown);
      log.warn({ code: e.code, attempt: job.attemptsMade + 1 }, 'delivery attempt failed: will retry');
      throw new Error(detail);
    }
    if (result.rejected?.length && channel === 'push' && !d.direct) await removePushTokens(em, d.tenant, d.recipient, result.rejected);
    return settleSent(d, result, log);
  };
}
