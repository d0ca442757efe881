import type { Redis } from 'ioredis';

/**
 * The realtime feed's transport: where publishers put topic and order
 * messages (src/feed/channels.ts) and where a node subscribes to the ones it
 * needs. Two modes:
 *   'plain'   PUBLISH / SUBSCRIBE on one Redis (or the primary Sentinel names);
 *   'sharded' SPUBLISH / SSUBSCRIBE on a Redis Cluster: each channel lives on
 *             the shard of its slot, so the cluster's pub/sub capacity grows
 *             with its shards (plain PUBLISH on a cluster reaches every shard).
 *             The Cluster must be created with `shardedSubscribers: true`
 *             (queues/redis-target.ts): ioredis then keeps one subscriber per
 *             shard and resubscribes a shard's channels after it reconnects.
 * The control channel is not here: it is one broadcast channel, plain in
 * both modes.
 */
export type BusMode = 'plain' | 'sharded';

/** 'sharded' for an ioredis Cluster, 'plain' otherwise: the default when a caller names no mode. */
export const busModeOf = (redis: Redis): BusMode => ((redis as unknown as { isCluster?: boolean }).isCluster ? 'sharded' : 'plain');

/** Channel and message pairs, published in the order given, in one round trip where the mode allows. */
export async function publishAll(redis: Redis, mode: BusMode, messages: ReadonlyArray<readonly [string, string]>): Promise<void> {
  if (!messages.length) return;
  if (mode === 'sharded') {
    // a cluster pipeline holds one slot's keys only: each message goes on its own, sent in order without waiting
    await Promise.all(messages.map(([channel, message]) => redis.spublish(channel, message)));
    return;
  }
  if (messages.length === 1) {
    await redis.publish(messages[0][0], messages[0][1]);
    return;
  }
  const pipe = redis.pipeline();
  for (const [channel, message] of messages) pipe.publish(channel, message);
  const replies = await pipe.exec();
  const failed = replies?.find(([err]) => err);
  if (failed) throw failed[0];
}

/** A node's side of the feed, on its dedicated subscriber connection. */
export interface FeedSubscriber {
  readonly mode: BusMode;
  /** Resolves once Redis has confirmed every channel: from then on their messages reach onMessage. */
  subscribe(channels: readonly string[]): Promise<void>;
  unsubscribe(channels: readonly string[]): Promise<void>;
  /** Every message of a feed channel, as raw buffers. */
  onMessage(handler: (channel: Buffer, message: Buffer) => void): () => void;
  /**
   * `lost`: the subscriber connection dropped (messages published meanwhile are lost);
   * `back`: it is connected again. Returns a function that removes both listeners.
   */
  onConnection(lost: () => void, back: () => void): () => void;
}

/**
 * Sharded subscribes go one slot per command (ioredis refuses a command whose
 * channels hash to several slots); they are sent together, in one turn. A
 * topic message arrives as 'smessageBuffer' there; the control channel's
 * stay 'messageBuffer' (fanout.ts listens to both).
 */
export function createFeedSubscriber(subscriber: Redis, mode: BusMode): FeedSubscriber {
  // the Cluster's own events, which the Redis type does not name
  const cluster = subscriber as unknown as { on(event: string, fn: (...args: any[]) => void): unknown; off(event: string, fn: (...args: any[]) => void): unknown };
  if (mode === 'plain') {
    return {
      mode,
      subscribe: async (channels) => {
        if (channels.length) await subscriber.subscribe(...channels);
      },
      unsubscribe: async (channels) => {
        if (channels.length) await subscriber.unsubscribe(...channels);
      },
      onMessage(handler) {
        subscriber.on('messageBuffer', handler);
        return () => subscriber.off('messageBuffer', handler);
      },
      onConnection(lost, back) {
        subscriber.on('close', lost);
        subscriber.on('ready', back);
        return () => {
          subscriber.off('close', lost);
          subscriber.off('ready', back);
        };
      },
    };
  }
  const bySlot = (channels: readonly string[]) => {
    const groups = new Map<number, string[]>();
    for (const c of channels) {
      const slot = clusterSlot(c);
      const g = groups.get(slot);
      if (g) g.push(c);
      else groups.set(slot, [c]);
    }
    return [...groups.values()];
  };
  let interrupted = false;
  return {
    mode,
    subscribe: async (channels) => {
      await Promise.all(bySlot(channels).map((group) => subscriber.ssubscribe(...group)));
    },
    unsubscribe: async (channels) => {
      await Promise.all(bySlot(channels).map((group) => subscriber.sunsubscribe(...group)));
    },
    onMessage(handler) {
      cluster.on('smessageBuffer', handler);
      return () => cluster.off('smessageBuffer', handler);
    },
    onConnection(lost, back) {
      // a shard's subscriber replaced ('-subscriber'); once every shard's is connected and resubscribed, 'subscribersReady'
      const onLost = () => {
        interrupted = true;
        lost();
      };
      const onBack = () => {
        if (!interrupted) return;
        interrupted = false;
        back();
      };
      cluster.on('-subscriber', onLost);
      cluster.on('subscribersReady', onBack);
      return () => {
        cluster.off('-subscriber', onLost);
        cluster.off('subscribersReady', onBack);
      };
    },
  };
}

/** The Redis Cluster slot of a key or channel (CRC16 of its hash tag or whole name, mod 16384). */
export function clusterSlot(key: string): number {
  let s = key;
  const open = key.indexOf('{');
  if (open >= 0) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) s = key.slice(open + 1, close);
  }
  const bytes = Buffer.from(s);
  let crc = 0;
  for (const b of bytes) {
    crc ^= b << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}
