import { producerConnection, workerConnection } from '../../queues/connection.js';
import { createVerifier } from '../auth/jwt.js';
import type { Config } from '../config.js';
import { openOrm } from '../db/orm.js';
import type { Lifecycle } from '../lifecycle.js';
import type { Logger } from '../logger.js';
import { startRealtimeNode, type RealtimeNode } from './node.js';

/** Opens what a realtime node needs (PostgreSQL, two Redis connections), registers each releaser, starts the node. */
export async function runRealtimeNode(config: Config, logger: Logger, life: Lifecycle): Promise<RealtimeNode> {
  const orm = await openOrm({ url: config.DATABASE_URL, poolMax: config.DATABASE_POOL_MAX, logger });
  life.add('postgres', () => orm.close());
  // many sockets' commands in one event-loop turn (a connect storm) go out in one write
  const redis = producerConnection(config.REDIS_URL, { enableAutoPipelining: true });
  redis.on('error', (err) => logger.warn({ err: err.message }, 'redis connection error'));
  life.add('redis', () => redis.quit());
  const subscriber = workerConnection(config.REDIS_URL, { connectionName: 'herald-realtime' });
  subscriber.on('error', (err) => logger.warn({ err: err.message }, 'redis subscriber error'));
  life.add('redis subscriber', () => subscriber.quit());

  const node = await startRealtimeNode(
    {
      logger,
      orm,
      redis,
      subscriber,
      // each socket's token is checked once: a cache of verified tokens would only cost memory per socket
      verifier: createVerifier({ secret: config.JWT_SECRET, jwksUrl: config.JWT_JWKS_URL, cacheSize: 1, userMaxTtlS: config.JWT_USER_MAX_TTL_S, serviceMaxTtlS: config.JWT_SERVICE_MAX_TTL_S }),
    },
    {
      port: config.WS_PORT,
      prefix: config.QUEUE_PREFIX,
      maxConnectionsPerUser: config.MAX_CONNECTIONS_PER_USER,
      upgradeUserPerMin: config.WS_UPGRADE_USER_PER_MIN,
      upgradeIpPerMin: config.WS_UPGRADE_IP_PER_MIN,
      maxBackpressure: config.WS_MAX_BACKPRESSURE,
      pingIntervalMs: config.WS_PING_INTERVAL_MS,
      idleTimeoutMs: config.WS_IDLE_TIMEOUT_MS,
      presenceIntervalMs: config.WS_PRESENCE_INTERVAL_MS,
      replayPage: config.WS_REPLAY_PAGE,
      seamGraceMs: config.WS_SEAM_GRACE_MS,
      reorderWaitMs: config.WS_REORDER_WAIT_MS,
    },
  );
  life.add('realtime node', () => node.close());
  return node;
}
