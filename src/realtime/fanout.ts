import type { Redis } from 'ioredis';
import { TOPIC_SEPARATOR } from '../feed/topics.js';
import { forEachRecord, splitTopicLine } from '../feed/wire.js';
import type { Logger } from '../logger.js';
import { CursorOrder } from './order.js';
import { CLOSE } from './protocol.js';
import type { Sockets } from './sockets.js';
import { aboveSeam } from './sync.js';
import type { TemplatedApp } from './uws.js';

/**
 * Fan-out: every node subscribes to the same realtime channel and hands each
 * record of a message (src/feed/wire.ts) to its own sockets, so any number of
 * nodes can run side by side. A record is one uWS publish to its topic (no
 * JavaScript per live socket), plus the buffers of the topic's sockets still
 * catching up. Notification records go out in each tenant's cursor order
 * (order.ts). After a publish, the sockets of the topics it touched that have
 * more than maxBackpressure waiting are closed with 1013. Frames published
 * while the subscriber was disconnected never reach live sockets: once it is
 * back, every socket is closed with 1012 so its client reconnects with
 * ?since= and catches up.
 */

/** A record of the Redis feed: its topic line, its cursor ('' for events without one), the frame's bytes. */
interface FeedRecord {
  line: string;
  cursor: string;
  frame: Buffer;
}

export interface FanoutDeps {
  app: TemplatedApp;
  /** a dedicated connection in subscriber mode */
  subscriber: Redis;
  /** the realtime channel */
  feed: string;
  /** the control channel: heard on the same connection, its messages go to onControl */
  control: string;
  onControl(text: string): void;
  sockets: Sockets;
  logger: Logger;
  /** bytes a socket may have waiting after a publish before it is closed with 1013 */
  maxBackpressure: number;
  /** longest a notification frame waits for the tenant's frame before it, ms */
  reorderWaitMs: number;
}

export interface Fanout {
  /** Subscribes to the feed and the control channel. */
  start(): Promise<void>;
  /** Stops listening and routes the frames still held for order; resolves once unsubscribed. */
  stop(): Promise<unknown>;
}

export function createFanout(deps: FanoutDeps): Fanout {
  const { app, subscriber, feed, control, onControl, sockets, logger, maxBackpressure, reorderWaitMs } = deps;
  const index = sockets.byTopic;
  const syncing = sockets.syncing;
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
    if (!except) app.publish(topic, frame);
    else for (const conn of index.get(topic) ?? []) if (conn.state === 'live' && !except.has(conn.who.sub)) conn.ws?.send(frame, false);
    const waiting = syncing.get(topic);
    if (waiting) {
      for (const conn of waiting) {
        if (except?.has(conn.who.sub)) continue;
        if (conn.state === 'sync') conn.buffered?.push({ cursor, frame });
        else if (conn.state === 'seam' && aboveSeam(cursor, conn.seam)) conn.ws?.send(frame, false);
      }
    }
    touched.add(topic);
    if (!checkScheduled) {
      checkScheduled = true;
      setImmediate(checkTouched);
    }
  };
  const order = new CursorOrder<FeedRecord>(route, {
    waitMs: reorderWaitMs,
    onGiveUp: (frames) => logger.warn({ frames, waitedMs: reorderWaitMs }, 'a notification frame never came: sent the ones after it'),
  });
  const onMessage = (channel: Buffer, msg: Buffer) => {
    const name = channel.toString();
    if (name === control) return onControl(msg.toString());
    if (name !== feed) return;
    forEachRecord(msg, (line, cursorStart, cursorEnd, frame) => {
      if (cursorStart === cursorEnd) return route({ line, cursor: '', frame });
      const cursorLine = msg.toString('latin1', cursorStart, cursorEnd);
      const space = cursorLine.indexOf(' ');
      if (space < 0) return route({ line, cursor: cursorLine, frame });
      const cursor = cursorLine.slice(0, space);
      order.offer(line.slice(0, line.indexOf(TOPIC_SEPARATOR)), cursor, cursorLine.slice(space + 1), { line, cursor, frame });
    });
  };

  // --- feed lost, then back: frames published meanwhile are lost for live sockets, so they reconnect and catch up
  const onFeedReady = () => {
    if (!feedInterrupted || stopped) return;
    feedInterrupted = false;
    // once the subscription is back (idempotent), so a client reconnecting now buffers every new frame
    subscriber
      .subscribe(feed, control)
      .catch((err) => logger.warn({ err: err.message }, 'resubscribe failed'))
      .finally(() => {
        logger.warn({ sockets: sockets.size }, 'Redis feed resumed: closing sockets so clients catch up with ?since=');
        for (const conn of sockets.all()) conn.ws?.end(CLOSE.serviceRestart, 'feed interrupted, reconnect with since');
      });
  };
  const onFeedClose = () => {
    if (!stopped) feedInterrupted = true;
  };

  return {
    async start() {
      subscriber.on('messageBuffer', onMessage);
      subscriber.on('ready', onFeedReady);
      subscriber.on('close', onFeedClose);
      await subscriber.subscribe(feed, control);
    },
    stop() {
      stopped = true;
      subscriber.off('messageBuffer', onMessage);
      order.close();
      subscriber.off('ready', onFeedReady);
      subscriber.off('close', onFeedClose);
      return subscriber.unsubscribe(feed, control);
    },
  };
}
