import type { MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import { httpRequestDuration } from '../../metrics/metrics.js';
import type { ApiEnv } from '../env.js';

/**
 * Times every api request into herald_http_request_duration_seconds, labelled
 * with the pattern of the route that answered (`/api/v1/notifications/:id`),
 * or the middleware that did (`/api/v1/*` for a 401), or `(unmatched)`.
 */
export function httpMetrics(): MiddlewareHandler<ApiEnv> {
  return async function measureRequest(c, next) {
    const end = httpRequestDuration.startTimer();
    try {
      await next();
    } finally {
      const answered = matchedRoutes(c)[c.req.routeIndex];
      const route = c.res.status === 404 && (!answered || answered.path.endsWith('*')) ? '(unmatched)' : (answered?.path ?? '(unmatched)');
      end({ method: c.req.method, route, status: String(c.res.status) });
    }
  };
}
