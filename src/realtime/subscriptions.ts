import type { FeedSubscriber } from '../feed/bus.js';
import { orderChannel, topicChannel } from '../feed/channels.js';
import type { Logger } from '../logger.js';
import { feedSubscribeCommands } from '../metrics/metrics.js';
import type { Conn } from './conn.js';

/**
 * The feed channels this node listens to: each topic its sockets hold, and
 * on a Redis Cluster the order channel of each tenant they belong to
 * (src/feed/channels.ts). A
 * channel is subscribed with its first socket and unsubscribed with its
 * last. Changes are gathered and sent a turn of the event loop at a time,
 * one SUBSCRIBE and one UNSUBSCRIBE for all of them; while one is on its
 * way, the next changes wait and go together (a reconnect storm's thousands
 * of sockets cost a few commands). A channel dropped and taken again before
 * its changes are sent costs nothing.
 *
 * A socket's catch-up (its head read, its replay) must not start before
 * Redis has confirmed its channels: a notification published in between
 * would be in neither. whenSubscribed() says when.
 */
export interface SubscriptionsOptions {
  feed: FeedSubscriber;
  prefix: string;
  logger: Logger;
  /** channels per command at most (default 5000: one command stays a few ms of Redis's time) */
  maxPerCommand?: number;
}

export interface FeedChannelEvents {
  /** these channels are about to be subscribed (their messages may come before the confirmation is seen) */
  subscribing(channels: string[]): void;
  /** Redis confirmed these channels */
  confirmed(channels: string[]): void;
  /** these channels are unsubscribed (or about to be): their messages no longer reach this node */
  dropped(channels: string[]): void;
}

export class Subscriptions {
  /** sockets holding each channel */
  private readonly holders = new Map<string, number>();
  /** channels Redis is asked to deliver, each with the promise of the command that asked */
  private readonly live = new Map<string, Promise<void>>();
  /** channels whose holders went from or to zero since the last send */
  private readonly dirty = new Set<string>();
  /** the next send, once scheduled */
  private next: Promise<void> | null = null;
  /** the commands of the last send */
  private inFlight: Promise<unknown> = Promise.resolve();
  private readonly maxPerCommand: number;
  private watchers: FeedChannelEvents[] = [];
  private closed = false;
  /** commands sent by this node (its own count: several nodes can share a process's metrics) */
  readonly sent = { subscribe: 0, unsubscribe: 0 };

  constructor(private readonly options: SubscriptionsOptions) {
    this.maxPerCommand = options.maxPerCommand ?? 5000;
  }

  /**
   * The feed channels of a socket: its topics, and on a Redis Cluster its
   * tenant's order channel (on one Redis, frames come in cursor order:
   * src/feed/in-order.ts).
   */
  channelsOf(conn: Conn): string[] {
    const out = conn.topics.map((t) => topicChannel(this.options.prefix, t));
    if (this.options.feed.mode === 'sharded') out.push(orderChannel(this.options.prefix, conn.who.tenant));
    return out;
  }

  watch(events: FeedChannelEvents): void {
    this.watchers.push(events);
  }

  /** Channels this node is subscribed to (or asking for). */
  get size(): number {
    return this.live.size;
  }

  has(channel: string): boolean {
    return this.live.has(channel);
  }

  hold(conn: Conn): void {
    for (const c of this.channelsOf(conn)) {
      const n = this.holders.get(c) ?? 0;
      this.holders.set(c, n + 1);
      if (n === 0) this.dirty.add(c);
    }
    this.schedule();
  }

  release(conn: Conn): void {
    for (const c of this.channelsOf(conn)) {
      const n = this.holders.get(c);
      if (n === undefined) continue;
      if (n > 1) this.holders.set(c, n - 1);
      else {
        this.holders.delete(c);
        this.dirty.add(c);
      }
    }
    this.schedule();
  }

