import type { Redis } from 'ioredis';
import type { Verifier } from '../auth/jwt.js';
import type { Orm } from '../db/orm.js';
import { busModeOf, createFeedSubscriber } from '../feed/bus.js';
import { controlChannel } from '../feed/channels.js';
import type { Logger } from '../logger.js';
import { AckRecorder } from './acks.js';
import { createAdmission } from './admission.js';
import type { Conn } from './conn.js';
import { createFanout, type FeedStats } from './fanout.js';
import { sendProblem } from './http.js';
import { addHealthRoutes, serve } from './lifecycle.js';
import { withDefaults, type RealtimeOptions } from './options.js';
import { createProtocol, WS_PATHS } from './protocol.js';
import { Sockets } from './sockets.js';
import { Subscriptions } from './subscriptions.js';
import * as uws from './uws.js';

export type { RealtimeOptions } from './options.js';

/**
 * A realtime node: holds users' WebSockets and fans out what the ingest
 * worker and the api publish on Redis. This file wires its parts:
 *   admission.ts  upgrade, limits, token; a socket's open and close (opening.ts: its welcome)
 *   fanout.ts     the Redis feed to the sockets, in order, slow consumers, feed loss
 *   subscriptions.ts  the feed channels the sockets need, subscribed in batches
 *   protocol.ts   the socket's messages, heartbeats, close codes
 *   lifecycle.ts  presence, /health and /ready, start and shutdown
 *   sockets.ts    the open sockets they share
 */

export interface RealtimeDeps {
  logger: Logger;
  orm: Orm;
  /** commands: presence, connection limits, readiness */
  redis: Redis;
  /** a dedicated connection in subscriber mode (workerConnection: it waits for Redis forever) */
  subscriber: Redis;
  verifier: Verifier;
}

export interface RealtimeNode {
  nodeId: string;
  port: number;
  /** open sockets on this node */
  connections(): number;
  /** what this node's feed subscriber received, and the feed channels and commands it took */
  feed(): FeedStats & { channels: number; subscribeCommands: number; unsubscribeCommands: number };
  /** stops accepting, closes every socket with 1001, leaves the cluster */
  close(): Promise<void>;
}

export async function startRealtimeNode(deps: RealtimeDeps, options: RealtimeOptions): Promise<RealtimeNode> {
  uws.assertNative();
  const opts = withDefaults(options);
  const { nodeId } = opts;
  const logger = deps.logger.child({ node: nodeId });
  const control = controlChannel(opts.prefix);
  let closing = false;
  const isClosing = () => closing;

  const acks = new AckRecorder({ orm: deps.orm, logger });
  const protocol = createProtocol({ acks, maxBackpressure: opts.maxBackpressure, pingIntervalMs: opts.pingIntervalMs, idleTimeoutMs: opts.idleTimeoutMs });
  const feed = createFeedSubscriber(deps.subscriber, opts.feedMode ?? busModeOf(deps.subscriber));
  const subscriptions = new Subscriptions({ feed, prefix: opts.prefix, logger });
  const sockets = new Sockets(protocol.sweeper, subscriptions);
  const admission = createAdmission({ ...deps, ...opts, logger, sockets, control, isClosing });
  const app = uws.createApp();
  const fanout = createFanout({
    app,
    orm: deps.orm,
    subscriber: deps.subscriber,
    feed,
    subscriptions,
    prefix: opts.prefix,
    control,
    onControl: admission.onControl,
    sockets,
    logger,
    maxBackpressure: opts.maxBackpressure,
    reorderWaitMs: opts.reorderWaitMs,
  });

  const behavior: uws.WebSocketBehavior<Conn> = { ...protocol.behavior, ...admission.behavior };
  for (const path of WS_PATHS) {
    app.ws(path, behavior);
    app.get(path, (res) => sendProblem(res, 426, 'Upgrade Required', 'This path speaks WebSocket: connect with ws:// and ?token=<JWT>.'));
  }
  addHealthRoutes(app, { ...deps, nodeId, sockets, isClosing });
  app.any('/*', (res) => sendProblem(res, 404, 'Not Found', 'Not found.'));

  const serving = await serve({ ...deps, ...opts, app, logger, sockets, sweeper: protocol.sweeper, fanout, admission, acks });
  return {
    nodeId,
    port: serving.port,
    connections: () => sockets.size,
    feed: () => ({ ...fanout.stats, channels: subscriptions.size, subscribeCommands: subscriptions.sent.subscribe, unsubscribeCommands: subscriptions.sent.unsubscribe }),
    async close() {
      if (closing) return;
      closing = true;
      await serving.close();
    },
  };
}
