import { compareCursors } from '../domain/inbox/cursors.js';
import type { OrderLink } from '../feed/wire.js';

export interface CursorOrderOptions {
  /** longest a frame waits for the ones before it, ms */
  waitMs: number;
  /** frames a tenant may have waiting before they all go out (bounds memory) */
  maxHeld?: number;
  /** told how many frames went out without the frames before them */
  onGiveUp?: (frames: number) => void;
  /** true when this node receives the topic of this hash (src/feed/wire.ts topicHash): its frame will come */
  holds(topicHash: string): boolean;
}

interface Held<T> {
  seq: string;
  item: T;
}

interface Link {
  prev: string;
  entries: Array<{ cursor: string; hash: string }>;
  /** entries before this one are behind the head */
  at: number;
}

interface TenantState<T> {
  /** every cursor of the tenant up to here is routed, or known not to come to this node; null until known */
  head: string | null;
  /** the head is being read (expect() until start()): order records wait for it instead of starting the chain */
  starting: boolean;
  /** frames waiting for an earlier one, lowest cursor first */
  held: Held<T>[];
  /** stretches of the tenant's cursor chain not yet walked, lowest prev first */
  links: Link[];
  timer: NodeJS.Timeout | null;
}

/**
 * Puts each tenant's notification frames in cursor order before a node
 * routes them, though the node receives only its own topics' frames.
 *
 * Cursors are taken in commit order, but each ingest process publishes its
 * batch after its own commit, so two batches of a tenant stored a
 * millisecond apart can reach Redis the other way round. Sent as they come,
 * a client would see cursor 20 before 15, and one that dropped just then and
 * reconnected with ?since=20 would never get 15. And on a Redis Cluster the
 * topics of one batch are on different shards, with no order between them.
 *
 * So each publish of stored notifications also tells, on the tenant's order
 * channel, every cursor it holds with the hash of its topic and the tenant's
 * cursor before it (src/feed/wire.ts encodeOrder). A node walks the tenant's
 * chain from its head: a cursor of a topic it does not receive is passed
 * over, one it does receive is waited for and routed; a frame whose cursor
 * the walk has not reached waits. Order records and frames may come in any
 * order (different channels, different shards).
 *
 * A stretch that never comes (its process died between commit and publish;
 * the retried job publishes it later, without `prev`) would stall the
 * tenant: after `waitMs` without progress the waiting frames go out anyway,
 * in cursor order, and the walk goes on past the stretches known.
 *
 * Where a tenant's chain starts for this node: the tenant's head read just
 * after the node subscribed to its order channel (expect(), then start()),
 * so the first batches after it are ordered too even when a later one is
 * published first. Without that read (it failed), the first order record
 * this node sees starts the chain.
 */
export class CursorOrder<T> {
  private readonly tenants = new Map<string, TenantState<T>>();
  /** tenants with frames or stretches waiting */
  private readonly waiting = new Set<TenantState<T>>();
  private readonly maxHeld: number;

  constructor(
    private readonly route: (item: T) => void,
    private readonly options: CursorOrderOptions,
  ) {
    this.maxHeld = options.maxHeld ?? 10_000;
  }

  /** A frame of the tenant's chain (its record named `prev`): routed now, or once the walk reaches `seq`. */
  offer(tenant: string, seq: string, item: T): void {
    const state = this.stateOf(tenant);
    if (state.head !== null && compareCursors(seq, state.head) <= 0) return this.route(item);
    const held = state.held;
    let i = held.length;
    while (i > 0 && compareCursors(held[i - 1].seq, seq) > 0) i--;
    held.splice(i, 0, { seq, item });
    if (held.length > this.maxHeld) return this.giveUp(state);
    this.advance(state);
  }

  /** The tenant's head is being read: its order records and frames wait for start() (at most waitMs). */
  expect(tenant: string): void {
    const state = this.stateOf(tenant);
    if (state.head === null) state.starting = true;
  }

  /** The tenant's chain starts after `head` (null: unknown, the first order record starts it). */
  start(tenant: string, head: string | null): void {
    const state = this.tenants.get(tenant);
    if (!state || !state.starting) return;
    state.starting = false;
    if (state.head === null) state.head = head ?? state.links[0]?.prev ?? null;
    this.advance(state);
  }

