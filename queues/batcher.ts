/**
 * Gathers items handed in by concurrent callers and flushes them together:
 * when `max` items wait, or `waitMs` after the first one arrived (0: at the
 * end of the current event-loop turn, so a lone caller waits for nothing).
 * Each caller's promise settles with its batch, so nobody is told "done"
 * before the batch holding their items is.
 */
export class Batcher<T> {
  private items: T[] = [];
  private waiters: Array<{ resolve: () => void; reject: (err: unknown) => void }> = [];
  private scheduled = false;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly flushFn: (items: T[]) => Promise<void>,
    private readonly opts: { max: number; waitMs: number },
  ) {}

  add(items: T[]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.items.push(...items);
      this.waiters.push({ resolve, reject });
      if (this.items.length >= this.opts.max) this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        if (this.opts.waitMs > 0) this.timer = setTimeout(() => this.flush(), this.opts.waitMs);
        else setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.scheduled = false;
    if (!this.waiters.length) return;
    const items = this.items;
    const waiters = this.waiters;
    this.items = [];
    this.waiters = [];
    this.flushFn(items).then(
      () => waiters.forEach((w) => w.resolve()),
      (err) => waiters.forEach((w) => w.reject(err)),
    );
  }
}
