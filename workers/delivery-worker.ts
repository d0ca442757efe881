import { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { JITTER_BACKOFF, deliveryBackoff } from '../queues/defaults.js';
import type { DeliveryJob, DeliveryResult } from '../queues/jobs.js';
import { QUEUE } from '../queues/names.js';
import { createDeliverProcessor, type DeliverDeps } from './processors/deliver.js';
import { observeJobs } from '../src/metrics/jobs.js';

export interface DeliveryWorkerOptions {
  /** jobs processed at once (default 20) */
  concurrency?: number;
  /** sends per second across every worker of this channel (BullMQ limiter; default unlimited) */
  ratePerSec?: number;
  /** ms a job's lock lives; a worker that dies loses its jobs to another after this (default 30 000) */
  lockDurationMs?: number;
  /** ms between checks for jobs whose worker died (default: BullMQ's 30 000) */
  stalledIntervalMs?: number;
  autorun?: boolean;
}

/** The Worker of one channel's queue (used by the process entries, tests and the benchmark). */
export function createDeliveryWorker(deps: DeliverDeps & { connection: Redis }, opts: DeliveryWorkerOptions = {}): Worker<DeliveryJob, DeliveryResult> {
  const channel = deps.provider.channel;
  const queue = QUEUE[channel];
  const backoff = deliveryBackoff(channel);
  const lockDuration = opts.lockDurationMs ?? 30_000;
  const worker = new Worker<DeliveryJob, DeliveryResult>(queue, createDeliverProcessor({ ...deps, lockMs: lockDuration }), {
    connection: deps.connection,
    prefix: deps.prefix,
    concurrency: opts.concurrency ?? 20,
    autorun: opts.autorun ?? true,
    lockDuration,
    ...(opts.stalledIntervalMs ? { stalledInterval: opts.stalledIntervalMs } : {}),
    ...(opts.ratePerSec ? { limiter: { max: opts.ratePerSec, duration: 1000 } } : {}),
    settings: { backoffStrategy: (attemptsMade: number, type?: string) => (type === JITTER_BACKOFF ? backoff(attemptsMade) : 1000) },
  });
  worker.on('error', (err) => deps.logger.error({ err, queue }, 'delivery worker error'));
  observeJobs(worker);
  return worker;
}
