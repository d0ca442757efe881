/** Process entry: the scheduler (recurring sends, reconciliation, retention, stuck deliveries). */
import { recipientZones } from '../src/domain/sending/schedule-local.js';
import { startMetricsReporting } from '../src/metrics/report.js';
import { createRecurringWorker } from './scheduler-worker.js';
import { checkPatterns, startMaintenance } from './scheduler-tasks.js';
import { openWorkerProcess } from './process.js';

const { config, logger, life, orm, connection, redis, producerRedis, queues } = await openWorkerProcess('scheduler', checkPatterns);

// occurrences take the normal send path on the fail-fast producer connection: one made while Redis is away fails and is retried
const worker = createRecurringWorker(
  { orm, redis: producerRedis, prefix: config.QUEUE_PREFIX, logger, queues, zones: recipientZones(orm), connection },
  { concurrency: config.SCHEDULER_CONCURRENCY },
);
life.add('recurring worker', () => worker.close());
startMetricsReporting(config, logger, life, 'scheduler');

const maintenance = startMaintenance({ orm, logger, redis, prefix: config.QUEUE_PREFIX, queues }, config);
life.add('maintenance timers', () => maintenance.stop());
await maintenance.partitionsNow();
await maintenance.reconcileNow();
// a month's build can take minutes: the scheduler is up meanwhile
void maintenance.searchIndexNow();
logger.info(
  { concurrency: config.SCHEDULER_CONCURRENCY, reconcile: config.RECONCILE_CRON, retention: config.RETENTION_CRON, retention_days: config.RETENTION_DAYS },
  'scheduler started',
);
