import type { FireRequest, IngestResult } from '../../queues/jobs.js';
import { Batcher } from '../../queues/batcher.js';
import { fireScheduled, type CursorGap } from '../../src/domain/sending/store.js';
import type { StoredRow } from '../../src/domain/inbox/present.js';
import { BatchSpans } from '../../src/tracing/batch-spans.js';
import { dispatchStored, tellGaps, type DispatchDeps } from './dispatch.js';

/** A firing job that ran before its notification was stored; BullMQ retries it with backoff. */
export class NotStoredYetError extends Error {
  override name = 'NotStoredYetError';
}

/**
 * A scheduled notification's time has come: it enters inboxes now and then
 * goes exactly where an immediate send goes (realtime, channel delivery).
 *
 * Firing jobs running at the same time share one transaction per tenant
 * (they all take the tenant's cursor lock, so one at a time would
 * serialise a burst of notifications due at the same minute) and one
 * dispatch. A job whose notification is not stored yet fails alone.
 */
export function createFireProcessor(deps: DispatchDeps, opts: { batchMax?: number; batchWaitMs?: number } = {}) {
  const missing = new Set<string>();
  const batcher = new Batcher<FireRequest>((reqs) => fireBatch(deps, reqs, missing), { max: opts.batchMax ?? 1000, everyMs: opts.batchWaitMs ?? 2 });
  return async function fire(req: FireRequest): Promise<IngestResult> {
    await batcher.add([req]);
    const notStored = req.ids.filter((id) => missing.delete(id));
    if (notStored.length) throw new NotStoredYetError(`scheduled notifications not stored yet: ${notStored.join(', ')}`);
    return { stored: req.ids.length };
  };
}

async function fireBatch(deps: DispatchDeps, reqs: FireRequest[], missing: Set<string>): Promise<void> {
  const byTenant = new Map<string, Set<string>>();
  for (const r of reqs) {
    let ids = byTenant.get(r.tenant);
    if (!ids) byTenant.set(r.tenant, (ids = new Set()));
    for (const id of r.ids) ids.add(id);
  }
  const gaps: CursorGap[] = [];
  // with tracing on: a `fire` span in the trace of each send whose notifications fire now
  const spans = BatchSpans.start('fire', reqs.flatMap((r) => r.ids.map((id) => ({ id, tenant: r.tenant, trace: r.trace }))));
  try {
    await fireAndDispatch(deps, byTenant, missing, gaps, spans);
    spans?.end();
  } catch (err) {
    spans?.end(err);
    throw err;
  } finally {
    await tellGaps(deps, gaps);
  }
}

async function fireAndDispatch(
  deps: DispatchDeps,
  byTenant: Map<string, Set<string>>,
  missing: Set<string>,
  gaps: CursorGap[],
  spans: BatchSpans | null,
): Promise<void> {
  const fired: StoredRow[] = [];
  for (const [tenant, ids] of byTenant) {
    const result = await fireScheduled(deps.orm.em.fork(), tenant, [...ids], gaps);
    fired.push(...result.fired);
    for (const id of result.missing) missing.add(id);
  }
  if (fired.length) {
    await dispatchStored(deps, fired, spans);
    deps.logger.debug({ fired: fired.length }, 'scheduled notifications fired');
  }
}
