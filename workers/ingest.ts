/** Process entry: the ingest worker. */
import { startMetricsReporting } from '../src/metrics/report.js';
import { createIngestWorker } from './ingest-worker.js';
import { openWorkerProcess } from './process.js';

const { config, logger, life, orm, connection, redis, queues } = await openWorkerProcess('ingest');

const worker = createIngestWorker(
  { orm, redis, prefix: config.QUEUE_PREFIX, logger, queues, connection },
  { concurrency: config.INGEST_CONCURRENCY, batchMax: config.INGEST_BATCH_MAX, batchWaitMs: config.INGEST_BATCH_WAIT_MS },
);
life.add('ingest worker', () => worker.close());
startMetricsReporting(config, logger, life, 'ingest');
logger.info({ concurrency: config.INGEST_CONCURRENCY }, 'ingest worker started');
