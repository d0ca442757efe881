import { SpanKind, trace, type Context, type Span } from '@opentelemetry/api';
import type { NotificationDraft } from '../../queues/jobs.js';
import { ATTR } from './attributes.js';
import { contextOf, traceparentOf } from './job-context.js';
import { failSpan } from './spans.js';
import { tracer, tracingOn } from './tracer.js';

/** What a batch's spans need of each notification: drafts, or scheduled ones firing (their send's trace). */
type SpanSource = Pick<NotificationDraft, 'id' | 'tenant' | 'trace'>;

interface Group {
  span: Span;
  ctx: Context;
}

/**
 * The spans of one ingest batch. A batch stores the notifications of many
 * requests in one INSERT, and each request's trace still gets its own
 * `ingest` span, with `store` and `publish` children: one span per trace
 * context among the drafts, so a bulk send's chunk (its notifications
 * share one) costs one span, not one per notification.
 */
export class BatchSpans {
  private readonly groups: Group[] = [];
  /** notification id → the traceparent of its ingest span, which its deliveries carry */
  private readonly traces = new Map<string, string>();

  private constructor(name: string, drafts: readonly SpanSource[]) {
    const byTrace = new Map<string, SpanSource[]>();
    for (const d of drafts) {
      const key = d.trace ?? '';
      let list = byTrace.get(key);
      if (!list) byTrace.set(key, (list = []));
      list.push(d);
    }
    for (const [key, list] of byTrace) {
      const parent = contextOf(key || undefined);
      const span = tracer().startSpan(
        name,
        {
          kind: SpanKind.CONSUMER,
          attributes: {
            [ATTR.tenant]: list[0].tenant,
            [ATTR.notificationCount]: list.length,
            ...(list.length === 1 ? { [ATTR.notificationId]: list[0].id } : {}),
          },
        },
        parent,
      );
      const ctx = trace.setSpan(parent, span);
      this.groups.push({ span, ctx });
      const traceparent = traceparentOf(ctx);
      if (traceparent) for (const d of list) this.traces.set(d.id, traceparent);
    }
  }

  /** The spans of a batch of drafts; null with tracing off. */
  static start(name: string, drafts: readonly SpanSource[]): BatchSpans | null {
    return tracingOn() ? new BatchSpans(name, drafts) : null;
  }

  /** Runs `fn` (one step done for the whole batch) under a child span of each group's span. */
  async step<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const children = this.groups.map((g) => tracer().startSpan(name, {}, g.ctx));
    try {
      return await fn();
    } catch (err) {
      for (const s of children) failSpan(s, err);
      throw err;
    } finally {
      for (const s of children) s.end();
    }
  }

  /** The trace context a delivery of this notification carries. */
  traceOf(notificationId: string): string | undefined {
    return this.traces.get(notificationId);
  }

  end(err?: unknown): void {
    for (const g of this.groups) {
      if (err !== undefined) failSpan(g.span, err);
      g.span.end();
    }
  }
}

/** `fn` under a `name` child of each of the batch's spans, or `fn` alone without them. */
export function batchStep<T>(spans: BatchSpans | null | undefined, name: string, fn: () => Promise<T>): Promise<T> {
  return spans ? spans.step(name, fn) : fn();
}

