import { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { DIGEST_BACKOFF, JITTER_BACKOFF } from '../queues/defaults.js';
import type { DigestJob, DigestResult } from '../queues/jobs.js';
import { observeJobs } from '../src/metrics/jobs.js';
import { createDigestProcessor, type DigestDeps } from './processors/digest.js';

export interface DigestWorkerOptions {
  /** windows processed at once (default 10) */
  concurrency?: number;
  /** ms a job's lock lives; a worker that dies loses its jobs to another after this (default 30 000) */
  lockDurationMs?: number;
  /** ms between checks for jobs whose worker died (default: BullMQ's 30 000) */
  stalledIntervalMs?: number;
  autorun?: boolean;
}

/** Builds the Worker of digest windows (run by the ingest process, and by tests). */
export function createDigestWorker(deps: DigestDeps & { connection: Redis; prefix: string }, opts: DigestWorkerOptions = {}): Worker<DigestJob, DigestResult> {
  // the producers' own name for it: hash-tagged on a Redis Cluster
  const queue = deps.queues.digest.name;
  const worker = new Worker<DigestJob, DigestResult>(queue, createDigestProcessor(deps), {
    connection: deps.connection,
    prefix: deps.prefix,
    concurrency: opts.concurrency ?? 10,
    autorun: opts.autorun ?? true,
    lockDuration: opts.lockDurationMs ?? 30_000,
    ...(opts.stalledIntervalMs ? { stalledInterval: opts.stalledIntervalMs } : {}),
    settings: { backoffStrategy: (attemptsMade, type) => (type === JITTER_BACKOFF ? DIGEST_BACKOFF(attemptsMade) : 1000) },
  });
  worker.on('failed', (job, err) => deps.logger.warn({ err, jobId: job?.id, queue, attempt: job?.attemptsMade }, 'digest failed'));
  worker.on('error', (err) => deps.logger.error({ err, queue }, 'digest worker error'));
  observeJobs(worker);
  return worker;
}
