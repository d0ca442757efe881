/** Process entry: the ingest worker. */
import { consumedShards, shardNames, shardProblems } from '../queues/shards.js';
import { expireReservations } from '../src/domain/sending/cursors.js';
import { startMetricsReporting } from '../src/metrics/report.js';
import { createDigestWorker } from './digest-worker.js';
import { createIngestWorker } from './ingest-worker.js';
import { openWorkerProcess } from './process.js';

const { config, logger, life, orm, connection, redis, queues } = await openWorkerProcess('ingest', (c) => shardProblems(c, 'ingest'));

const shards = consumedShards(shardNames(queues.layout, 'ingest'), config.WORKER_SHARDS);
// the process's concurrency is shared by the shards it consumes: one Worker (and blocking connection) per shard
const concurrency = Math.max(1, Math.ceil(config.INGEST_CONCURRENCY / shards.length));
for (const queue of shards) {
  const worker = createIngestWorker(
    { orm, redis, prefix: config.QUEUE_PREFIX, logger, queues, orderWaitMs: config.WS_REORDER_WAIT_MS, connection },
    { concurrency, batchMax: config.INGEST_BATCH_MAX, batchWaitMs: config.INGEST_BATCH_WAIT_MS, queue },
  );
  life.add(`ingest worker ${queue}`, () => worker.close());
}
// digest windows: the ingest process planned their deliveries, and assembling one is a few statements and one enqueue
const digests = createDigestWorker(
  { orm, queues, logger, prefix: config.QUEUE_PREFIX, connection },
  { concurrency: config.DIGEST_CONCURRENCY, lockDurationMs: config.DIGEST_LOCK_MS, stalledIntervalMs: config.DIGEST_STALLED_INTERVAL_MS },
);
life.add('digest worker', () => digests.close());
// a batch whose worker died holds its tenant's readers back until its cursor reservation is taken back
const sweep = setInterval(() => {
  expireReservations(orm.em.fork()).then(
    (n) => n && logger.warn({ reservations: n }, 'took back cursor reservations of batches that never committed'),
    (err) => logger.debug({ err: (err as Error).message }, 'reservation sweep failed'),
  );
}, 10_000);
sweep.unref();
life.add('reservation sweep', () => clearInterval(sweep));
startMetricsReporting(config, logger, life, 'ingest');
logger.info({ concurrency: config.INGEST_CONCURRENCY, shards }, 'ingest worker started');
