import { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { JITTER_BACKOFF, RECURRING_BACKOFF } from '../queues/defaults.js';
import type { RecurringJob } from '../queues/jobs.js';
import { createRecurringProcessor, type RecurringDeps } from './processors/recurring.js';
import { observeJobs } from '../src/metrics/jobs.js';

/** Builds the Worker of recurring-schedule occurrences (used by the scheduler process and by tests). */
export function createRecurringWorker(
  deps: RecurringDeps & { connection: Redis },
  opts: { concurrency?: number; autorun?: boolean } = {},
): Worker<RecurringJob> {
  // the producers' own name for it: hash-tagged on a Redis Cluster
  const queue = deps.queues.recurring.name;
  const worker = new Worker<RecurringJob>(queue, createRecurringProcessor(deps), {
    connection: deps.connection,
    prefix: deps.prefix,
    concurrency: opts.concurrency ?? 10,
    autorun: opts.autorun ?? true,
    settings: { backoffStrategy: (attemptsMade, type) => (type === JITTER_BACKOFF ? RECURRING_BACKOFF(attemptsMade) : 1000) },
  });
  worker.on('failed', (job, err) =>
    deps.logger.warn({ err, jobId: job?.id, queue, attempt: job?.attemptsMade }, 'recurring occurrence failed'),
  );
  worker.on('error', (err) => deps.logger.error({ err, queue }, 'recurring worker error'));
  observeJobs(worker);
  return worker;
}
