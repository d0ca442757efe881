import { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { INGEST_BACKOFF, JITTER_BACKOFF } from '../queues/defaults.js';
import type { IngestJob, IngestResult } from '../queues/jobs.js';
import { QUEUE } from '../queues/names.js';
import { createIngestProcessor, type IngestDeps, type IngestOptions } from './processors/ingest.js';
import { observeJobs } from '../src/metrics/jobs.js';

/** Builds the ingest Worker (used by the process entry and by tests). */
export function createIngestWorker(
  deps: IngestDeps & { connection: Redis },
  /** `queue`: the ingest shard this worker consumes (default: the first, the whole queue when it has one shard) */
  opts: IngestOptions & { concurrency?: number; autorun?: boolean; queue?: string } = {},
): Worker<IngestJob, IngestResult> {
  const queue = opts.queue ?? QUEUE.ingest;
  const worker = new Worker<IngestJob, IngestResult>(queue, createIngestProcessor(deps, opts), {
    connection: deps.connection,
    prefix: deps.prefix,
    concurrency: opts.concurrency ?? 100,
    autorun: opts.autorun ?? true,
    settings: { backoffStrategy: (attemptsMade, type) => (type === JITTER_BACKOFF ? INGEST_BACKOFF(attemptsMade) : 1000) },
  });
  worker.on('failed', (job, err) =>
    deps.logger.warn(
      {
        err,
        jobId: job?.id,
        queue,
        attempt: job?.attemptsMade,
        // which notifications wait on this job (the first few: a bulk job carries up to 500)
        notificationIds: job?.data.notifications?.slice(0, 5).map((n) => n.id),
        notifications: job?.data.notifications?.length,
      },
      'ingest job failed',
    ),
  );
  worker.on('error', (err) => deps.logger.error({ err, queue }, 'ingest worker error'));
  observeJobs(worker);
  return worker;
}
