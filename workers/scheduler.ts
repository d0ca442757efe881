/** Process entry: the scheduler (recurring sends, reconciliation, retention, stuck deliveries). */
import { Queue } from 'bullmq';
import { RECURRING_JOB } from '../queues/defaults.js';
import type { RecurringJob } from '../queues/jobs.js';
import { QUEUE } from '../queues/names.js';
import { createDeliveryQueues } from '../src/channels/queues.js';
import { recipientZones } from '../src/domain/scheduling/schedule-local.js';
import { startMetricsReporting } from '../src/metrics/report.js';
import { createRecurringWorker } from './scheduler-worker.js';
import { checkPatterns, startMaintenance } from './scheduler-tasks.js';
import { openIngestProducers, openWorkerProcess } from './process.js';

const proc = await openWorkerProcess('scheduler', checkPatterns);
const { config, logger, life, orm, connection, redis } = proc;
// the normal send path's producer, fail-fast, so an occurrence made while Redis is away fails and is retried
const { producers, redis: producerRedis } = openIngestProducers(proc);
const recurring = new Queue<RecurringJob>(QUEUE.recurring, { connection: redis, prefix: config.QUEUE_PREFIX, defaultJobOptions: RECURRING_JOB });
// the connection's owner logs outages; without a listener BullMQ prints every reconnect error to stderr
recurring.on('error', () => undefined);
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
