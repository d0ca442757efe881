import type { MiddlewareHandler } from 'hono';
import type { ApiEnv } from '../env.js';

/**
 * One line per request once it is answered, through the request's logger
 * (so it carries requestId, and tenant/sub once authenticated). Server
 * errors are warnings; everything else is debug, so a busy api does not log
 * every send at the default level (LOG_LEVEL=debug shows them all).
 */
export function accessLog(): MiddlewareHandler<ApiEnv> {
  return async function logRequest(c, next) {
    const started = performance.now();
    await next();
    const status = c.res.status;
    // a device token in the path (DELETE /me/push-tokens/:token) is contact data: never logged in clear
    const path = c.req.path.replace(/(\/push-tokens\/)[^/]+/, '$1***');
    const line = { method: c.req.method, path, status, ms: Math.round((performance.now() - started) * 10) / 10 };
    const log = c.get('logger');
    if (status >= 500) log.warn(line, 'request failed');
    else log.debug(line, 'request');
  };
}