  /** Resolves once Redis has confirmed every channel of these sockets (rejects when a SUBSCRIBE failed). */
  async whenSubscribed(conns: readonly Conn[]): Promise<void> {
    const channels = conns.flatMap((conn) => (conn.state === 'closed' ? [] : this.channelsOf(conn)));
    // channels not sent yet go with the next send (sockets whose channels were all live already skip it)
    if (this.next && channels.some((c) => this.dirty.has(c))) await this.next;
    const waits = new Set<Promise<void>>();
    for (const c of channels) {
      const p = this.live.get(c);
      if (p) waits.add(p);
    }
    await Promise.all(waits);
  }

  /**
   * Every channel held, subscribed again (the subscriber connection came
   * back: Redis forgot them); resolves once confirmed.
   */
  async resubscribeAll(): Promise<void> {
    if (this.next) await this.next;
    const all = [...this.live.keys()];
    const p = this.subscribe(all);
    for (const c of all) this.live.set(c, p);
    await p;
  }

  /** Unsubscribes from everything (the node is closing). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.next) await this.next;
    const all = [...this.live.keys()];
    this.live.clear();
    this.holders.clear();
    await this.unsubscribe(all);
  }

  private schedule(): void {
    if (this.next || this.closed || !this.dirty.size) return;
    this.next = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.inFlight)
      .then(() => {
        this.next = null;
        this.send();
      });
  }

  /** One UNSUBSCRIBE for the channels let go, one SUBSCRIBE for the ones taken (each split past maxPerCommand). */
  private send(): void {
    const add: string[] = [];
    const drop: string[] = [];
    for (const c of this.dirty) {
      const held = this.holders.has(c);
      if (held && !this.live.has(c)) add.push(c);
      else if (!held && this.live.has(c)) drop.push(c);
    }
    this.dirty.clear();
    const commands: Array<Promise<unknown>> = [];
    if (drop.length) {
      for (const c of drop) this.live.delete(c);
      for (const w of this.watchers) w.dropped(drop);
      commands.push(this.unsubscribe(drop));
    }
    if (add.length) {
      for (const w of this.watchers) w.subscribing(add);
      const p = this.subscribe(add);
      for (const c of add) this.live.set(c, p);
      commands.push(p);
    }
    this.inFlight = Promise.allSettled(commands);
  }

  private subscribe(channels: string[]): Promise<void> {
    const p = Promise.all(this.chunks(channels).map((part) => this.options.feed.subscribe(part))).then(() => {
      const still = channels.filter((c) => this.live.get(c) === p);
      if (still.length) for (const w of this.watchers) w.confirmed(still);
    });
    this.sent.subscribe += Math.ceil(channels.length / this.maxPerCommand);
    feedSubscribeCommands.inc({ command: 'subscribe' }, Math.ceil(channels.length / this.maxPerCommand));
    p.catch((err) => {
      this.options.logger.warn({ err: (err as Error).message, channels: channels.length }, 'feed subscribe failed: retrying in 1 s');
      // asked again later, unless let go meanwhile
      for (const c of channels) {
        if (this.live.get(c) !== p) continue;
        this.live.delete(c);
        this.dirty.add(c);
      }
      setTimeout(() => this.schedule(), 1000).unref();
    });
    return p;
  }

  private unsubscribe(channels: string[]): Promise<void> {
    if (!channels.length) return Promise.resolve();
    this.sent.unsubscribe += Math.ceil(channels.length / this.maxPerCommand);
    feedSubscribeCommands.inc({ command: 'unsubscribe' }, Math.ceil(channels.length / this.maxPerCommand));
    return Promise.all(this.chunks(channels).map((part) => this.options.feed.unsubscribe(part))).then(
      () => undefined,
      (err) => this.options.logger.warn({ err: (err as Error).message, channels: channels.length }, 'feed unsubscribe failed'),
    );
  }

  private chunks(channels: string[]): string[][] {
    const out: string[][] = [];
    for (let i = 0; i < channels.length; i += this.maxPerCommand) out.push(channels.slice(i, i + this.maxPerCommand));
    return out;
  }
}
