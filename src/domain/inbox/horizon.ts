import type { EntityManager } from '@mikro-orm/postgresql';
import { pgArray, query } from '../../db/query.js';
import { compareCursors } from './cursors.js';

/**
 * The commit horizon: the highest inbox cursor a reader may hand out for a
 * tenant.
 *
 * Ingest batches of one tenant commit in parallel. Each first reserves its
 * cursors (src/domain/sending/cursors.ts): a short transaction moves the
 * tenant's head past them and records the reservation as open in
 * notification_open, and the batch's INSERT closes it in the same commit
 * that makes its rows visible. Reservations are taken one after another
 * (the head's row lock), so they are visible in cursor order.
 *
 * A read capped at min(open lo) - 1, in the same statement (one snapshot),
 * never hands out a cursor above a row that could still commit: a batch open
 * at the snapshot has its reservation in view and every cursor at or above
 * it is held back; a batch that reserves later takes cursors above every
 * row in view. So a client that has seen cursor N never later finds a new
 * notification below N, while batches commit side by side.
 *
 * `tenant` names the tenant: a column or expression of the query (e.g.
 * `w.tenant`), or `?` (then bind the tenant once per use).
 */
export const horizonOf = (tenant: string): string =>
  `(select coalesce(min(o.lo) - 1, 9223372036854775807) from notification_open o where o.tenant = ${tenant})`;

/** The horizon of a tenant bound as a parameter. */
export const HORIZON = horizonOf('?');

/** The tenant's commit horizon now, as a cursor. */
export async function readHorizon(em: EntityManager, tenant: string): Promise<string> {
  const [row] = await query<{ h: string }>(em, `select ${HORIZON}::text as h`, [tenant]);
  return row.h;
}

/** Longest a publisher waits for the batches below its own to commit, ms (a stuck one is taken back within ~40 s). */
const PUBLISH_WAIT_MS = 60_000;

/**
 * Waits until every cursor up to each tenant's `upTo` has committed (or
 * been taken back): the horizon has reached it. A publisher calls it before
 * it sends frames, so no client sees cursor N while a notification below N
 * can still commit; in the usual case the batches below have committed
 * already and this is one query. After PUBLISH_WAIT_MS it gives up and
 * says so (`false`).
 */
export async function untilCommitted(em: EntityManager, upTo: ReadonlyMap<string, string>): Promise<boolean> {
  if (!upTo.size) return true;
  const deadline = Date.now() + PUBLISH_WAIT_MS;
  let waiting = [...upTo.keys()];
  for (let pause = 1; ; pause = Math.min(pause * 2, 50)) {
    const rows = await query<{ tenant: string; h: string }>(
      em,
      `select tenant, (min(lo) - 1)::text as h from notification_open where tenant = any(?::text[]) group by tenant`,
      [pgArray(waiting)],
    );
    const horizon = new Map(rows.map((r) => [r.tenant, r.h]));
    waiting = waiting.filter((t) => horizon.has(t) && compareCursors(horizon.get(t)!, upTo.get(t)!) < 0);
    if (!waiting.length) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, pause));
  }
}
