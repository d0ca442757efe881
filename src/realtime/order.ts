import { compareCursors } from '../domain/inbox/cursors.js';

export interface CursorOrderOptions {
  /** longest a frame waits for the one before it, ms */
  waitMs: number;
  /** frames a tenant may have waiting before they all go out (bounds memory) */
  maxHeld?: number;
  /** told how many frames went out without the frame before them */
  onGiveUp?: (frames: number) => void;
}

interface Held<T> {
  seq: string;
  prev: string;
  item: T;
}

interface TenantState<T> {
  /** the highest cursor routed */
  head: string;
  /** frames waiting for an earlier one, lowest cursor first */
  held: Held<T>[];
  timer: NodeJS.Timeout | null;
}

/**
 * Puts each tenant's notification frames back in cursor order before a node
 * routes them.
 *
 * Cursors are taken in commit order, but each ingest process publishes its
 * batch after its own commit, so two batches of a tenant stored a
 * millisecond apart can reach Redis the other way round. Sent as they come,
 * a client would see cursor 20 before 15, and one that dropped just then and
 * reconnected with ?since=20 would never get 15. So every notification
 * record carries `prev`, the tenant's cursor before its own
 * (notification_heads), and a record whose `prev` has not been routed yet
 * waits here until it has.
 *
 * A frame that never comes (its process died between commit and publish;
 * the retried job publishes it later, without `prev`) would stall the
 * tenant: after `waitMs` the waiting frames go out anyway, in order. The
 * first frame of a tenant this node sees is routed at once: the node cannot
 * know what was published before it subscribed.
 */
export class CursorOrder<T> {
  private readonly tenants = new Map<string, TenantState<T>>();
  private readonly maxHeld: number;

  constructor(
    private readonly route: (item: T) => void,
    private readonly options: CursorOrderOptions,
  ) {
    this.maxHeld = options.maxHeld ?? 10_000;
  }

  /** Routes `item` (cursor `seq`, tenant's previous cursor `prev`) now, or once the frames before it are routed. */
  offer(tenant: string, seq: string, prev: string, item: T): void {
    const state = this.tenants.get(tenant);
    if (!state) {
      this.tenants.set(tenant, { head: seq, held: [], timer: null });
      return this.route(item);
    }
    if (compareCursors(prev, state.head) <= 0) {
      if (compareCursors(seq, state.head) > 0) state.head = seq;
      this.route(item);
      if (state.held.length) this.drain(state);
      return;
    }
    const held = state.held;
    let i = held.length;
    while (i > 0 && compareCursors(held[i - 1].seq, seq) > 0) i--;
    held.splice(i, 0, { seq, prev, item });
    if (held.length > this.maxHeld) return this.giveUp(state);
    state.timer ??= this.wait(state);
  }

  /** Routes everything still waiting (the node is closing) and stops the timers. */
  close(): void {
    for (const state of this.tenants.values()) if (state.held.length) this.release(state);
  }

  /** Routes the held frames whose predecessor has now been routed. */
  private drain(state: TenantState<T>): void {
    const held = state.held;
    let n = 0;
    while (n < held.length && compareCursors(held[n].prev, state.head) <= 0) {
      const next = held[n++];
      if (compareCursors(next.seq, state.head) > 0) state.head = next.seq;
      this.route(next.item);
    }
    held.splice(0, n);
    if (n && state.timer) {
      clearTimeout(state.timer);
      state.timer = held.length ? this.wait(state) : null;
    }
  }

  private wait(state: TenantState<T>): NodeJS.Timeout {
    return setTimeout(() => this.giveUp(state), this.options.waitMs).unref();
  }

  /** The frame awaited is not coming (soon): route what waits, in cursor order. */
  private giveUp(state: TenantState<T>): void {
    const frames = state.held.length;
    this.release(state);
    this.options.onGiveUp?.(frames);
  }

  private release(state: TenantState<T>): void {
    if (state.timer) clearTimeout(state.timer);
    state.timer = null;
    for (const h of state.held.splice(0)) {
      if (compareCursors(h.seq, state.head) > 0) state.head = h.seq;
      this.route(h.item);
    }
  }
}
