/** Process entry: the ingest worker. */
import { consumedShards, shardNames, shardProblems } from '../queues/shards.js';
import { startMetricsReporting } from '../src/metrics/report.js';
import { createIngestWorker } from './ingest-worker.js';
import { openWorkerProcess } from './process.js';

const { config, logger, life, orm, connection, redis, queues } = await openWorkerProcess('ingest', (c) => shardProblems(c, 'ingest'));

const shards = consumedShards(shardNames(queues.layout, 'ingest'), config.WORKER_SHARDS);
// the process's concurrency is shared by the shards it consumes: one Worker (and blocking connection) per shard
const concurrency = Math.max(1, Math.ceil(config.INGEST_CONCURRENCY / shards.length));
for (const queue of shards) {
  const worker = createIngestWorker(
    { orm, redis, prefix: config.QUEUE_PREFIX, logger, queues, connection },
    { concurrency, batchMax: config.INGEST_BATCH_MAX, batchWaitMs: config.INGEST_BATCH_WAIT_MS, queue },
  );
  life.add(`ingest worker ${queue}`, () => worker.close());
}
startMetricsReporting(config, logger, life, 'ingest');
logger.info({ concurrency: config.INGEST_CONCURRENCY, shards }, 'ingest worker started');
