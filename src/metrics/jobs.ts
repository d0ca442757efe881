import type { Job, Worker } from 'bullmq';
import { jobDuration, jobWait } from './metrics.js';

/**
 * Records how long each job of `worker` waited and ran, from the timestamps
 * BullMQ keeps on the job (so the figures are the queue's, not the event
 * loop's). One call per Worker, right after it is created.
 */
export function observeJobs(worker: Worker): void {
  const queue = worker.name;
  const record = (job: Job | undefined, status: 'completed' | 'failed') => {
    if (!job?.processedOn) return;
    const finished = job.finishedOn ?? Date.now();
    jobDuration.observe({ queue, status }, Math.max(0, finished - job.processedOn) / 1000);
    // Later attempts wait out their backoff on purpose: only the first says how busy the queue is.
    if (job.attemptsMade <= 1) {
      const ready = job.timestamp + (job.opts.delay ?? 0);
      jobWait.observe({ queue }, Math.max(0, job.processedOn - ready) / 1000);
    }
  };
  worker.on('completed', (job) => record(job, 'completed'));
  worker.on('failed', (job) => record(job, 'failed'));
}
