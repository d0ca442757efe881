import type { Redis } from 'ioredis';
import type { Producers } from '../../queues/producers.js';
import type { Orm } from '../../src/db/orm.js';
import { exclusionsOf } from '../../src/domain/inbox/exclusions.js';
import { compareCursors } from '../../src/domain/inbox/cursors.js';
import { groupCounts, groupFields } from '../../src/domain/inbox/groups.js';
import { untilCommitted } from '../../src/domain/inbox/horizon.js';
import { presentRow, type StoredRow } from '../../src/domain/inbox/present.js';
import type { Logger } from '../../src/logger.js';
import { notificationFrame } from '../../src/feed/frames.js';
import { publishEvents, publishGaps } from '../../src/feed/publish.js';
import type { CursorGap } from '../../src/domain/sending/store.js';
import { planDeliveries } from '../../src/domain/delivery/plan.js';
import { batchStep, type BatchSpans } from '../../src/tracing/batch-spans.js';
import { tracedDeliveries } from '../../src/tracing/job-context.js';

export interface DispatchDeps {
  orm: Orm;
  /** a normal (non-subscriber) connection used to publish realtime events */
  redis: Redis;
  prefix: string;
  logger: Logger;
  /** where the channel deliveries go */
  queues: Producers;
  /** on one Redis: longest a batch's frames wait for the tenant's batches before them (WS_REORDER_WAIT_MS) */
  orderWaitMs?: number;
}

/**
 * What happens once notifications are in inboxes (stored now, or a scheduled
 * one that has just fired): one realtime event per notification, published
 * after commit so every frame a client gets is already readable from
 * PostgreSQL (a reconnect with ?since= finds it).
 */
export async function dispatchStored(deps: DispatchDeps, rows: StoredRow[], spans?: BatchSpans | null): Promise<void> {
  const live = rows.filter((r) => r.seq != null);
  // batches of a tenant commit side by side: a frame goes out only once every cursor below it has committed,
  // or a client could see cursor N while a notification below N is still to come (src/domain/inbox/horizon.ts)
  const upTo = new Map<string, string>();
  for (const r of live) if (r.prev != null && compareCursors(r.seq!, upTo.get(r.tenant) ?? '0') > 0) upTo.set(r.tenant, r.seq!);
  if (!(await untilCommitted(deps.orm.em.fork(), upTo)))
    deps.logger.warn({ tenants: [...upTo.keys()] }, 'a batch below these notifications has not committed for a minute: publishing them anyway');
  // grouped notifications: the frame says how big the group is and which toast it replaces
  const em = deps.orm.em.fork();
  const groups = await groupCounts(em, live);
  // members a schedule_local send split off (src/domain/inbox/exclusions.ts): read once, for the frames and the deliveries
  const except = await exclusionsOf(em, live);
  await batchStep(spans, 'publish', () =>
    publishEvents(
      deps.redis,
      deps.prefix,
      live.map((r) => ({
        tenant: r.tenant,
        audience: r.audience,
        cursor: r.seq,
        prev: r.prev,
        frame: () => Object.assign(notificationFrame(presentRow(r)), groupFields(r, groups)),
        except: except.get(r.id),
      })),
      orderOptions(deps),
    ),
  );
  // external channels: one delivery record and one channel job per (recipient, channel), each job in its notification's trace
  const queues = spans ? tracedDeliveries(deps.queues, (j) => spans.traceOf(j.notification_id)) : deps.queues;
  await planDeliveries({ em, queues, logger: deps.logger }, rows, except);
}

/**
 * Passes over cursors this process reserved and will never store (a retried
 * batch, one that failed and was split), so the tenant's next frames do not
 * wait for them. Best effort: unheard, they wait WS_REORDER_WAIT_MS once.
 */
export async function tellGaps(deps: DispatchDeps, gaps: readonly CursorGap[]): Promise<void> {
  if (!gaps.length) return;
  await publishGaps(deps.redis, deps.prefix, gaps, orderOptions(deps)).catch((err) => deps.logger.warn({ err: (err as Error).message, gaps: gaps.length }, 'could not tell nodes of unused cursors'));
}

/** How this process's publishes keep cursor order on one Redis (src/feed/in-order.ts). */
const orderOptions = (deps: DispatchDeps) => ({
  orderWaitMs: deps.orderWaitMs,
  onLate: (stretches: number) =>
    deps.logger.warn({ stretches, waitedMs: deps.orderWaitMs }, "a batch's frames never came: sent the ones after them"),
});
