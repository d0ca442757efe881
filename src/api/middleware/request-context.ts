import { randomUUID } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import type { Logger } from '../../logger.js';
import type { ApiEnv } from '../env.js';

const LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace']);

/**
 * A logger that becomes `root.child(bindings())` the first time it is used.
 * Most requests log nothing at the default level, and a pino child costs a
 * redaction pass over its bindings (see REDACT_PATHS): making one for every
 * request was ~7% of the api's CPU. Calls at a level the root logger does not
 * emit never create the child.
 */
function lazyChild(root: Logger, bindings: () => Record<string, unknown>): Logger {
  let child: Logger | undefined;
  const noop = () => undefined;
  return new Proxy(root, {
    get(_target, prop) {
      if (typeof prop === 'string' && LEVELS.has(prop) && !root.isLevelEnabled(prop)) return noop;
      child ??= root.child(bindings());
      const value = Reflect.get(child, prop, child);
      return typeof value === 'function' ? value.bind(child) : value;
    },
  });
}

/**
 * Gives each request an id (or keeps the caller's X-Request-Id) and a logger
 * carrying it, plus the tenant and subject once the request is authenticated.
 */
export function requestContext(logger: Logger): MiddlewareHandler<ApiEnv> {
  return async function withRequestContext(c, next) {
    const requestId = c.req.header('x-request-id') || randomUUID();
    c.set('requestId', requestId);
    c.set('logger', lazyChild(logger, () => requestBindings(c, requestId)));
    c.header('x-request-id', requestId);
    await next();
  };
}

function requestBindings(c: Context<ApiEnv>, requestId: string): Record<string, unknown> {
  const who = c.get('principal');
  return who ? { requestId, tenant: who.tenant, sub: who.sub } : { requestId };
}
