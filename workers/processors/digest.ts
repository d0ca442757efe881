import type { Job } from 'bullmq';
import type { DigestJob, DigestResult } from '../../queues/jobs.js';
import { runDigest, type DigestDeps } from '../../src/domain/digest/digest.js';

export type { DigestDeps };

/** The digest queue's processor: one window's held deliveries become one message (src/domain/digest/digest.ts). */
export function createDigestProcessor(deps: DigestDeps) {
  return async function digest(job: Job<DigestJob>): Promise<DigestResult> {
    return runDigest({ ...deps, logger: deps.logger.child({ queue: job.queueName, job: job.id }) }, job.data);
  };
}
