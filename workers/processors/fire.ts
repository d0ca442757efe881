import type { FireRequest, IngestResult } from '../../queues/jobs.js';
import { fireScheduled } from '../../src/domain/ingest.js';
import { dispatchStored, type DispatchDeps } from './dispatch.js';

/** A firing job that ran before its notification was stored; BullMQ retries it with backoff. */
export class NotStoredYetError extends Error {
  override name = 'NotStoredYetError';
}

/**
 * A scheduled notification's time has come: it enters inboxes now and then
 * goes exactly where an immediate send goes (realtime, channel delivery).
 */
export async function fireScheduledJob(deps: DispatchDeps, req: FireRequest): Promise<IngestResult> {
  const { fired, missing } = await fireScheduled(deps.orm.em.fork(), req.tenant, req.ids);
  if (fired.length) {
    await dispatchStored(deps, fired);
    deps.logger.debug({ tenant: req.tenant, fired: fired.map((r) => r.id) }, 'scheduled notifications fired');
  }
  if (missing.length) throw new NotStoredYetError(`scheduled notifications not stored yet: ${missing.join(', ')}`);
  return { stored: fired.length };
}
