/** Process entry: the ingest worker. */
import { workerConnection } from '../queues/connection.js';
import { loadConfigOrExit } from '../src/config.js';
import { openOrm } from '../src/db/orm.js';
import { Lifecycle } from '../src/lifecycle.js';
import { createLogger } from '../src/logger.js';
import { startMetricsReporting } from '../src/metrics-report.js';
import { createIngestWorker } from './ingest-worker.js';

const config = loadConfigOrExit();
const logger = createLogger(config, 'ingest');
const life = new Lifecycle(logger);
life.handleSignals(config.SHUTDOWN_TIMEOUT_MS);

const orm = await openOrm({ url: config.DATABASE_URL, poolMax: config.DATABASE_POOL_MAX, logger });
life.add('postgres', () => orm.close());
const connection = workerConnection(config.REDIS_URL);
life.add('redis', () => connection.quit());
const publisher = workerConnection(config.REDIS_URL);
life.add('redis publisher', () => publisher.quit());

const worker = createIngestWorker(
  { orm, redis: publisher, prefix: config.QUEUE_PREFIX, logger, connection },
  { concurrency: config.INGEST_CONCURRENCY, batchMax: config.INGEST_BATCH_MAX, batchWaitMs: config.INGEST_BATCH_WAIT_MS },
);
life.add('ingest worker', () => worker.close());
startMetricsReporting(config, logger, life, 'ingest');
logger.info({ concurrency: config.INGEST_CONCURRENCY }, 'ingest worker started');
