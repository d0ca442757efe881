import type { Redis } from 'ioredis';
import type { Orm } from '../db/orm.js';
import type { FeedSubscriber } from '../feed/bus.js';
import { orderChannel, topicChannel } from '../feed/channels.js';
import { TOPIC_SEPARATOR } from '../feed/topics.js';
import { decodeOrder, forEachRecord, splitTopicLine, topicHash } from '../feed/wire.js';
import type { Logger } from '../logger.js';
import { feedBytesReceived, feedMessagesReceived, framesSentTally } from '../metrics/metrics.js';
import { CursorOrder } from './order.js';
import { CLOSE } from './protocol.js';
import type { Sockets } from './sockets.js';
import type { Subscriptions } from './subscriptions.js';
import { aboveSeam } from './sync.js';
import { tenantHeads } from './tenant-heads.js';
import type { TemplatedApp } from './uws.js';

/**
 * Fan-out: a node subscribes to the topic channels its sockets hold (and on
 * a Redis Cluster the order channels of their tenants: subscriptions.ts), and hands each record
 * of a message (src/feed/wire.ts) to its own sockets, so a node receives its
 * own users' traffic and adding nodes adds fan-out capacity. A record is one
 * uWS publish to its topic (no JavaScript per live socket), plus the buffers
 * of the topic's sockets still catching up. Notification records go out in
 * each tenant's cursor order: on one Redis as they come (publishers send
 * them in that order, src/feed/in-order.ts), on a Cluster restored from the
 * order records (order.ts). After a publish, the sockets of the
 * topics it touched that have more than maxBackpressure waiting are closed
 * with 1013. Frames published while the subscriber was disconnected never
 * reach live sockets: once it is back and every channel is subscribed again,
 * every socket is closed with 1012 so its client reconnects with ?since= and
 * catches up.
 */

/** A record of the Redis feed: its topic line, its cursor ('' for events without one), the frame's bytes. */
interface FeedRecord {
  line: string;
  cursor: string;
  frame: Buffer;
}

export interface FanoutDeps {
  app: TemplatedApp;
  /** reads where each tenant's cursor chain starts (tenant-heads.ts) */
  orm: Orm;
  /** the node's dedicated subscriber connection (the control channel is subscribed on it) */
  subscriber: Redis;
  /** the same connection as the feed's transport (src/feed/bus.ts) */
  feed: FeedSubscriber;
  subscriptions: Subscriptions;
  prefix: string;
  /** the control channel: heard on the same connection, its messages go to onControl */
  control: string;
  onControl(text: string): void;
  sockets: Sockets;
  logger: Logger;
  /** bytes a socket may have waiting after a publish before it is closed with 1013 */
  maxBackpressure: number;
  /** on a Redis Cluster: longest a notification frame waits for the tenant's frames before it, ms */
  reorderWaitMs: number;
}

/** What a node's feed subscriber received (this node's own count). */
export interface FeedStats {
  messages: number;
  bytes: number;
  /** of which order records */
  orderMessages: number;
  orderBytes: number;
}

export interface Fanout {
  /** Subscribes to the control channel and listens to the feed. */
  start(): Promise<void>;
  /** Stops listening and routes the frames still held for order; resolves once unsubscribed. */
  stop(): Promise<unknown>;
  stats: FeedStats;
}

