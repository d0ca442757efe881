import { producerConnection, workerConnection } from '../queues/connection.js';
import { createProducers, type Producers } from '../queues/producers.js';
import { loadConfigOrExit, type Config } from '../src/config.js';
import { openOrm, type Orm } from '../src/db/orm.js';
import { Lifecycle } from '../src/lifecycle.js';
import { createLogger, type Logger } from '../src/logger.js';

export interface WorkerProcess {
  config: Config;
  logger: Logger;
  life: Lifecycle;
  orm: Orm;
  /** for BullMQ Workers (blocking commands) */
  connection: ReturnType<typeof workerConnection>;
  /** for everything else the process sends to Redis (publish, producers) */
  redis: ReturnType<typeof workerConnection>;
}

/**
 * What every worker process opens first, each resource with its releaser:
 * validated config, logger, signal handling, PostgreSQL (connects lazily),
 * and two Redis connections. `validate` may name more bad settings; any
 * stops the process like a bad variable does.
 */
export async function openWorkerProcess(role: string, validate: (config: Config) => string[] = () => []): Promise<WorkerProcess> {
  const config = loadConfigOrExit();
  const logger = createLogger(config, role);
  const bad = validate(config);
  if (bad.length) {
    console.error(`Invalid configuration:\n  ${bad.join('\n  ')}`);
    process.exit(78);
  }
  const life = new Lifecycle(logger);
  life.handleSignals(config.SHUTDOWN_TIMEOUT_MS);
  const orm = await openOrm({ url: config.DATABASE_URL, poolMax: config.DATABASE_POOL_MAX, logger });
  life.add('postgres', () => orm.close());
  const connection = workerConnection(config.REDIS_URL);
  life.add('redis worker', () => connection.quit());
  const redis = workerConnection(config.REDIS_URL);
  life.add('redis', () => redis.quit());
  return { config, logger, life, orm, connection, redis };
}

/** The normal send path's ingest producer, on a fail-fast connection like the api's (returned too, for the send path's other commands). */
export function openIngestProducers({ config, logger, life }: WorkerProcess): { producers: Producers; redis: ReturnType<typeof producerConnection> } {
  const redis = producerConnection(config.REDIS_URL);
  redis.on('error', (err) => logger.warn({ err: err.message }, 'redis connection error'));
  life.add('redis ingest producer', () => redis.quit());
  const producers = createProducers(redis, config.QUEUE_PREFIX);
  life.add('ingest queue', () => producers.close());
  return { producers, redis };
}
