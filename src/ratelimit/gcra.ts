import type { Redis } from 'ioredis';

/**
 * GCRA (generic cell rate algorithm) in one Lua script, so every process
 * that limits a key (the api per token subject, realtime nodes per
 * WebSocket upgrade) shares one bucket per key and a check is one round
 * trip and one small key. The bucket holds the "theoretical arrival time" (TAT): a request
 * is allowed when it does not push the TAT more than one period past now.
 * That admits a burst of `limit` requests, then one every period/limit ms.
 * Redis's own clock is used so api hosts with skewed clocks agree.
 *
 * A call may take several tokens at once and give unused ones back (the api
 * leases tokens for busy subjects, src/api/middleware/rate-lease.ts; a
 * realtime node asks once for all the upgrades of one key in a batch): it
 * takes as many of `want` as the bucket allows now, at least one or none.
 *
 * KEYS[1] bucket; ARGV[1] limit per period; ARGV[2] period in ms; ARGV[3]
 * tokens wanted (>= 1); ARGV[4] tokens given back first (>= 0).
 * Returns { tokens taken (0 = refused), remaining, retry_after_ms, reset_ms }.
 */
export const GCRA_LUA = `
local limit = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local back = tonumber(ARGV[4])
local interval = period / limit
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local tat = tonumber(redis.call('GET', KEYS[1]) or '0') - back * interval
if tat < now then tat = now end
local fit = math.floor((now + period - tat) / interval + 1e-6)
if fit < 1 then
  if back > 0 then redis.call('SET', KEYS[1], string.format('%.3f', tat), 'PX', math.max(1, math.ceil(tat - now))) end
  return { 0, 0, math.ceil(tat + interval - period - now), math.ceil(tat - now) }
end
local took = math.min(want, fit)
local new_tat = tat + took * interval
redis.call('SET', KEYS[1], string.format('%.3f', new_tat), 'PX', math.max(1, math.ceil(new_tat - now)))
return { took, math.floor((now + period - new_tat) / interval + 1e-6), 0, math.ceil(new_tat - now) }
`;

export interface RateDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  retryAfterMs: number;
  resetMs: number;
}

type WithGcra = Redis & {
  heraldGcra(key: string, limit: number, periodMs: number, want: number, back: number): Promise<[number, number, number, number]>;
};

/** What a bucket answered: tokens taken (0 = refused), and its state after. */
export interface Taken {
  took: number;
  remaining: number;
  /** when refused: ms until one token is there again */
  retryAfterMs: number;
  /** ms until the bucket is full again (its theoretical arrival time, from now) */
  resetMs: number;
}

/** `redis` with the script as a command (EVALSHA; ioredis loads it again if Redis lost it). */
function withGcra(redis: Redis): WithGcra {
  const r = redis as WithGcra;
  if (typeof r.heraldGcra !== 'function') redis.defineCommand('heraldGcra', { numberOfKeys: 1, lua: GCRA_LUA });
  return r;
}

/**
 * Takes up to `want` tokens from `key`'s bucket of `limit` per `periodMs`,
 * after giving `back` unused ones back: how many it took (0 when refused)
 * and the bucket's state after.
 */
export async function takeTokens(redis: Redis, key: string, limit: number, periodMs: number, want: number, back = 0): Promise<Taken> {
  const [took, remaining, retryAfterMs, resetMs] = await withGcra(redis).heraldGcra(key, limit, periodMs, want, back);
  return { took, remaining, retryAfterMs, resetMs };
}

/**
 * takeTokens for many buckets in one round trip: one answer per request, in order. Rejects when Redis could not answer one of them.
 */
export async function takeTokensMany(
  redis: Redis,
  requests: ReadonlyArray<{ key: string; limit: number; periodMs: number; want: number }>,
): Promise<Taken[]> {
  if (!requests.length) return [];
  // one command per bucket, sent together: buckets of a Redis Cluster live on different nodes, so they cannot share a pipeline
  const gcra = withGcra(redis);
  return Promise.all(
    requests.map(async (q) => {
      const [took, remaining, retryAfterMs, resetMs] = await gcra.heraldGcra(q.key, q.limit, q.periodMs, q.want, 0);
      return { took, remaining, retryAfterMs, resetMs };
    }),
  );
}

/** Takes one request from `key`'s bucket of `limit` per `periodMs`. */
export async function takeToken(redis: Redis, key: string, limit: number, periodMs = 60_000): Promise<RateDecision> {
  const { took, remaining, retryAfterMs, resetMs } = await takeTokens(redis, key, limit, periodMs, 1);
  return { allowed: took > 0, limit, remaining, retryAfterMs, resetMs };
}