export function createFanout(deps: FanoutDeps): Fanout {
  const { app, orm, subscriber, feed, subscriptions, prefix, control, onControl, sockets, logger, maxBackpressure, reorderWaitMs } = deps;
  const index = sockets.byTopic;
  const syncing = sockets.syncing;
  const topicPrefix = topicChannel(prefix, '');
  const orderPrefix = orderChannel(prefix, '');
  const stats: FeedStats = { messages: 0, bytes: 0, orderMessages: 0, orderBytes: 0 };
  let stopped = false;
  let feedInterrupted = false;

  // --- slow consumers: after a publish, check the sockets of the topics it touched
  const touched = new Set<string>();
  let checkScheduled = false;
  const checkTouched = () => {
    checkScheduled = false;
    for (const topic of touched) {
      const set = index.get(topic);
      if (!set) continue;
      for (const conn of set) {
        if (conn.ws && conn.ws.getBufferedAmount() > maxBackpressure) conn.ws.end(CLOSE.slowConsumer, 'slow consumer');
      }
    }
    touched.clear();
  };

  // --- each record of a Redis message → one uWS publish (and the buffers of syncing sockets)
  const route = ({ line, cursor, frame }: FeedRecord) => {
    const split = line.indexOf('\t') < 0 ? null : splitTopicLine(line);
    const topic = split ? split.topic : line;
    const except = split ? split.except : null;
    // frames are counted in a plain number (framesSentTally): a publish reaches every live subscriber of the topic
    let sent = 0;
    if (!except) {
      sent = app.numSubscribers(topic);
      app.publish(topic, frame);
    } else
      for (const conn of index.get(topic) ?? [])
        if (conn.ws && conn.state === 'live' && !except.has(conn.who.sub)) {
          conn.ws.send(frame, false);
          sent++;
        }
    const waiting = syncing.get(topic);
    if (waiting) {
      for (const conn of waiting) {
        if (except?.has(conn.who.sub)) continue;
        if (conn.state === 'sync') conn.buffered?.push({ cursor, frame });
        else if (conn.ws && conn.state === 'seam' && aboveSeam(cursor, conn.seam)) {
          conn.ws.send(frame, false);
          sent++;
        }
      }
    }
    framesSentTally.feed += sent;
    touched.add(topic);
    if (!checkScheduled) {
      checkScheduled = true;
      setImmediate(checkTouched);
    }
  };

  // --- the topics whose records this node receives, by the hash order records name them with
  const heldHashes = new Map<string, number>();
  const hashOf = new Map<string, string>();
  const tenantsOf = (channels: string[]) => channels.filter((c) => c.startsWith(orderPrefix)).map((c) => c.slice(orderPrefix.length));
  subscriptions.watch({
    subscribing(channels) {
      // a tenant's order records wait for its head (read once Redis confirms), where its chain starts here
      for (const t of tenantsOf(channels)) order.expect(t);
    },
    confirmed(channels) {
      const tenants = tenantsOf(channels);
      if (tenants.length) {
        tenantHeads(orm, tenants).then(
          (heads) => {
            for (const t of tenants) order.start(t, heads.get(t) ?? null);
          },
          (err) => {
            logger.warn({ err: (err as Error).message, tenants: tenants.length }, 'could not read tenant heads: their chains start at the first order record');
            for (const t of tenants) order.start(t, null);
          },
        );
      }
      for (const c of channels) {
        if (!c.startsWith(topicPrefix) || hashOf.has(c)) continue;
        const h = topicHash(c.slice(topicPrefix.length));
        hashOf.set(c, h);
        heldHashes.set(h, (heldHashes.get(h) ?? 0) + 1);
      }
    },
    dropped(channels) {
      let topics = false;
      for (const c of channels) {
        if (c.startsWith(orderPrefix)) {
          order.forget(c.slice(orderPrefix.length));
          continue;
        }
        const h = hashOf.get(c);
        if (h === undefined) continue;
        topics = true;
        hashOf.delete(c);
        const n = heldHashes.get(h)!;
        if (n > 1) heldHashes.set(h, n - 1);
        else heldHashes.delete(h);
      }
      // a cursor waited for may be of a topic just let go
      if (topics) order.recheck();
    },
  });
  const order = new CursorOrder<FeedRecord>(route, {
    waitMs: reorderWaitMs,
    holds: (hash) => heldHashes.has(hash),
    onGiveUp: (frames) => logger.warn({ frames, waitedMs: reorderWaitMs }, 'a notification frame never came: sent the ones after it'),
  });

  const onTopicMessage = (msg: Buffer) =>
    forEachRecord(msg, (line, cursorStart, cursorEnd, frame) => {
      if (cursorStart === cursorEnd) return route({ line, cursor: '', frame });
      const cursorLine = msg.toString('latin1', cursorStart, cursorEnd);
      const space = cursorLine.indexOf(' ');
      // no prev: not part of a chain told on the order channel (a retried job's republish), out at once;
      // on one Redis, publishers send in cursor order (src/feed/in-order.ts): a record with prev is from a
      // publisher of the previous release, which no order record will follow here
      if (space < 0) return route({ line, cursor: cursorLine, frame });
      if (feed.mode === 'plain') return route({ line, cursor: cursorLine.slice(0, space), frame });
      const cursor = cursorLine.slice(0, space);
      order.offer(line.slice(0, line.indexOf(TOPIC_SEPARATOR)), cursor, { line, cursor, frame });
    });
  const onMessage = (channel: Buffer, msg: Buffer) => {
    const name = channel.toString();
    if (name === control) {
      feedMessagesReceived.inc({ kind: 'control' });
      feedBytesReceived.inc({ kind: 'control' }, msg.length);
      return onControl(msg.toString());
    }
    stats.messages++;
    stats.bytes += msg.length;
    if (name.startsWith(orderPrefix)) {
      stats.orderMessages++;
      stats.orderBytes += msg.length;
      feedMessagesReceived.inc({ kind: 'order' });
      feedBytesReceived.inc({ kind: 'order' }, msg.length);
      return order.chain(name.slice(orderPrefix.length), decodeOrder(msg.toString('utf8')));
    }
    if (!name.startsWith(topicPrefix)) return;
    feedMessagesReceived.inc({ kind: 'topic' });
    feedBytesReceived.inc({ kind: 'topic' }, msg.length);
    onTopicMessage(msg);
  };

  // --- feed lost, then back: frames published meanwhile are lost for live sockets, so they reconnect and catch up
  const onFeedReady = () => {
    if (!feedInterrupted || stopped) return;
    feedInterrupted = false;
    // once every channel is subscribed again (idempotent), so a client reconnecting now buffers every new frame
    Promise.all([subscriber.subscribe(control), subscriptions.resubscribeAll()])
      .catch((err) => logger.warn({ err: err.message }, 'resubscribe failed'))
      .finally(() => {
        logger.warn({ sockets: sockets.size, channels: subscriptions.size }, 'Redis feed resumed: closing sockets so clients catch up with ?since=');
        for (const conn of sockets.all()) conn.ws?.end(CLOSE.serviceRestart, 'feed interrupted, reconnect with since');
      });
  };
  const onFeedClose = () => {
    if (!stopped) feedInterrupted = true;
  };

  let unlisten: Array<() => void> = [];
  return {
    stats,
    async start() {
      unlisten = [feed.onMessage(onMessage), feed.onConnection(onFeedClose, onFeedReady)];
      // in sharded mode the control channel still arrives as a plain message
      if (feed.mode === 'sharded') {
        subscriber.on('messageBuffer', onMessage);
        unlisten.push(() => subscriber.off('messageBuffer', onMessage));
      }
      await subscriber.subscribe(control);
    },
    stop() {
      stopped = true;
      for (const off of unlisten) off();
      order.close();
      return Promise.allSettled([subscriber.unsubscribe(control), subscriptions.close()]);
    },
  };
}
