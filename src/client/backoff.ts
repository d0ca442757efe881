/** How long to wait between reconnect attempts. */
export interface ReconnectOptions {
  /** the first attempt's ceiling, ms (default 3000) */
  initialMs?: number;
  /** the ceiling's growth per failed attempt (default 1.5) */
  factor?: number;
  /** the largest ceiling, ms (default 30000) */
  maxMs?: number;
  /** a socket open this long counts as stable: the next outage starts again from initialMs, ms (default 10000) */
  stableMs?: number;
}

export type Backoff = Required<ReconnectOptions>;

export const backoffFrom = (o: ReconnectOptions = {}): Backoff => ({
  initialMs: o.initialMs ?? 3000,
  factor: o.factor ?? 1.5,
  maxMs: o.maxMs ?? 30000,
  stableMs: o.stableMs ?? 10000,
});

/**
 * Full jitter: anywhere between 0 and the attempt's ceiling. Spreading
 * retries over the whole window keeps a node's restart from turning into a
 * reconnect storm of every client at the same instant.
 */
export const delayFor = (b: Backoff, attempt: number): number =>
  Math.random() * Math.min(b.maxMs, b.initialMs * b.factor ** attempt);
