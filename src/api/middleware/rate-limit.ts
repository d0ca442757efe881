import type { MiddlewareHandler } from 'hono';
import type { Redis } from 'ioredis';
import { HeraldError } from '../../errors.js';
import { SCOPES, type Principal } from '../../auth/jwt.js';
import type { Config } from '../../config.js';
import type { ApiEnv } from '../env.js';

/**
 * GCRA (generic cell rate algorithm) in one Lua script, so every api process
 * shares one bucket per token subject and a check is one round trip and one
 * small key. The bucket holds the "theoretical arrival time" (TAT): a request
 * is allowed when it does not push the TAT more than one period past now.
 * That admits a burst of `limit` requests, then one every period/limit ms.
 * Redis's own clock is used so api hosts with skewed clocks agree.
 *
 * KEYS[1] bucket; ARGV[1] limit per period; ARGV[2] period in ms.
 * Returns { allowed (1|0), remaining, retry_after_ms, reset_ms }.
 */
export const GCRA_LUA = `
local limit = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local interval = period / limit
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - period
if now < allow_at then
  return { 0, 0, math.ceil(allow_at - now), math.ceil(tat - now) }
end
redis.call('SET', KEYS[1], string.format('%.3f', new_tat), 'PX', math.max(1, math.ceil(new_tat - now)))
return { 1, math.floor((now - allow_at) / interval), 0, math.ceil(new_tat - now) }
`;

export interface RateDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  retryAfterMs: number;
  resetMs: number;
}

type WithGcra = Redis & { heraldGcra(key: string, limit: number, periodMs: number): Promise<[number, number, number, number]> };

/** Takes one request from `key`'s bucket of `limit` per `periodMs`. */
export async function takeToken(redis: Redis, key: string, limit: number, periodMs = 60_000): Promise<RateDecision> {
  const r = redis as WithGcra;
  if (typeof r.heraldGcra !== 'function') redis.defineCommand('heraldGcra', { numberOfKeys: 1, lua: GCRA_LUA });
  const [allowed, remaining, retryAfterMs, resetMs] = await r.heraldGcra(key, limit, periodMs);
  return { allowed: allowed === 1, limit, remaining, retryAfterMs, resetMs };
}

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
 * with 503 on their own.
 */
export function rateLimit(deps: { redis: Redis; prefix: string; limits: RateLimits }): MiddlewareHandler<ApiEnv> {
  let warned = false;
  return async function limitRate(c, next) {
    const who = c.get('principal');
    const limit = limitFor(deps.limits, who);
    let decision: RateDecision | undefined;
    try {
      decision = await takeToken(deps.redis, `${deps.prefix}:ratelimit:${who.tenant}:${who.sub}`, limit);
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
        throw new TooManyRequestsError(limit);
      }
    }
    await next();
  };
}
