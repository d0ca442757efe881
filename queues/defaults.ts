import type { JobsOptions } from 'bullmq';
import type { Priority } from './jobs.js';

/**
 * Every job option of every queue lives here.
 */

/** BullMQ runs lower numbers first; a job without priority would jump the queue, so every job gets one. */
export const PRIORITY: Record<Priority, number> = { urgent: 1, high: 2, normal: 3, low: 4 };

/** The custom backoff strategy name: exponential with full jitter. */
export const JITTER_BACKOFF = 'exponential-jitter';

/**
 * Exponential backoff with jitter: attempt n waits a random time in
 * [base·2^(n-1)/2, base·2^(n-1)], capped at maxMs.
 */
export function jitteredBackoff(baseMs: number, maxMs = 10 * 60_000) {
  return (attemptsMade: number): number => {
    const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, attemptsMade - 1));
    return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
  };
}

/**
 * Ingest: PostgreSQL may be down for a while; the queue holds the work and
 * retries for ~1 day (attempts 30, backoff 1 s doubling, capped at 1 h).
 * Completed jobs are trimmed; failed ones stay a week for bull-board.
 */
export const INGEST_JOB: JobsOptions = {
  attempts: 30,
  backoff: { type: JITTER_BACKOFF, delay: 1000 },
  removeOnComplete: { age: 3600, count: 1000 },
  removeOnFail: { age: 7 * 24 * 3600, count: 10_000 },
};
export const INGEST_BACKOFF = jitteredBackoff(1000, 3600_000);
