import { DelayedError, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { DELIVERY_MAX_THROTTLES } from '../../queues/defaults.js';
import type { DeliveryJob, DeliveryResult } from '../../queues/jobs.js';
import type { Producers } from '../../queues/producers.js';
import { DeliveryError, type ChannelProvider, type OutgoingMessage, type Reservation, type SendResult } from '../../src/channels/types.js';
import type { Orm } from '../../src/db/orm.js';
import { pgErrorKind } from '../../src/db/pg-errors.js';
import {
  claimDelivery,
  getDelivery,
  markFailed,
  markHeld,
  markRetrying,
  markSent,
  markSkipped,
  settleNotification,
} from '../../src/domain/delivery/records.js';
import { failover } from '../../src/domain/delivery/failover.js';
import { removePushTokens } from '../../src/domain/delivery/recipients.js';
import { maskAddress, withoutAddress } from '../../src/domain/delivery/mask.js';
import type { Logger } from '../../src/logger.js';
import { deliveryDuration, notificationFailed, notificationSent } from '../../src/metrics/metrics.js';
import { ATTR } from '../../src/tracing/attributes.js';
import { traceAttempt, traceProviderCall } from '../../src/tracing/delivery-spans.js';
import { traceparentOf, tracedDeliveries } from '../../src/tracing/job-context.js';
import { noteSpan } from '../../src/tracing/spans.js';

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
  /** fallbacks go to their channel's queue, admin alerts to ingest; this channel's own queue takes rate-limit signals */
  queues: Producers;
  /** ms one provider call may take (default 10 000) */
  timeoutMs?: number;
  /**
   * ms a delivery the provider accepted keeps retrying its `sent` record while PostgreSQL is unavailable,
   * before the job fails (and a retry sends it again) (default 600 000)
   */
  recordRetryMs?: number;
  /** ms a job's lock lives (the worker's lockDuration); checked and extended once more right before the provider call */
  lockMs?: number;
  gate?: DeliveryGate;
  /**
   * A delivery found `sending` when its job runs again, or an attempt cut
   * off after the message was complete, for a provider that cannot be asked
   * whether it went out (email): `resend` sends it again under the same
   * Message-ID (at least once); `skip` records it failed with reason
   * `unknown_outcome`, sends nothing and tries no fallback channel (at most
   * once). Default resend.
   */
  onUnknown?: 'resend' | 'skip';
}

