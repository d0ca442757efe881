import { layoutOf } from '../queues/shards.js';
import { producerConnection, workerConnection } from '../queues/connection.js';
import { createProducers, type Producers } from '../queues/producers.js';
import { DEV_DATA_KEYS_WARNING, loadConfigOrExit, type Config } from '../src/config.js';
import { openOrm, type Orm } from '../src/db/orm.js';
import { Lifecycle } from '../src/lifecycle.js';
import { createLogger, type Logger } from '../src/logger.js';
import { setupTracing } from '../src/tracing/setup.js';

export interface WorkerProcess {
  config: Config;
  logger: Logger;
  life: Lifecycle;
  orm: Orm;
  /** for BullMQ Workers (blocking commands) */
  connection: ReturnType<typeof workerConnection>;
  /** for everything else the process sends to Redis (publish, locks, the producers of every queue but ingest) */
  redis: ReturnType<typeof workerConnection>;
  /**
   * Fail-fast like the api's, for the send path: a send made while Redis is
   * away fails and the job that made it is retried. The send path's
   * idempotency keys use it too.
   */
  producerRedis: ReturnType<typeof producerConnection>;
  /** every queue producer of the process: the ingest queue on producerRedis, the others on redis */
  queues: Producers;
}

/**
 * What every worker process opens first, each resource with its releaser:
 * validated config, logger, signal handling, PostgreSQL (connects lazily),
 * three Redis connections and the queue producers. `validate` may name more
 * bad settings; any stops the process like a bad variable does.
 */
export async function openWorkerProcess(role: string, validate: (config: Config) => string[] = () => []): Promise<WorkerProcess> {
  const config = loadConfigOrExit();
  const logger = createLogger(config, role);
  if (config.dataKeysAreDefault) logger.warn(DEV_DATA_KEYS_WARNING);
  const bad = validate(config);
  if (bad.length) {
    console.error(`Invalid configuration:\n  ${bad.join('\n  ')}`);
    process.exit(78);
  }
  const life = new Lifecycle(logger);
  life.handleSignals(config.SHUTDOWN_TIMEOUT_MS);
  // first of the releasers, so the last to close: the spans of jobs finishing during shutdown are sent too
  setupTracing(config, role, life);
  const orm = await openOrm({ url: config.DATABASE_URL, poolMax: config.DATABASE_POOL_MAX, logger });
  life.add('postgres', () => orm.close());
  const connection = workerConnection(config.REDIS_URL);
  life.add('redis worker', () => connection.quit());
  const redis = workerConnection(config.REDIS_URL);
  life.add('redis', () => redis.quit());
  const producerRedis = producerConnection(config.REDIS_URL);
  producerRedis.on('error', (err) => logger.warn({ err: err.message }, 'redis connection error'));
  life.add('redis producer', () => producerRedis.quit());
  const queues = createProducers(redis, config.QUEUE_PREFIX, producerRedis, layoutOf(config));
  life.add('queues', () => queues.close());
  return { config, logger, life, orm, connection, redis, producerRedis, queues };
}
