import { trace, type Tracer } from '@opentelemetry/api';

/**
 * Whether this process exports traces. Off (OTEL_EXPORTER_OTLP_ENDPOINT
 * unset), every tracing call on the send path checks this flag first and
 * returns: no span objects, no trace context read or written, no attributes
 * built.
 */
let on = false;
let current: Tracer | undefined;

export const tracingOn = (): boolean => on;

/** Called by setupTracing once its provider is registered, and with false when it shuts down. */
export function setTracingOn(value: boolean): void {
  on = value;
  current = value ? trace.getTracer('herald') : undefined;
}

/** The tracer of Herald's own spans; only called while tracing is on. */
export const tracer = (): Tracer => current ?? trace.getTracer('herald');
