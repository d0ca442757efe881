import type { Context, ErrorHandler, NotFoundHandler } from 'hono';
import { DriverException } from '@mikro-orm/core';
import { HTTPException } from 'hono/http-exception';
import { HeraldError, type FieldError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { ApiEnv } from '../env.js';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  errors?: FieldError[];
}

export function problemResponse(c: Context, p: Problem, headers: Record<string, string> = {}): Response {
  return c.body(JSON.stringify(p), p.status as 400, { 'content-type': 'application/problem+json', ...headers });
}

/**
 * PostgreSQL cannot be reached (MikroORM wraps every driver error in a
 * DriverException; these codes are the connection failures, not bad queries).
 */
function isDatabaseDown(err: unknown): boolean {
  if (!(err instanceof DriverException)) return false;
  const code = String((err as { code?: unknown }).code ?? '');
  return (
    /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|EHOSTUNREACH|EPIPE|57P0[123]|08\w{3})$/.test(code) ||
    /Connection terminated|timeout exceeded when trying to connect|Knex: Timeout acquiring a connection/i.test(err.message)
  );
}

/** Redis refused the command: its connection is down (the producer connection never queues). */
function isRedisDown(err: unknown): boolean {
  const msg = (err as Error)?.message ?? '';
  return /enableOfflineQueue|Connection is closed|ECONNREFUSED|MaxRetriesPerRequest|Stream isn't writeable|Redis did not answer/i.test(msg);
}

/** The one place errors become application/problem+json. */
export function onError(fallback: Logger): ErrorHandler<ApiEnv> {
  return function problemOnError(err, c) {
    const log = c.get('logger') ?? fallback;
    if (err instanceof HeraldError) {
      return problemResponse(c, { type: err.type, title: err.title, status: err.status, detail: err.message, errors: err.errors });
    }
    if (err instanceof HTTPException) {
      const status = err.status;
      return problemResponse(c, { type: 'about:blank', title: err.message || 'HTTP error', status, detail: err.message });
    }
    if (isDatabaseDown(err)) {
      log.error({ err }, 'database unavailable');
      return problemResponse(
        c,
        {
          type: 'https://herald.dev/problems/service-unavailable',
          title: 'Service Unavailable',
          status: 503,
          detail: 'The database (PostgreSQL) is unavailable; reads and changes cannot be served. Sends are still accepted. Retry later.',
        },
        { 'retry-after': '5' },
      );
    }
    if (isRedisDown(err)) {
      log.error({ err }, 'redis unavailable');
      return problemResponse(
        c,
        {
          type: 'https://herald.dev/problems/service-unavailable',
          title: 'Service Unavailable',
          status: 503,
          detail: 'The queue (Redis) is unavailable; nothing was accepted. Retry later.',
        },
        { 'retry-after': '5' },
      );
    }
    log.error({ err }, 'unhandled error');
    return problemResponse(c, { type: 'about:blank', title: 'Internal Server Error', status: 500, detail: 'An unexpected error occurred.' });
  };
}

export const notFound: NotFoundHandler = function problemNotFound(c) {
  return problemResponse(c, { type: 'about:blank', title: 'Not Found', status: 404, detail: `No route for ${c.req.method} ${c.req.path}.` });
};
