import type { Job } from 'bullmq';
import type { IngestJob, IngestResult, NotificationDraft } from '../../queues/jobs.js';
import { Batcher } from '../../queues/batcher.js';
import { storeNotifications } from '../../src/domain/ingest.js';
import { notificationCreated } from '../../src/metrics.js';
import { dispatchStored, type DispatchDeps } from './dispatch.js';
import { createFireProcessor } from './fire.js';

export type IngestDeps = DispatchDeps;

export interface IngestOptions {
  /** most notifications per INSERT (default 1000) */
  batchMax?: number;
  /** INSERTs start at most this often, in ms; the first after a pause at once (default 2) */
  batchWaitMs?: number;
}

/** Stores a batch in one INSERT, then dispatches what was stored. */
export async function ingestBatch(deps: IngestDeps, drafts: NotificationDraft[]): Promise<void> {
  const rows = await storeNotifications(deps.orm.em.fork(), drafts);
  for (const r of rows) notificationCreated.inc({ type: r.type, priority: r.priority });
  await dispatchStored(deps, rows);
  deps.logger.debug({ stored: rows.length }, 'ingested');
}

/** The ingest queue's processor: jobs running at the same time share one INSERT. */
export function createIngestProcessor(deps: IngestDeps, opts: IngestOptions = {}) {
  const batcher = new Batcher<NotificationDraft>((drafts) => ingestBatch(deps, drafts), {
    max: opts.batchMax ?? 1000,
    everyMs: opts.batchWaitMs ?? 2,
  });
  const fire = createFireProcessor(deps, { batchMax: opts.batchMax, batchWaitMs: opts.batchWaitMs });
  return async (job: Job<IngestJob>): Promise<IngestResult> => {
    if (job.data.fire) return fire(job.data.fire);
    await batcher.add(job.data.notifications);
    return { stored: job.data.notifications.length };
  };
}