  /** An order record of the tenant: stretches of its chain to walk. */
  chain(tenant: string, links: readonly OrderLink[]): void {
    if (!links.length) return;
    const state = this.stateOf(tenant);
    // unless its head is being read, the first stretch this node hears of starts its chain
    if (state.head === null && !state.starting) state.head = links[0].prev;
    for (const l of links) {
      if (!l.entries.length || (state.head !== null && compareCursors(l.entries[l.entries.length - 1].cursor, state.head) <= 0)) continue;
      let i = state.links.length;
      while (i > 0 && compareCursors(state.links[i - 1].prev, l.prev) > 0) i--;
      state.links.splice(i, 0, { prev: l.prev, entries: l.entries, at: 0 });
    }
    this.advance(state);
  }

  /** Topics were dropped: cursors waited for may no longer come. */
  recheck(): void {
    for (const state of [...this.waiting]) this.advance(state);
  }

  /** The node no longer receives the tenant: its waiting frames go out, its chain is forgotten. */
  forget(tenant: string): void {
    const state = this.tenants.get(tenant);
    if (!state) return;
    this.release(state);
    this.tenants.delete(tenant);
  }

  /** Routes everything still waiting (the node is closing) and stops the timers. */
  close(): void {
    for (const state of this.tenants.values()) this.release(state);
  }

  private stateOf(tenant: string): TenantState<T> {
    let state = this.tenants.get(tenant);
    if (!state) this.tenants.set(tenant, (state = { head: null, starting: false, held: [], links: [], timer: null }));
    return state;
  }

  /** Walks the chain as far as the frames here allow, routing them on the way. */
  private advance(state: TenantState<T>): void {
    const before = state.head;
    walk: while (state.head !== null) {
      this.routeCovered(state);
      const link = state.links[0];
      if (!link || compareCursors(link.prev, state.head) > 0) break;
      for (; link.at < link.entries.length; link.at++) {
        const e = link.entries[link.at];
        if (compareCursors(e.cursor, state.head) <= 0) continue;
        if (this.options.holds(e.hash) && !this.isHeld(state, e.cursor)) break walk;
        state.head = e.cursor;
        this.routeCovered(state);
      }
      state.links.shift();
    }
    this.settle(state, before !== state.head);
  }

  /** Routes the held frames at or below the head, in order. */
  private routeCovered(state: TenantState<T>): void {
    const held = state.held;
    let n = 0;
    while (n < held.length && compareCursors(held[n].seq, state.head!) <= 0) this.route(held[n++].item);
    if (n) held.splice(0, n);
  }

  private isHeld(state: TenantState<T>, seq: string): boolean {
    for (const h of state.held) {
      const c = compareCursors(h.seq, seq);
      if (c === 0) return true;
      if (c > 0) return false;
    }
    return false;
  }

  /** Waiting: a timer runs from the last progress; nothing waiting: no timer. */
  private settle(state: TenantState<T>, progressed: boolean): void {
    const waiting = state.held.length > 0 || state.links.length > 0;
    if (state.timer && (progressed || !waiting)) {
      clearTimeout(state.timer);
      state.timer = null;
    }
    if (!waiting) {
      this.waiting.delete(state);
      return;
    }
    this.waiting.add(state);
    state.timer ??= setTimeout(() => this.giveUp(state), this.options.waitMs).unref();
  }

  /** What is awaited is not coming (soon): route what waits, in cursor order, and walk on past what is known. */
  private giveUp(state: TenantState<T>): void {
    const frames = state.held.length;
    this.release(state);
    if (frames) this.options.onGiveUp?.(frames);
  }

  private release(state: TenantState<T>): void {
    if (state.timer) clearTimeout(state.timer);
    state.timer = null;
    state.starting = false;
    this.waiting.delete(state);
    let head = state.head;
    for (const l of state.links) {
      const last = l.entries[l.entries.length - 1].cursor;
      if (head === null || compareCursors(last, head) > 0) head = last;
    }
    for (const h of state.held.splice(0)) {
      if (head === null || compareCursors(h.seq, head) > 0) head = h.seq;
      this.route(h.item);
    }
    state.links = [];
    state.head = head;
  }
}
