import { UnrecoverableError, type Job } from 'bullmq';
import type { IngestJob, IngestResult, NotificationDraft } from '../../queues/jobs.js';
import { Batcher } from '../../queues/batcher.js';
import { draftsOf } from '../../queues/ingest-payload.js';
import { forgetIdempotencyKeys } from '../../src/domain/sending/accept.js';
import { storeNotifications, type CursorGap } from '../../src/domain/sending/store.js';
import { recordRejections, storeIsolating, type Rejection } from '../../src/domain/sending/rejections.js';
import { notificationCreated, notificationRejected } from '../../src/metrics/metrics.js';
import { BatchSpans, batchStep } from '../../src/tracing/batch-spans.js';
import { dispatchStored, tellGaps, type DispatchDeps } from './dispatch.js';
import { createFireProcessor } from './fire.js';
import { wakeProcessor } from './wake.js';

export type IngestDeps = DispatchDeps;

export interface IngestOptions {
  /** most notifications per INSERT (default 1000) */
  batchMax?: number;
  /** INSERTs start at most this often, in ms; the first after a pause at once (default 2) */
  batchWaitMs?: number;
}

/**
 * Stores a batch in one INSERT, then dispatches what was stored. A batch
 * PostgreSQL refuses for its content is split until each bad notification is
 * alone (src/domain/sending/rejections.ts): the others are stored and dispatched as
 * usual, each bad one is recorded (its sender sees it failed, by id), counted
 * and its idempotency key forgotten. Returns the rejected ones by id.
 * Anything else (PostgreSQL or Redis unavailable) throws, and every job of
 * the batch is retried.
 */
export async function ingestBatch(deps: IngestDeps, drafts: NotificationDraft[]): Promise<Map<string, Rejection>> {
  const gaps: CursorGap[] = [];
  // with tracing on: one `ingest` span per sender's trace among the batch's notifications
  const spans = BatchSpans.start('ingest', drafts);
  try {
    const rejected = await storeAndDispatch(deps, drafts, gaps, spans);
    spans?.end();
    return rejected;
  } catch (err) {
    spans?.end(err);
    throw err;
  } finally {
    await tellGaps(deps, gaps);
  }
}

async function storeAndDispatch(deps: IngestDeps, drafts: NotificationDraft[], gaps: CursorGap[], spans: BatchSpans | null): Promise<Map<string, Rejection>> {
  const { rows, rejected } = await batchStep(spans, 'store', () => storeIsolating(drafts, (list) => storeNotifications(deps.orm.em.fork(), list, gaps)));
  if (rejected.length) {
    await recordRejections(deps.orm.em.fork(), rejected);
    await forgetIdempotencyKeys(deps.redis, deps.prefix, rejected.map((r) => r.draft));
    for (const r of rejected) notificationRejected.inc({ reason: r.reason });
    deps.logger.error(
      { rejected: rejected.map((r) => ({ id: r.draft.id, tenant: r.draft.tenant, sender: r.draft.sender, reason: r.reason, detail: r.detail })), stored: rows.length },
      'notifications rejected: PostgreSQL refused their content; the rest of the batch is stored',
    );
  }
  for (const r of rows) notificationCreated.inc({ type: r.type, priority: r.priority });
  await dispatchStored(deps, rows, spans);
  deps.logger.debug({ stored: rows.length }, 'ingested');
  return new Map(rejected.map((r) => [r.draft.id, r]));
}

/**
 * The ingest queue's processor: jobs running at the same time share one
 * INSERT. A job that carried a rejected notification fails for good
 * (UnrecoverableError: retrying cannot change its content), naming it, so
 * bull-board shows it among the failed jobs; the job's other notifications
 * are stored, and retrying it by hand stores nothing twice.
 */
export function createIngestProcessor(deps: IngestDeps, opts: IngestOptions = {}) {
  const batcher = new Batcher<NotificationDraft, Map<string, Rejection>>((drafts) => ingestBatch(deps, drafts), {
    max: opts.batchMax ?? 1000,
    everyMs: opts.batchWaitMs ?? 2,
  });
  const fire = createFireProcessor(deps, { batchMax: opts.batchMax, batchWaitMs: opts.batchWaitMs });
  return async (job: Job<IngestJob>): Promise<IngestResult> => {
    if (job.data.fire) return fire(job.data.fire);
    if (job.data.wake) return wakeProcessor(deps, job.data.wake);
    const drafts = draftsOf(job.data);
    const rejected = await batcher.add(drafts);
    const mine = drafts.filter((d) => rejected.has(d.id));
    if (mine.length) {
      const named = mine.slice(0, 5).map((d) => `${d.id} (${rejected.get(d.id)!.detail})`);
      throw new UnrecoverableError(
        `${mine.length} of ${drafts.length} notifications could not be stored and are recorded as failed; the other ${drafts.length - mine.length} are stored: ${named.join('; ')}${mine.length > 5 ? '; …' : ''}`,
      );
    }
    return { stored: drafts.length };
  };
}
