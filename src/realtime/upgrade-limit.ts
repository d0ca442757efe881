import type { Redis } from 'ioredis';
import { takeTokensMany } from '../ratelimit/gcra.js';

/**
 * WebSocket upgrades per minute and key (a token subject, a client
 * address), shared by every realtime node through a GCRA bucket in Redis
 * (src/ratelimit/gcra.ts, the HTTP limit's), so a client looping on connect
 * or a reconnect storm cannot spend the nodes' CPU.
 *
 * The answer is needed inside uWS's upgrade callback, which must upgrade
 * before it returns (this uWS build can cut a socket upgraded later, from a
 * promise: see admission.ts), and a Redis round trip per upgrade would cost a
 * reconnect storm one each. So an attempt is judged at once on what this
 * node knows of the key — its own attempts, and what Redis answered about
 * the key to this node or to another (learn) — and counted in Redis
 * afterwards, every attempt of a turn of the event loop in one round trip,
 * before the socket costs anything (no query, no per-user bookkeeping):
 * - over the limit on this node's count alone: refused at once (429, no
 *   socket). This node never counts more than Redis, so such a refusal is
 *   always right;
 * - else let through, then settled by Redis (flush): when the key's tokens
 *   went to other nodes, the socket is closed before its welcome.
 * Every attempt let through is counted, also one whose upgrade then fails
 * (a bad token): a client guessing tokens spends its address's budget.
 * When Redis cannot be asked, what this node counted still applies and
 * nothing else (fail open, as the HTTP limit).
 */

/** One upgrade counted against a key; `allowed` is final once a flush() made after it has resolved. */
export interface Attempt {
  key: string;
  allowed: boolean;
  /** when refused: ms until the key has a token again */
  retryAfterMs: number;
}

/** A key Redis found used up (its next token in `resetMs` + one interval): worth telling the other nodes. */
export interface UsedUp {
  key: string;
  resetMs: number;
}

export interface UpgradeLimitOptions {
  /** upgrades per period and key (0 = no limit) */
  limit: number;
  /** the period, ms (default one minute) */
  periodMs?: number;
  /** Redis could not settle a batch; its attempts stay allowed */
  onError?(err: Error): void;
  /** keys Redis found used up, for the other nodes to learn */
  onUsedUp?(usedUp: UsedUp[]): void;
}

export class UpgradeLimit {
  /** per key, its theoretical arrival time as far as this node knows (GCRA: ms, this host's clock) */
  private readonly tats = new Map<string, number>();
  /** attempts let through and not counted in Redis yet */
  private queue: Attempt[] = [];
  private scheduled = false;
  /** settles once every flush started so far has */
  private settled: Promise<void> = Promise.resolve();
  private readonly periodMs: number;
  private readonly interval: number;

  constructor(
    private readonly redis: Redis,
    private readonly opts: UpgradeLimitOptions,
  ) {
    this.periodMs = opts.periodMs ?? 60_000;
    this.interval = this.periodMs / Math.max(1, opts.limit);
  }

  get enabled(): boolean {
    return this.opts.limit > 0;
  }

  /** Counts an upgrade of `key` now: refused already, or allowed until a flush says otherwise. */
  attempt(key: string, now = Date.now()): Attempt {
    const tat = Math.max(this.tats.get(key) ?? 0, now) + this.interval;
    if (tat - now > this.periodMs) return { key, allowed: false, retryAfterMs: Math.ceil(tat - this.periodMs - now) };
    this.tats.set(key, tat);
    const attempt = { key, allowed: true, retryAfterMs: 0 };
    this.queue.push(attempt);
    if (!this.scheduled) {
      // the attempts of this turn of the event loop go together, whether or not a socket waits on them
      this.scheduled = true;
      setImmediate(() => void this.flush());
    }
    return attempt;
  }

  /** What Redis answered about `key` elsewhere: its bucket is full for `resetMs` from now. */
  learn(key: string, resetMs: number, now = Date.now()): void {
    const tat = now + resetMs;
    if (tat > (this.tats.get(key) ?? 0)) this.tats.set(key, tat);
  }

  /**
   * Counts the attempts let through since the last flush in Redis (one
   * request per key, for all its attempts, in one round trip) and settles
   * each: the first as many as the bucket had tokens for stay allowed.
   * Resolves once every attempt made before the call is settled (also those
   * an earlier flush still counts).
   */
  flush(): Promise<void> {
    this.scheduled = false;
    const attempts = this.queue;
    this.queue = [];
    const counted = attempts.length ? this.count(attempts) : Promise.resolve();
    this.settled = Promise.all([this.settled, counted]).then(() => undefined);
    return this.settled;
  }

  private async count(attempts: Attempt[]): Promise<void> {
    const byKey = new Map<string, Attempt[]>();
    for (const a of attempts) {
      const list = byKey.get(a.key);
      if (list) list.push(a);
      else byKey.set(a.key, [a]);
    }
    const keys = [...byKey.keys()];
    let answers;
    try {
      answers = await takeTokensMany(
        this.redis,
        keys.map((key) => ({ key, limit: this.opts.limit, periodMs: this.periodMs, want: byKey.get(key)!.length })),
      );
    } catch (err) {
      this.opts.onError?.(err as Error);
      return;
    }
    const usedUp: UsedUp[] = [];
    const at = Date.now();
    keys.forEach((key, i) => {
      const list = byKey.get(key)!;
      const { took, remaining, resetMs } = answers[i];
      const refused = list.length - took;
      for (const a of list.slice(took)) {
        a.allowed = false;
        a.retryAfterMs = Math.max(1, Math.ceil(resetMs + this.interval - this.periodMs));
      }
      // Redis's count, and what this node let through since it asked (less the ones Redis refused)
      const mine = (this.tats.get(key) ?? 0) - refused * this.interval;
      this.tats.set(key, Math.max(mine, at + resetMs));
      if (refused > 0 || remaining === 0) usedUp.push({ key, resetMs });
    });
    if (usedUp.length) this.opts.onUsedUp?.(usedUp);
  }

  /** Forgets keys whose bucket is full again (call now and then: the map holds every key seen within a period). */
  sweep(now = Date.now()): void {
    for (const [key, tat] of this.tats) if (tat <= now) this.tats.delete(key);
  }
}
