import { timingSafeEqual } from 'node:crypto';
import { Hono } from 'hono';
import { UnauthorizedError } from '../../errors.js';
import { createClusterMetrics } from '../../metrics/cluster.js';
import type { ApiDeps, ApiEnv } from '../env.js';

const same = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

/**
 * GET /metrics: the Prometheus exposition of the whole deployment (every
 * process's pushed registry, merged; see src/metrics/report.ts), plus queue
 * depths. Open unless METRICS_TOKEN is set.
 */
export function metricsRoutes(deps: ApiDeps) {
  const app = new Hono<ApiEnv>();
  const collect = createClusterMetrics({ redis: deps.redis, prefix: deps.config.QUEUE_PREFIX, logger: deps.logger, queues: deps.queues });
  app.get('/metrics', async (c) => {
    const expected = deps.config.METRICS_TOKEN;
    if (expected) {
      const given = /^Bearer\s+(.+)$/i.exec(c.req.header('authorization') ?? '')?.[1] ?? '';
      if (!same(given, expected)) throw new UnauthorizedError('GET /metrics needs the METRICS_TOKEN bearer token.');
    }
    const { text, contentType } = await collect();
    return c.body(text, 200, { 'content-type': contentType, 'cache-control': 'no-store' });
  });
  return app;
}
