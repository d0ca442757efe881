import { SpanKind, SpanStatusCode, context, trace, type Attributes, type Context, type Span } from '@opentelemetry/api';
import { tracer, tracingOn } from './tracer.js';

export interface SpanOptions {
  /** default: the active context (the span around the caller) */
  parent?: Context;
  kind?: SpanKind;
}

/**
 * Runs `fn` inside a new span, active for everything `fn` awaits. With
 * tracing off it only calls `fn` (with no span): `attributes` is a function
 * so that nothing is built then. A throw marks the span failed with the
 * error's class name alone, since messages may quote an address.
 */
export function inSpan<T>(name: string, attributes: () => Attributes, fn: (span?: Span) => Promise<T>, opts: SpanOptions = {}): Promise<T> {
  if (!tracingOn()) return fn();
  const parent = opts.parent ?? context.active();
  const span = tracer().startSpan(name, { kind: opts.kind ?? SpanKind.INTERNAL, attributes: attributes() }, parent);
  return context.with(trace.setSpan(parent, span), async () => {
    try {
      return await fn(span);
    } catch (err) {
      failSpan(span, err);
      throw err;
    } finally {
      span.end();
    }
  });
}

/** Marks a span failed, naming the error's class only. */
export function failSpan(span: Span, err: unknown): void {
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.name : 'error' });
}

/** Adds attributes to the active span; nothing with tracing off. */
export function noteSpan(attributes: () => Attributes): void {
  if (!tracingOn()) return;
  trace.getActiveSpan()?.setAttributes(attributes());
}
