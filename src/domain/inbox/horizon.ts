import type { EntityManager } from '@mikro-orm/postgresql';
import { query } from '../../db/query.js';

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
 * Bind the tenant once per use.
 */
export const HORIZON = `(select coalesce(min(o.lo) - 1, 9223372036854775807) from notification_open o where o.tenant = ?)`;

/** The same for a tenant named by a column or expression of the query (e.g. `w.tenant`). */
export const horizonOf = (tenant: string): string =>
  `(select coalesce(min(o.lo) - 1, 9223372036854775807) from notification_open o where o.tenant = ${tenant})`;

/** The tenant's commit horizon now, as a cursor. */
export async function readHorizon(em: EntityManager, tenant: string): Promise<string> {
  const [row] = await query<{ h: string }>(em, `select ${HORIZON}::text as h`, [tenant]);
  return row.h;
}