/** The reason recorded on a delivery that may or may not have gone out and is not sent again. */
export const UNKNOWN_OUTCOME = 'unknown_outcome';

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
    noteSpan(() => ({ [ATTR.reason]: reason }));
    // a fallback delivery's attempts are children of this attempt's span
    const queues = tracedDeliveries(deps.queues, () => traceparentOf());
    const changed = await em.transactional(async (tem) => {
      const marked = await markFailed(tem, d.delivery_id, reason, error);
      await failover({ em: tem, queues, redis: deps.redis, prefix: deps.prefix, logger: log }, d, reason, error);
      return marked;
    });
    if (changed) {
      notificationFailed.inc({ channel, reason });
      log.warn({ reason, error }, 'delivery failed');
    }
    await settleNotification(em, d.notification_id, 'failed');
  }

  async function settleSent(d: DeliveryJob, result: SendResult, log: Logger): Promise<DeliveryResult> {
    const answeredAt = performance.now();
    const latency = await recordSent(d, result, log);
    if (latency !== null) {
      // record_ms: from the provider's answer to the durable record, the time a crash would leave undecided
      const recordMs = Math.round((performance.now() - answeredAt) * 100) / 100;
      notificationSent.inc({ channel });
      deliveryDuration.observe({ channel }, latency / 1000);
      log.info({ provider_message_id: result.providerMessageId, latency_ms: latency, record_ms: recordMs, note: result.note ?? undefined }, 'delivered');
    }
    return { status: 'sent', provider_message_id: result.providerMessageId };
  }

  /**
   * The provider has the message: record it, and while PostgreSQL is
   * unavailable keep trying (backing off to 5 s, for up to recordRetryMs)
   * rather than fail the job. A failed job would run again, find the record
   * still `sending` and send the message a second time; waiting here holds
   * the job (its lock is renewed meanwhile) and sends nothing.
   */
  async function recordSent(d: DeliveryJob, result: SendResult, log: Logger): Promise<number | null> {
    const giveUpAt = Date.now() + (deps.recordRetryMs ?? 600_000);
    for (let wait = 250; ; wait = Math.min(5000, wait * 2)) {
      try {
        return await markSent(deps.orm.em.fork(), d.delivery_id, result.providerMessageId, result.note ?? null);
      } catch (err) {
        if (pgErrorKind(err) !== 'unavailable' || Date.now() + wait > giveUpAt) throw err;
        log.warn({ err: (err as Error).message, retry_in_ms: wait }, 'sent, but PostgreSQL is unavailable: retrying the record, not the send');
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  /** Failed without a fallback: the message may have reached the recipient, so nothing else is sent on its behalf. */
  async function settleUnknown(d: DeliveryJob, error: string, log: Logger): Promise<void> {
    const em = deps.orm.em.fork();
    if (await markFailed(em, d.delivery_id, UNKNOWN_OUTCOME, error)) {
      notificationFailed.inc({ channel, reason: UNKNOWN_OUTCOME });
      log.warn({ reason: UNKNOWN_OUTCOME, error }, 'delivery may or may not have gone out: recorded failed, not sent again');
    }
    await settleNotification(em, d.notification_id, 'failed');
  }

  /** A job whose record is already final: make sure what should follow it did (a crash may have cut it short). */
  async function resume(d: DeliveryJob, log: Logger): Promise<DeliveryResult> {
    const em = deps.orm.em.fork();
    const row = await getDelivery(em, d.delivery_id);
    if (row?.status === 'failed' && row.reason === UNKNOWN_OUTCOME) await settleNotification(em, d.notification_id, 'failed');
    else if (row?.status === 'failed') await settleFailed(d, row.reason ?? 'failed', row.last_error ?? '', log);
    if (row?.status === 'skipped') await settleNotification(em, d.notification_id, 'skipped');
    log.info({ status: row?.status }, 'delivery already settled: nothing sent');
    return { status: (row?.status ?? 'failed') as DeliveryResult['status'], provider_message_id: row?.provider_message_id ?? null };
  }

  /** Interrupted attempts are settled as unknown instead of being sent again (EMAIL_ON_UNKNOWN=skip). */
  const skipsUnknown = !provider.findPrevious && deps.onUnknown === 'skip';

  async function attempt(job: Job<DeliveryJob>, token: string | undefined, held: Reservation | null, log: Logger): Promise<DeliveryResult> {
    const d = job.data;
    const em = deps.orm.em.fork();
    const claim = await claimDelivery(em, d);
    if (!claim) return resume(d, log);

    if (claim.previous === 'sending' && skipsUnknown) {
      const error = 'an earlier attempt stopped after the message was handed to the provider and before its answer was recorded';
      await settleUnknown(d, error, log);
      throw new UnrecoverableError(`${UNKNOWN_OUTCOME}: ${error}`);
    }
    if (provider.missing.length) {
      const error = `${channel} is not configured: set ${provider.missing.join(', ')}`;
      await settleFailed(d, 'not_configured', error, log);
      throw new UnrecoverableError(error);
    }
    if (!d.address) {
      // a direct send's recipient is the address it was sent to: recorded and logged masked
      const error = `recipient ${d.direct ? maskAddress(d.recipient) : d.recipient} has no ${channel} address`;
      await settleFailed(d, 'no_address', error, log);
      throw new UnrecoverableError(error);
    }

    // preferences: the one step before the provider call
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

    // the last moment before the message leaves: a worker whose lock lapsed (stalled by a long pause, cut off
    // from Redis) may have lost the job to another worker, which then sends it; this one must not as well
    if (token && deps.lockMs && !(await job.extendLock(token, deps.lockMs))) {
      log.warn('the job lock was lost before the provider call: nothing sent, the job is another worker\'s now');
      throw new Error('job lock lost before the provider call');
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
      result = await traceProviderCall(provider, () => (held ? held.send(signal) : provider.send(message, signal)));
    } catch (err) {
      const classified: DeliveryError = provider.classify(err);
      // what the provider said may quote the address (an SMTP 550 names the mailbox): it is logged and recorded without it
      const e = new DeliveryError(classified.kind, classified.code, withoutAddress(classified.message, d.address), classified.opts);
      if (e.opts.rejected?.length && channel === 'push' && !d.direct) await removePushTokens(em, d.tenant, d.recipient, e.opts.rejected);
      const holds = job.attemptsStarted - job.attemptsMade;
      if (e.kind === 'throttled' && holds < DELIVERY_MAX_THROTTLES) {
        await markHeld(em, d.delivery_id, 'throttled', `${e.code}: ${e.message}`);
        // the job's own shard: BullMQ's rate limit is per queue
        await (deps.queues.byName(job.queueName) ?? deps.queues.delivery[channel]).rateLimit(e.opts.retryAfterMs ?? 1000);
        log.warn({ code: e.code, retry_after_ms: e.opts.retryAfterMs }, 'provider throttled: rate limit applied');
        throw Worker.RateLimitError();
      }
      const detail = `${e.code}: ${e.message}`;
      // a timed-out or cut call may have gone out: a provider that can be asked is asked before the retry resends
      const unknown = e.opts.outcomeUnknown ?? (Boolean(provider.findPrevious) && (e.reason === 'timeout' || AMBIGUOUS.has(e.code)));
      if (unknown && skipsUnknown) {
        await settleUnknown(d, detail, log);
        throw new UnrecoverableError(`${UNKNOWN_OUTCOME}: ${detail}`);
      }
      const last = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      if (e.kind === 'permanent' || last) {
        await settleFailed(d, e.reason, detail, log);
        throw new UnrecoverableError(detail);
      }
      noteSpan(() => ({ [ATTR.reason]: e.reason }));
      await markRetrying(em, d.delivery_id, e.reason, detail, unknown);
      log.warn({ code: e.code, attempt: job.attemptsMade + 1 }, 'delivery attempt failed: will retry');
      throw new Error(detail);
    }
    // nothing between the provider's answer and its record: a crash in between is what sends twice
    const sent = await settleSent(d, result, log);
    if (result.rejected?.length && channel === 'push' && !d.direct) await removePushTokens(em, d.tenant, d.recipient, result.rejected);
    return sent;
  }

  return async function deliver(job: Job<DeliveryJob>, token?: string): Promise<DeliveryResult> {
    return traceAttempt(job, () => deliverOnce(job, token));
  };

  async function deliverOnce(job: Job<DeliveryJob>, token?: string): Promise<DeliveryResult> {
    const d = job.data;
    const log = deps.logger.child({ delivery: d.delivery_id, notification: d.notification_id, channel, job: job.id });
    // a provider with held connections (SMTP) waits for a free one before the delivery is claimed, so
    // the record turns `sending` only when its message can go out at once
    const held = provider.reserve && !provider.missing.length && d.address ? await provider.reserve(toMessage(d)) : null;
    try {
      return await attempt(job, token, held, log);
    } finally {
      held?.release();
    }
  }
}
