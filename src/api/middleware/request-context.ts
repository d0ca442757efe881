import { randomUUID } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import type { Logger } from '../../logger.js';
import type { ApiEnv } from '../env.js';

/** Gives each request an id (or keeps the caller's X-Request-Id) and a logger carrying it. */
export function requestContext(logger: Logger): MiddlewareHandler<ApiEnv> {
  return async function withRequestContext(c, next) {
    const requestId = c.req.header('x-request-id') || randomUUID();
    c.set('requestId', requestId);
    c.set('logger', logger.child({ requestId }));
    c.header('x-request-id', requestId);
    await next();
  };
}
