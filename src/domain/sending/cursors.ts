import type { EntityManager } from '@mikro-orm/postgresql';
import { pgArray, query } from '../../db/query.js';

/**
 * Inbox cursor reservations: how batches of one tenant commit in parallel
 * (migrations/Migration20261206010000_parallel_ingest.ts, readers' side in
 * src/domain/inbox/horizon.ts).
 *
 * A batch reserves its cursors in a statement of its own, before its
 * INSERT; the INSERT closes the reservation in its own commit. A batch that
 * fails closes its reservation at once (releaseReservations), so readers are
 * not held back until it expires.
 */
export interface Reservation {
  tenant: string;
  /** the reservation's id in notification_open */
  id: string;
  /** the first and last cursor reserved */
  lo: string;
  hi: string;
}

/** SQLSTATE of an INSERT whose reservation expired before it committed: reserve again. */
export const RESERVATION_EXPIRED = 'HR001';

/** The reservations of this process, one after another: see reserveCursors. */
let previous: Promise<unknown> = Promise.resolve();

/**
 * Reserves `counts[i]` cursors for `tenants[i]`, in one short autocommitted
 * statement. Tenants in sorted order, so two batches never wait on each
 * other's heads crosswise. A process's reservations run one after another,
 * in the order its batches asked: batches formed in the order their jobs
 * came then get cursors in that order, so a user's sends that one ingest
 * process stores keep the order they were accepted in (each statement is
 * a fraction of a millisecond; the INSERTs still run side by side).
 */
export function reserveCursors(em: EntityManager, counts: Map<string, number>): Promise<Reservation[]> {
  const mine = previous.then(() => reserveNow(em, counts));
  previous = mine.catch(() => undefined);
  return mine;
}

async function reserveNow(em: EntityManager, counts: Map<string, number>): Promise<Reservation[]> {
  const tenants = [...counts.keys()].filter((t) => counts.get(t)! > 0).sort();
  if (!tenants.length) return [];
  const rows = await query<{ r_tenant: string; r_id: string; r_lo: string; r_hi: string }>(
    em,
    'select r_tenant, r_id::text, r_lo::text, r_hi::text from herald_reserve_cursors(?::text[], ?::int[])',
    [pgArray(tenants), `{${tenants.map((t) => counts.get(t)).join(',')}}`],
  );
  return rows.map((r) => ({ tenant: r.r_tenant, id: r.r_id, lo: r.r_lo, hi: r.r_hi }));
}

/** Closes reservations whose batch will not commit (best effort: one left open expires by itself). */
export async function releaseReservations(em: EntityManager, reservations: readonly Reservation[]): Promise<void> {
  if (!reservations.length) return;
  await query(em, 'delete from notification_open where id = any(?::bigint[])', [`{${reservations.map((r) => r.id).join(',')}}`]).catch(() => undefined);
}

/** Deletes reservations open longer than the TTL (a worker died mid-batch); an ingest worker runs it every few seconds. */
export async function expireReservations(em: EntityManager, ttlMs = 30_000): Promise<number> {
  const rows = await query<{ id: string }>(em, `delete from notification_open where opened_at < now() - make_interval(secs => ?) returning id`, [ttlMs / 1000]);
  return rows.length;
}

/** True when PostgreSQL refused an INSERT because its reservation had expired. */
export function isReservationExpired(err: unknown): boolean {
  const e = err as { code?: unknown; cause?: { code?: unknown } } | null;
  return e?.code === RESERVATION_EXPIRED || e?.cause?.code === RESERVATION_EXPIRED || String((e as Error)?.message ?? '').includes('cursor reservation expired');
}
