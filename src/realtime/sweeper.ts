/**
 * Visits every live item once per `periodMs`, a small slice per tick, so
 * periodic per-socket work (heartbeat pings, idle and backpressure checks)
 * never runs as one long loop that would delay frames for everyone: with
 * 19,000 sockets, a 1 s period and 10 ms ticks, each tick visits ~190
 * (a tick that pings is ~15 µs per ping here, mostly the write()).
 *
 * Items are kept in an array with their own index (swap-remove), so adding
 * and removing are O(1) and the sweep needs no allocation.
 */
export interface Sweepable {
  /** position in the sweeper's array; -1 when not in it */
  sweepIndex: number;
}

export interface SweeperOptions {
  /** every item is visited once per period, in ms */
  periodMs: number;
  /** how often a slice runs, in ms (default 10) */
  tickMs?: number;
}

export class Sweeper<T extends Sweepable> {
  private items: T[] = [];
  private cursor = 0;
  private timer?: NodeJS.Timeout;
  private readonly tickMs: number;
  private readonly periodMs: number;

  constructor(
    private readonly visit: (item: T, now: number) => void,
    opts: SweeperOptions,
  ) {
    this.tickMs = Math.max(1, Math.min(opts.tickMs ?? 10, opts.periodMs));
    this.periodMs = Math.max(this.tickMs, opts.periodMs);
  }

  get size(): number {
    return this.items.length;
  }

  add(item: T): void {
    item.sweepIndex = this.items.length;
    this.items.push(item);
  }

  remove(item: T): void {
    const i = item.sweepIndex;
    if (i < 0 || this.items[i] !== item) return;
    const last = this.items.pop()!;
    if (last !== item) {
      this.items[i] = last;
      last.sweepIndex = i;
    }
    item.sweepIndex = -1;
  }

  /** A snapshot of the live items (for shutdown). */
  all(): T[] {
    return this.items.slice();
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), this.tickMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One slice: enough items that the whole array is covered once per period. */
  tick(now = Date.now()): void {
    const n = this.items.length;
    if (!n) return;
    const slice = Math.min(n, Math.ceil((n * this.tickMs) / this.periodMs));
    for (let k = 0; k < slice && this.items.length; k++) {
      if (this.cursor >= this.items.length) this.cursor = 0;
      const item = this.items[this.cursor];
      this.visit(item, now);
      // visit may have removed the item (closed socket): the slot now holds another one
      if (this.items[this.cursor] === item) this.cursor++;
    }
  }
}
