import { layoutOf } from '../../queues/shards.js';
import { producerConnection, whenReady } from '../../queues/connection.js';
import { createProducers } from '../../queues/producers.js';
import type { ApiDeps } from './env.js';
import { createVerifier } from '../auth/jwt.js';
import type { Config } from '../config.js';
import { openOrm } from '../db/orm.js';
import type { Lifecycle } from '../lifecycle.js';
import type { Logger } from '../logger.js';

const readUrls = (config: Config) =>
  config.DATABASE_READ_URLS.split(',')
    .map((s) => s.trim())
    .filter(Boolean);

/** Builds the api's dependencies and registers each releaser. */
export async function buildApiDeps(config: Config, logger: Logger, life: Lifecycle): Promise<ApiDeps> {
  const orm = await openOrm({ url: config.DATABASE_URL, readUrls: readUrls(config), poolMax: config.DATABASE_POOL_MAX, logger });
  life.add('postgres', () => orm.close());
  const redis = producerConnection(config.REDIS_URL);
  redis.on('error', (err) => logger.warn({ err: err.message }, 'redis connection error'));
  life.add('redis', () => redis.quit());
  const rateLimitRedis = producerConnection(config.REDIS_URL, { enableAutoPipelining: true, connectionName: 'herald-api-ratelimit' });
  rateLimitRedis.on('error', () => undefined); // the main connection logs outages
  life.add('redis-ratelimit', () => rateLimitRedis.quit());
  // The api listens once this returns: wait (a little) for Redis, or the first requests would find the rate
  // limiter's connection still opening and go through unlimited. An api started while Redis is down still
  // starts, answering sends 503 until Redis is back.
  await Promise.all([whenReady(redis), whenReady(rateLimitRedis)]).catch((err) =>
    logger.warn({ err: (err as Error).message }, 'Redis is not answering yet: starting anyway (sends answer 503 until it does)'),
  );
  const queues = createProducers(redis, config.QUEUE_PREFIX, redis, layoutOf(config));
  life.add('queues', () => queues.close());
  return {
    config,
    logger,
    orm,
    redis,
    rateLimitRedis,
    queues,
    verifier: createVerifier({
      secret: config.JWT_SECRET,
      jwksUrl: config.JWT_JWKS_URL,
      userMaxTtlS: config.JWT_USER_MAX_TTL_S,
      serviceMaxTtlS: config.JWT_SERVICE_MAX_TTL_S,
    }),
  };
}
