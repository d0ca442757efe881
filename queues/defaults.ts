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

/**
 * Channel deliveries. Attempts per channel: providers that queue
 * on their side (SMTP, FCM) get more tries than per-message paid SMS.
 * Backoff: exponential with full jitter from 2 s (5 s for SMS), capped at
 * 10 min. A permanent error stops at once (UnrecoverableError); throttling
 * goes through the BullMQ rate limiter and does not use up an attempt.
 * Completed jobs are trimmed (1 h / 1000); failed ones stay a week (up to
 * 50k) so bull-board shows what failed and why.
 */
export const DELIVERY_ATTEMPTS = { email: 6, sms: 4, wechat: 5, feishu: 5, push: 5, webhook: 8 } as const;
export const DELIVERY_BACKOFF_BASE_MS = { email: 2000, sms: 5000, wechat: 2000, feishu: 2000, push: 2000, webhook: 2000 } as const;
export type DeliveryQueueChannel = keyof typeof DELIVERY_ATTEMPTS;

export function deliveryJobOptions(channel: DeliveryQueueChannel): JobsOptions {
  return {
    attempts: DELIVERY_ATTEMPTS[channel],
    backoff: { type: JITTER_BACKOFF, delay: DELIVERY_BACKOFF_BASE_MS[channel] },
    removeOnComplete: { age: 3600, count: 1000 },
    removeOnFail: { age: 7 * 24 * 3600, count: 50_000 },
  };
}
export const deliveryBackoff = (channel: DeliveryQueueChannel) => jitteredBackoff(DELIVERY_BACKOFF_BASE_MS[channel], 10 * 60_000);

/** A job throttled this many times without success counts one failed attempt, so a stuck limiter cannot loop forever. */
export const DELIVERY_MAX_THROTTLES = 50;

/**
 * Recurring-schedule occurrences: making the notification only
 * needs PostgreSQL and Redis, so 10 attempts from 1 s (about 17 min in all)
 * ride out a short outage; an occurrence is made at most once whatever the
 * attempts, because its notification carries an idempotency key derived
 * from the occurrence. Completed jobs are trimmed (1 h / 1000), failed ones
 * stay a week.
 */
export const RECURRING_JOB: JobsOptions = {
  attempts: 10,
  backoff: { type: JITTER_BACKOFF, delay: 1000 },
  removeOnComplete: { age: 3600, count: 1000 },
  removeOnFail: { age: 7 * 24 * 3600, count: 10_000 },
};
export const RECURRING_BACKOFF = jitteredBackoff(1000, 5 * 60_000);

/**
 * Digest windows: assembling a digest needs PostgreSQL and Redis only, so
 * 10 attempts from 1 s ride out a short outage; a run that repeats sends
 * nothing twice (the combined delivery has a deterministic id). Completed
 * jobs are trimmed (1 h / 1000), failed ones stay a week.
 */
export const DIGEST_JOB: JobsOptions = {
  attempts: 10,
  backoff: { type: JITTER_BACKOFF, delay: 1000 },
  removeOnComplete: { age: 3600, count: 1000 },
  removeOnFail: { age: 7 * 24 * 3600, count: 10_000 },
};
export const DIGEST_BACKOFF = jitteredBackoff(1000, 5 * 60_000);
