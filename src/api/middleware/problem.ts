import type { Context, ErrorHandler, NotFoundHandler } from 'hono';
import { DriverException } from '@mikro-orm/core';
import { HTTPException } from 'hono/http-exception';
import { pgErrorKind } from '../../db/pg-errors.js';
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

/** What a database failure says about its cause (MikroORM wraps every driver error in a DriverException). */
const dbErrorKind = (err: unknown) => (err instanceof DriverException ? pgErrorKind(err) : null);

const BAD_REQUEST = 'https://herald.dev/problems/bad-request';

/** Generic words for a value PostgreSQL refused: its own message quotes the statement and other rows. */
const REFUSED_DETAIL =
  'The database refused a value in this request (a character, number or time it cannot store, or a structure too large). Correct the request; retrying it unchanged fails again.';

/**
 * Redis refused the command: its connection is down (the producer connection
 * never queues), or it is moving: a failover under way (a Cluster's slot
 * without a primary yet, a Sentinel's old primary now a replica, a replica
 * still loading).
 */
function isRedisDown(err: unknown): boolean {
  const msg = (err as Error)?.message ?? '';
  return (
    /enableOfflineQueue|Connection is closed|ECONNREFUSED|MaxRetriesPerRequest|Stream isn't writeable|Redis did not answer/i.test(msg) ||
    /^(CLUSTERDOWN|TRYAGAIN|MASTERDOWN|READONLY|LOADING)\b|Failed to refresh slots cache|None of startup nodes is available|Too many Cluster redirections/.test(msg)
  );
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
    if (err instanceof URIError) {
      log.warn({ err }, 'malformed URL encoding');
      return problemResponse(c, { type: BAD_REQUEST, title: 'Bad Request', status: 400, detail: 'The URL is not valid percent-encoded UTF-8.' });
    }
    const dbKind = dbErrorKind(err);
    if (dbKind === 'bad-input') {
      // the end of the message is PostgreSQL's own words; the start can be a whole statement with its values
      const { code, message } = err as { code?: string; message: string };
      log.warn({ err: { code, message: message.slice(-300) } }, 'database refused a value of the request');
      return problemResponse(c, { type: BAD_REQUEST, title: 'Bad Request', status: 400, detail: REFUSED_DETAIL });
    }
    if (dbKind === 'unavailable') {
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
