/**
 * Gathers items handed in by concurrent callers and flushes them together:
 * when `max` items wait, or `waitMs` after the first one arrived. Each caller's
 * promise settles with its batch, so a BullMQ job is acknowledged only after
 * the batch holding its items has committed.
 */
export class Batcher<T> {
  private items: T[] = [];
  private waiters: Array<{ resolve: () => void; reject: (err: unknown) => void }> = [];
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
      else this.timer ??= setTimeout(() => this.flush(), this.opts.waitMs);
    });
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
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
