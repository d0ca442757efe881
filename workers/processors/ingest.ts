import type { Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { IngestJob, IngestResult, NotificationDraft } from '../../queues/jobs.js';
import { Batcher } from '../../src/batcher.js';
import type { Orm } from '../../src/db/orm.js';
import { notificationFrame, storeNotifications } from '../../src/domain/ingest.js';
import type { Logger } from '../../src/logger.js';
import { publishEvents } from '../../src/realtime/events.js';

export interface IngestDeps {
  orm: Orm;
  /** a normal (non-subscriber) connection used to publish realtime events */
  redis: Redis;
  prefix: string;
  logger: Logger;
}

export interface IngestOptions {
  /** most notifications per INSERT (default 1000) */
  batchMax?: number;
  /** ms a batch waits for more jobs (default 2) */
  batchWaitMs?: number;
}

/**
 * Stores a batch and publishes one realtime event per stored notification.
 * Publishing happens after commit, so every frame a client gets is already
 * readable from PostgreSQL (a reconnect with ?since= finds it).
 */
export async function ingestBatch(deps: IngestDeps, drafts: NotificationDraft[]): Promise<void> {
  const rows = await storeNotifications(deps.orm.em.fork(), drafts);
  await publishEvents(
    deps.redis,
    deps.prefix,
    rows.filter((r) => r.seq != null).map((r) => ({ tenant: r.tenant, audience: r.audience, cursor: r.seq, frame: notificationFrame(r) })),
  );
  deps.logger.debug({ stored: rows.length }, 'ingested');
}

/** The ingest queue's processor: jobs running at the same time share one INSERT. */
export function createIngestProcessor(deps: IngestDeps, opts: IngestOptions = {}) {
  const batcher = new Batcher<NotificationDraft>((drafts) => ingestBatch(deps, drafts), {
    max: opts.batchMax ?? 1000,
    waitMs: opts.batchWaitMs ?? 2,
  });
  return async (job: Job<IngestJob>): Promise<IngestResult> => {
    await batcher.add(job.data.notifications);
    return { stored: job.data.notifications.length };
  };
}
