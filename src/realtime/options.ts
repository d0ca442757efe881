import { randomBytes } from 'node:crypto';
import type { BusMode } from '../feed/bus.js';

/** A realtime node's options; src/realtime/run.ts fills them from the config. */
export interface RealtimeOptions {
  /** port to listen on; 0 picks a free one */
  port: number;
  /** QUEUE_PREFIX: names the Redis channels and keys */
  prefix: string;
  /** sockets per user across the cluster; the oldest is closed with 4001 (default 3) */
  maxConnectionsPerUser?: number;
  /** upgrades per minute per token subject, across the cluster; past it 429 (default 30, 0 = no limit) */
  upgradeUserPerMin?: number;
  /** upgrades per minute per client address (IPv6: per /64), across the cluster; past it 429 (default 3000, 0 = no limit) */
  upgradeIpPerMin?: number;
  /** bytes a socket may have waiting to be sent before it is closed with 1013 (default 1 MiB) */
  maxBackpressure?: number;
  /** ping a socket quiet for this long, ms (default 54000) */
  pingIntervalMs?: number;
  /** close a socket silent for this long, ms (default 60000) */
  idleTimeoutMs?: number;
  /** report the connection count this often, ms (default 5000) */
  presenceIntervalMs?: number;
  /** notifications per replay page (default 500) */
  replayPage?: number;
  /**
   * after a replay, live frames are checked against its last cursor for this
   * long, because a notification's frame is published just after its commit
   * and can arrive after the replay already sent it, ms (default 5000)
   */
  seamGraceMs?: number;
  /**
   * longest a notification frame waits for the tenant's frame before it,
   * published by another ingest process a moment later (src/realtime/order.ts), ms (default 1000)
   */
  reorderWaitMs?: number;
  /** this node's name in Redis (default random) */
  nodeId?: string;
  /** on close, how long sockets get to answer the 1001 close frame before they are cut, ms (default 2000) */
  closeGraceMs?: number;
  /**
   * the feed's transport (src/feed/bus.ts): 'plain' SUBSCRIBE or 'sharded'
   * SSUBSCRIBE on a Redis Cluster (default: 'sharded' when the subscriber
   * connection is a Cluster)
   */
  feedMode?: BusMode;
}

/** Every option set: the defaults filled in and the node named (the feed's mode may stay to the connection). */
export type NodeSettings = Required<Omit<RealtimeOptions, 'feedMode'>> & Pick<RealtimeOptions, 'feedMode'>;

export function withDefaults(options: RealtimeOptions): NodeSettings {
  const opts = {
    maxConnectionsPerUser: 3,
    upgradeUserPerMin: 30,
    upgradeIpPerMin: 3000,
    maxBackpressure: 1024 * 1024,
    pingIntervalMs: 54_000,
    idleTimeoutMs: 60_000,
    presenceIntervalMs: 5000,
    replayPage: 500,
    seamGraceMs: 5000,
    reorderWaitMs: 1000,
    closeGraceMs: 2000,
    ...options,
  };
  return { ...opts, nodeId: opts.nodeId ?? `rt-${randomBytes(5).toString('hex')}` };
}
