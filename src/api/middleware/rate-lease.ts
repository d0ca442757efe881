import type { Redis } from 'ioredis';
import { takeTokens, type RateDecision } from '../../ratelimit/gcra.js';

interface Lease {
  /** tokens this process holds and has not used */
  tokens: number;
  /** the bucket's remaining tokens in Redis when the lease was taken */
  remaining: number;
  /** when the bucket in Redis is full again (epoch ms) */
  resetAt: number;
  /** the lease is used until then, and what is left goes back with the next call */
  until: number;
}

/** Leases kept at most (a lease past its time is dropped first); its tokens are then simply spent. */
const MAX_LEASES = 10_000;

/**
 * Token buckets in Redis (GCRA, shared by every api process), taken a lease
 * at a time: a subject allowed many requests (a service token: 60,000 per
 * minute by default) takes `leaseMs` worth of its rate in one round trip
 * and uses it in this process; what is left when the lease runs out goes
 * back to the bucket with the next call. A subject allowed less than one
 * token per `leaseMs` (user tokens: 100 per minute) takes one token per
 * request, as without leases. At 1,000 sends/s from one token, one Redis
 * call per ~100 requests instead of one each: the round trip cost the api
 * and Redis more than the rest of the rate limit.
 *
 * The limit holds across processes: every token was taken from Redis
 * first. What a lease costs: tokens one process holds are not available to
 * another until it gives them back (at most `leaseMs` of the subject's rate,
 * for at most `leaseMs`, or until the subject's next request there), and
 * RateLimit-Remaining counts them as this caller's.
 */
export class LeasedBuckets {
  private readonly leases = new Map<string, Lease>();
  private readonly asking = new Map<string, Promise<RateDecision>>();

  constructor(
    private readonly redis: Redis,
    private readonly opts: { periodMs?: number; leaseMs?: number } = {},
  ) {}

  /** Takes one request from `key`'s bucket of `limit` per period (default one minute). */
  async take(key: string, limit: number): Promise<RateDecision> {
    for (;;) {
      const now = Date.now();
      const lease = this.leases.get(key);
      if (lease && lease.tokens > 0 && now < lease.until) {
        lease.tokens--;
        return { allowed: true, limit, remaining: lease.remaining + lease.tokens, retryAfterMs: 0, resetMs: Math.max(0, lease.resetAt - now) };
      }
      const asked = this.asking.get(key);
      if (!asked) return this.ask(key, limit, lease);
      // another request of this subject is renewing the lease: share its answer
      const decision = await asked;
      if (!decision.allowed) return decision;
    }
  }

  private async ask(key: string, limit: number, old: Lease | undefined): Promise<RateDecision> {
    const periodMs = this.opts.periodMs ?? 60_000;
    const leaseMs = this.opts.leaseMs ?? 100;
    const want = Math.max(1, Math.floor((limit * leaseMs) / periodMs));
    const back = old?.tokens ?? 0;
    this.leases.delete(key);
    const asking = (async (): Promise<RateDecision> => {
      const r = await takeTokens(this.redis, key, limit, periodMs, want, back);
      const now = Date.now();
      if (r.took === 0) return { allowed: false, limit, remaining: 0, retryAfterMs: r.retryAfterMs, resetMs: r.resetMs };
      // this request takes the first token; the rest are the lease
      if (r.took > 1) this.keep(key, { tokens: r.took - 1, remaining: r.remaining, resetAt: now + r.resetMs, until: now + leaseMs });
      return { allowed: true, limit, remaining: r.remaining + r.took - 1, retryAfterMs: 0, resetMs: r.resetMs };
    })();
    this.asking.set(key, asking);
    try {
      return await asking;
    } finally {
      this.asking.delete(key);
    }
  }

  private keep(key: string, lease: Lease) {
    if (this.leases.size >= MAX_LEASES) {
      const now = Date.now();
      for (const [k, l] of this.leases) if (l.until <= now) this.leases.delete(k);
      if (this.leases.size >= MAX_LEASES) this.leases.delete(this.leases.keys().next().value!);
    }
    this.leases.set(key, lease);
  }
}
