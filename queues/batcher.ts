/**
 * Gathers items handed in by concurrent callers and flushes them together:
 * when `max` items wait, or at the end of the current event-loop turn (so a
 * lone caller waits for nothing), later when `everyMs` or `inFlight` say so.
 * Each caller's promise settles with its batch, so nobody is told "done"
 * before the batch holding their items is; it resolves with what the flush
 * returned (the same value for every caller of that batch), so a flush can
 * say what became of each item.
 *
 * `inFlight` caps how many flushes run at once (default: no cap). Items that
 * arrive while the cap is reached wait for the next flush to end and then go
 * together: group commit. An idle batcher flushes at once, a busy one sends
 * bigger batches instead of more of them, so the cost per item falls as the
 * load rises. A full batch (`max`) is flushed at once whatever the cap.
 *
 * `everyMs` spaces flushes: one starts at most every `everyMs`, and the
 * first after a pause starts at once. Under a steady stream of single items
 * each flush then carries what came in since the last one, so a lone item
 * waits for nothing and a busy stream costs one flush per `everyMs`.
 */
export class Batcher<T, R = void> {
  private items: T[] = [];
  private waiters: Array<{ resolve: (result: R) => void; reject: (err: unknown) => void }> = [];
  private scheduled = false;
  private running = 0;
  private lastFlush = -Infinity;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly flushFn: (items: T[]) => Promise<R>,
    private readonly opts: { max: number; inFlight?: number; everyMs?: number },
  ) {}

  add(items: T[]): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.items.push(...items);
      this.waiters.push({ resolve, reject });
      if (this.items.length >= this.opts.max) this.flush();
      else this.schedule();
    });
  }

  private schedule(): void {
    // at the cap, the flush that ends next schedules these items
    if (this.scheduled || this.running >= (this.opts.inFlight ?? Infinity)) return;
    this.scheduled = true;
    const delay = this.opts.everyMs ? this.lastFlush + this.opts.everyMs - performance.now() : 0;
    if (delay > 0) this.timer = setTimeout(() => this.flush(), delay);
    else setImmediate(() => this.flush());
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.scheduled = false;
    if (!this.waiters.length) return;
    const items = this.items;
    const waiters = this.waiters;
    this.items = [];
    this.waiters = [];
    this.running++;
    this.lastFlush = performance.now();
    this.flushFn(items)
      .then(
        (result) => waiters.forEach((w) => w.resolve(result)),
        (err) => waiters.forEach((w) => w.reject(err)),
      )
      .finally(() => {
        this.running--;
        if (this.waiters.length) this.schedule();
      });
  }
}
