import { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { JITTER_BACKOFF, deliveryBackoff } from '../queues/defaults.js';
import type { DeliveryJob, DeliveryResult } from '../queues/jobs.js';
import { QUEUE } from '../queues/names.js';
import { createDeliverProcessor, type DeliverDeps } from './processors/deliver.js';
import { takeToken } from '../src/ratelimit/gcra.js';
import { observeJobs } from '../src/metrics/jobs.js';

export interface DeliveryWorkerOptions {
  /** jobs processed at once (default 20) */
  concurrency?: number;
  /** sends per second across every worker and every shard of this channel (default unlimited) */
  ratePerSec?: number;
  /** the shard of the channel's queue this worker consumes (default: the first, the whole queue when it has one shard) */
  queue?: string;
  /**
   * How many shards the channel's queue has. BullMQ's limiter counts one
   * queue, so with more than one the rate is kept by one bucket in Redis
   * that every shard's workers take from (src/ratelimit/gcra.ts).
   */
  shards?: number;
  /** ms a job's lock lives; a worker that dies loses its jobs to another after this (default 30 000) */
  lockDurationMs?: number;
  /** ms between checks for jobs whose worker died (default: BullMQ's 30 000) */
  stalledIntervalMs?: number;
  autorun?: boolean;
}

/** The Worker of one channel's queue (used by the process entries, tests and the benchmark). */
export function createDeliveryWorker(deps: DeliverDeps & { connection: Redis }, opts: DeliveryWorkerOptions = {}): Worker<DeliveryJob, DeliveryResult> {
  const channel = deps.provider.channel;
  const queue = opts.queue ?? QUEUE[channel];
  const backoff = deliveryBackoff(channel);
  const lockDuration = opts.lockDurationMs ?? 30_000;
  const deliver = createDeliverProcessor({ ...deps, lockMs: lockDuration });
  const shared = opts.ratePerSec && (opts.shards ?? 1) > 1 ? opts.ratePerSec : 0;
  const bucket = `${deps.prefix}:{rate}:channel:${channel}`;
  const processor: typeof deliver = shared
    ? async (job, token) => {
        const t = await takeToken(deps.redis, bucket, shared, 1000);
        if (!t.allowed) {
          // back in the shard's queue without using an attempt, and the shard pauses until a send fits again
          await worker.rateLimit(Math.max(1, t.retryAfterMs));
          throw Worker.RateLimitError();
        }
        return deliver(job, token);
      }
    : deliver;
  const worker = new Worker<DeliveryJob, DeliveryResult>(queue, processor, {
    connection: deps.connection,
    prefix: deps.prefix,
    concurrency: opts.concurrency ?? 20,
    autorun: opts.autorun ?? true,
    lockDuration,
    ...(opts.stalledIntervalMs ? { stalledInterval: opts.stalledIntervalMs } : {}),
    ...(opts.ratePerSec && !shared ? { limiter: { max: opts.ratePerSec, duration: 1000 } } : {}),
    settings: { backoffStrategy: (attemptsMade: number, type?: string) => (type === JITTER_BACKOFF ? backoff(attemptsMade) : 1000) },
  });
  worker.on('error', (err) => deps.logger.error({ err, queue }, 'delivery worker error'));
  observeJobs(worker);
  return worker;
}
