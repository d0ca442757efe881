import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import type { Config } from '../config.js';
import type { Lifecycle } from '../lifecycle.js';
import { setTracingOn } from './tracer.js';

export interface Tracing {
  /** exports the spans ended so far */
  flush(): Promise<void>;
  /** exports what is left and stops tracing */
  close(): Promise<void>;
}

/**
 * Turns tracing on for this process when OTEL_EXPORTER_OTLP_ENDPOINT is
 * set: spans are batched (BatchSpanProcessor: the send path never waits for
 * the exporter) and sent over OTLP/HTTP as JSON to `<endpoint>/v1/traces`,
 * under service.name `<OTEL_SERVICE_NAME>-<role>`. Registered first with
 * the lifecycle, so it is released last: the spans of everything that
 * closes before it are flushed. Returns null, and changes nothing, when
 * the variable is unset.
 */
export function setupTracing(
  config: Pick<Config, 'OTEL_EXPORTER_OTLP_ENDPOINT' | 'OTEL_SERVICE_NAME'>,
  role: string,
  life: Pick<Lifecycle, 'add'>,
): Tracing | null {
  const endpoint = config.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (!endpoint) return null;
  const exporter = new OTLPTraceExporter({ url: `${endpoint.replace(/\/+$/, '')}/v1/traces` });
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: `${config.OTEL_SERVICE_NAME}-${role}` }),
    spanProcessors: [new BatchSpanProcessor(exporter)],
  });
  // the AsyncLocalStorage context manager (a span stays active across awaits) and the W3C traceparent propagator
  provider.register();
  setTracingOn(true);
  const tracing: Tracing = {
    flush: () => provider.forceFlush(),
    async close() {
      setTracingOn(false);
      await provider.shutdown();
    },
  };
  life.add('tracing', () => tracing.close());
  return tracing;
}
