import { ROOT_CONTEXT, context, propagation, type Context } from '@opentelemetry/api';
import type { DeliveryJob, NotificationDraft } from '../../queues/jobs.js';
import type { Producers } from '../../queues/producers.js';
import { tracingOn } from './tracer.js';

/**
 * A trace context travels in job data as its W3C `traceparent` header
 * value (`00-<trace id>-<span id>-<flags>`): the next process's span becomes
 * a child of the span that enqueued the job, so one notification is one
 * trace across the api, the ingest worker and the channel workers.
 */
export function traceparentOf(ctx: Context = context.active()): string | undefined {
  const carrier: { traceparent?: string } = {};
  propagation.inject(ctx, carrier);
  return carrier.traceparent;
}

/** The context a job's `trace` names; the root context (a new trace) when it has none. */
export function contextOf(trace: string | undefined): Context {
  return trace ? propagation.extract(ROOT_CONTEXT, { traceparent: trace }) : ROOT_CONTEXT;
}

/** Writes the active context into drafts about to be enqueued for ingest; nothing with tracing off. */
export function stampDrafts(drafts: NotificationDraft[]): void {
  if (!tracingOn()) return;
  const trace = traceparentOf();
  if (trace) for (const d of drafts) d.trace = trace;
}

/**
 * The producers with each delivery job they enqueue given the trace context
 * `traceOf` names for it (the ingest span of its notification, or the
 * delivery that failed over to it). The producers themselves when tracing
 * is off.
 */
export function tracedDeliveries(queues: Producers, traceOf: (job: DeliveryJob) => string | undefined): Producers {
  if (!tracingOn()) return queues;
  return {
    ...queues,
    enqueueDeliveries: (jobs) =>
      queues.enqueueDeliveries(
        jobs.map((j) => {
          const trace = traceOf(j);
          return trace ? { ...j, trace } : j;
        }),
      ),
  };
}
