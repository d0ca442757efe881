import type { MiddlewareHandler } from 'hono';
import { HeraldError } from '../../errors.js';
import type { ApiEnv } from '../env.js';

export class RequestTimeoutError extends HeraldError {
  constructor(ms: number) {
    super(503, 'Service Unavailable', `The request took longer than ${ms} ms and was abandoned. Retry later (with the same idempotency_key when sending).`);
  }
}

/**
 * Answers 503 (with Retry-After) when the rest of the chain has not answered
 * within `ms`, so a hung dependency never holds a client forever. The
 * abandoned work is not cancelled (Node has no way to stop it); a send that
 * completes late is still safe to retry with its idempotency_key.
 */
export function requestTimeout(ms: number): MiddlewareHandler<ApiEnv> {
  return async function timeoutAfter(c, next) {
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new RequestTimeoutError(ms)), ms);
    });
    try {
      await Promise.race([next(), expired]);
    } catch (err) {
      if (err instanceof RequestTimeoutError) {
        c.get('logger')?.warn({ timeoutMs: ms, path: c.req.path }, 'request timed out');
        c.header('retry-after', '5');
      }
      throw err;
    } finally {
      clearTimeout(timer);
    }
  };
}
