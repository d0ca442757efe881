import type { MiddlewareHandler } from 'hono';
import type { Redis } from 'ioredis';
import { HeraldError } from '../../errors.js';
import type { RateDecision } from '../../ratelimit/gcra.js';
import { LeasedBuckets } from './rate-lease.js';
import { SCOPES, type Principal } from '../../auth/jwt.js';
import type { Config } from '../../config.js';
import type { ApiEnv } from '../env.js';

/** `admin=600,templates:write=1000` → Map (validated by src/config.ts). */
export function parseScopeLimits(spec: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const part of spec.split(',')) {
    const [scope, n] = part.split('=').map((s) => s.trim());
    if (scope && n) out.set(scope, Number(n));
  }
  return out;
}

export interface RateLimits {
  /** tokens without notify:send (RATE_LIMIT_USER_PER_MIN, default 100) */
  user: number;
  /** tokens with notify:send (RATE_LIMIT_SERVICE_PER_MIN, default 60000) */
  service: number;
  /** RATE_LIMIT_SCOPES: when a token has one of these scopes, the highest of them applies instead */
  scopes: Map<string, number>;
}

export function rateLimitsFrom(config: Pick<Config, 'RATE_LIMIT_USER_PER_MIN' | 'RATE_LIMIT_SERVICE_PER_MIN' | 'RATE_LIMIT_SCOPES'>): RateLimits {
  return { user: config.RATE_LIMIT_USER_PER_MIN, service: config.RATE_LIMIT_SERVICE_PER_MIN, scopes: parseScopeLimits(config.RATE_LIMIT_SCOPES) };
}

/** Requests per minute allowed to this token. */
export function limitFor(limits: RateLimits, who: Principal): number {
  let best = 0;
  for (const scope of who.scopes) best = Math.max(best, limits.scopes.get(scope) ?? 0);
  if (best > 0) return best;
  return who.scopes.has(SCOPES.send) ? limits.service : limits.user;
}

export class TooManyRequestsError extends HeraldError {
  constructor(limit: number) {
    super(429, 'Too Many Requests', `This token may make ${limit} requests per minute. Retry after the time in Retry-After.`);
  }
}

/**
 * Per token subject (within its tenant), after bearerAuth. Answers carry
 * RateLimit-Limit/-Remaining/-Reset and RateLimit-Policy (IETF
 * draft-ietf-httpapi-ratelimit-headers); a refused request gets 429 with
 * Retry-After. When Redis cannot be asked the request goes through (fail
 * open): inbox reads keep working during a Redis outage, and sends fail
 * with 503 on their own. Busy subjects take their tokens a lease at a time
 * (./rate-lease.ts).
 */
export function rateLimit(deps: {
  redis: Redis;
  prefix: string;
  limits: RateLimits;
  /** awaited before a refused request is answered 429 (the audit log records admin tokens' refusals); default: nothing */
  onRefused?: (who: Principal, requestId: string) => Promise<void>;
}): MiddlewareHandler<ApiEnv> {
  let warned = false;
  const buckets = new LeasedBuckets(deps.redis);
  return async function limitRate(c, next) {
    const who = c.get('principal');
    const limit = limitFor(deps.limits, who);
    let decision: RateDecision | undefined;
    try {
      decision = await buckets.take(`${deps.prefix}:ratelimit:${who.tenant}:${who.sub}`, limit);
      warned = false;
    } catch (err) {
      if (!warned) c.get('logger').warn({ err: (err as Error).message }, 'rate limiter unavailable; letting requests through');
      warned = true;
    }
    if (decision) {
      c.header('ratelimit-limit', String(limit));
      c.header('ratelimit-remaining', String(decision.remaining));
      c.header('ratelimit-reset', String(Math.ceil(decision.resetMs / 1000)));
      c.header('ratelimit-policy', `${limit};w=60`);
      if (!decision.allowed) {
        c.header('retry-after', String(Math.max(1, Math.ceil(decision.retryAfterMs / 1000))));
        await deps.onRefused?.(who, c.get('requestId'));
        throw new TooManyRequestsError(limit);
      }
    }
    await next();
  };
}
