/** Process entry: the scheduler (recurring sends, reconciliation, retention, stuck deliveries). */
import { Queue } from 'bullmq';
import { producerConnection, workerConnection } from '../queues/connection.js';
import { RECURRING_JOB } from '../queues/defaults.js';
import type { RecurringJob } from '../queues/jobs.js';
import { QUEUE } from '../queues/names.js';
import { createProducers } from '../queues/producers.js';
import { createDeliveryQueues } from '../src/channels/queues.js';
import { loadConfigOrExit } from '../src/config.js';
import { openOrm } from '../src/db/orm.js';
import { recipientZones } from '../src/domain/schedule-local.js';
import { Lifecycle } from '../src/lifecycle.js';
import { createLogger } from '../src/logger.js';
import { startMetricsReporting } from '../src/metrics-report.js';
import { createRecurringWorker } from './scheduler-worker.js';
import { checkPatterns, startMaintenance } from './scheduler-tasks.js';

const config = loadConfigOrExit();
const logger = createLogger(config, 'scheduler');
const bad = checkPatterns(config);
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
// the normal send path's producer, fail-fast like the api's, so an occurrence made while Redis is away fails and is retried
const producerRedis = producerConnection(config.REDIS_URL);
producerRedis.on('error', (err) => logger.warn({ err: err.message }, 'redis connection error'));
life.add('redis producer', () => producerRedis.quit());
const producers = createProducers(producerRedis, config.QUEUE_PREFIX);
life.add('ingest queue', () => producers.close());
const recurring = new Queue<RecurringJob>(QUEUE.recurring, { connection: redis, prefix: config.QUEUE_PREFIX, defaultJobOptions: RECURRING_JOB });
life.add('recurring queue', () => recurring.close());
const queues = createDeliveryQueues(redis, config.QUEUE_PREFIX);
life.add('delivery queues', () => queues.close());

const worker = createRecurringWorker(
  { orm, redis: producerRedis, prefix: config.QUEUE_PREFIX, logger, ingest: producers.ingest, recurring, zones: recipientZones(orm), connection },
  { concurrency: config.SCHEDULER_CONCURRENCY },
);
life.add('recurring worker', () => worker.close());
startMetricsReporting(config, logger, life, 'scheduler');

const maintenance = startMaintenance({ orm, logger, redis, prefix: config.QUEUE_PREFIX, ingest: producers.ingest, recurring, queues }, config);
life.add('maintenance timers', () => maintenance.stop());
await maintenance.reconcileNow();
logger.info(
  { concurrency: config.SCHEDULER_CONCURRENCY, reconcile: config.RECONCILE_CRON, retention: config.RETENTION_CRON, retention_days: config.RETENTION_DAYS },
  'scheduler started',
);
