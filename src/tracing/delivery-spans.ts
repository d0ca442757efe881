import { SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import { DelayedError, RateLimitError, UnrecoverableError, type Job } from 'bullmq';
import type { DeliveryJob, DeliveryResult } from '../../queues/jobs.js';
import type { ChannelProvider, SendResult } from '../channels/types.js';
import { ATTR } from './attributes.js';
import { contextOf } from './job-context.js';
import { failSpan, inSpan } from './spans.js';
import { tracer, tracingOn } from './tracer.js';

/** What a thrown attempt means for the delivery: held back (not a failure), failed for good, or to be retried. */
function outcomeOf(err: unknown): 'delayed' | 'throttled' | 'failed' | 'retrying' {
  if (err instanceof DelayedError) return 'delayed';
  if (err instanceof RateLimitError || (err instanceof Error && err.message === 'bullmq:rateLimitExceeded')) return 'throttled';
  if (err instanceof UnrecoverableError) return 'failed';
  return 'retrying';
}

/**
 * One attempt of a delivery as a `deliver <channel>` span, a child of the
 * context its job carries (its notification's ingest span, or the delivery
 * it fails over from). A retry is a new attempt span in the same trace.
 */
export function traceAttempt(job: Job<DeliveryJob>, fn: () => Promise<DeliveryResult>): Promise<DeliveryResult> {
  if (!tracingOn()) return fn();
  const d = job.data;
  const parent = contextOf(d.trace);
  const span = tracer().startSpan(
    `deliver ${d.channel}`,
    {
      kind: SpanKind.CONSUMER,
      attributes: {
        [ATTR.tenant]: d.tenant,
        [ATTR.notificationId]: d.notification_id,
        [ATTR.deliveryId]: d.delivery_id,
        [ATTR.channel]: d.channel,
        [ATTR.attempt]: job.attemptsMade + 1,
        [ATTR.fallback]: d.fallback_of !== null,
      },
    },
    parent,
  );
  return context.with(trace.setSpan(parent, span), async () => {
    try {
      const result = await fn();
      span.setAttribute(ATTR.outcome, result.status);
      if (result.provider_message_id) span.setAttribute(ATTR.providerMessageId, result.provider_message_id);
      return result;
    } catch (err) {
      const outcome = outcomeOf(err);
      span.setAttribute(ATTR.outcome, outcome);
      if (outcome === 'failed' || outcome === 'retrying') failSpan(span, err);
      throw err;
    } finally {
      span.end();
    }
  });
}

/** The provider call of an attempt as a `provider <vendor>` span. */
export function traceProviderCall(provider: Pick<ChannelProvider, 'channel' | 'vendor'>, fn: () => Promise<SendResult>): Promise<SendResult> {
  if (!tracingOn()) return fn();
  return inSpan(
    `provider ${provider.vendor}`,
    () => ({ [ATTR.channel]: provider.channel, [ATTR.provider]: provider.vendor }),
    async (span) => {
      const result = await fn();
      if (result.providerMessageId) span?.setAttribute(ATTR.providerMessageId, result.providerMessageId);
      span?.setStatus({ code: SpanStatusCode.OK });
      return result;
    },
    { kind: SpanKind.CLIENT },
  );
}
