import type { EntityManager } from '@mikro-orm/postgresql';
import { uuidv7Floor, uuidv7Time } from '../domain/ids.js';
import { query } from './query.js';

/**
 * Monthly partitions of notifications and the tables partitioned with it
 * (receipts, actions), each named `<table>_pYYYY_MM` and holding the UUIDv7
 * ids minted in that UTC month (migrations/
 * Migration20261206000000_partitions.ts). Creating and dropping a month
 * changes the three tables together.
 */

/** The tables partitioned by notification id besides notifications itself. */
const WITH_NOTIFICATIONS = ['notification_receipts', 'notification_actions'] as const;

/**
 * How long DDL here waits for a table lock before giving up: creating or
 * dropping a partition locks its parent, and a statement queued behind a
 * long read would stall every insert and read queued behind it in turn. A
 * month made ahead can wait for the next run; the store path retries.
 */
const LOCK_TIMEOUT = '5s';

/** Why a drop is left for the next run: its locks timed out (55P03), a deadlock (40P01), an ack into the month (23503). */
const RETRY_NEXT_RUN = new Set(['55P03', '40P01', '23503']);

export interface Partition {
  /** e.g. notifications_p2026_12 */
  name: string;
  /** the UTC month, e.g. 2026-12 */
  month: string;
  /** the first instant of the month (ids from uuidv7Floor of it) */
  from: Date;
  /** the first instant of the next month (ids below its uuidv7Floor) */
  to: Date;
}

const addMonths = (at: Date, n: number) => new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + n, 1));

/** Runs `fn` in a transaction whose lock waits end after LOCK_TIMEOUT. */
function withLockTimeout<T>(em: EntityManager, fn: (tem: EntityManager) => Promise<T>): Promise<T> {
  return em.transactional(async (tem) => {
    await query(tem, `set local lock_timeout = '${LOCK_TIMEOUT}'`);
    return fn(tem);
  });
}

/** Creates the months from `from`'s through `to`'s where missing; returns the partitions it created. */
export async function ensureMonths(em: EntityManager, from: Date, to: Date): Promise<string[]> {
  return withLockTimeout(em, async (tem) => {
    const rows = await query<{ name: string }>(tem, `select herald_ensure_partitions(?, ?) as name`, [from, to]);
    return rows.map((r) => r.name);
  });
}

/** The current month and `ahead` more (default 3), created where missing. */
export function ensurePartitions(em: EntityManager, ahead = 3, now = new Date()): Promise<string[]> {
  return ensureMonths(em, now, addMonths(now, ahead));
}

/** The months the given UUIDv7 ids were minted in, created where missing (the store path's fallback). */
export function ensureMonthsOf(em: EntityManager, ids: readonly string[]): Promise<string[]> {
  const times = ids.map(uuidv7Time);
  return ensureMonths(em, new Date(Math.min(...times)), new Date(Math.max(...times)));
}

/** PostgreSQL's words when an insert finds no partition for a row (SQLSTATE 23514). */
export const isMissingPartition = (err: unknown): boolean => {
  const e = (err ?? {}) as { code?: unknown; message?: unknown };
  return e.code === '23514' && typeof e.message === 'string' && e.message.includes('no partition of relation');
};

/** The partitions of notifications, oldest first, with their months' bounds. */
export async function listPartitions(em: EntityManager): Promise<Partition[]> {
  const rows = await query<{ name: string; bound: string }>(
    em,
    `select c.relname as name, pg_get_expr(c.relpartbound, c.oid) as bound
     from pg_inherits i join pg_class c on c.oid = i.inhrelid
     where i.inhparent = 'notifications'::regclass`,
  );
  const out: Partition[] = [];
  for (const r of rows) {
    // FOR VALUES FROM ('<uuid>') TO ('<uuid>')
    const m = /FROM \('([0-9a-f-]{36})'\) TO \('([0-9a-f-]{36})'\)/.exec(r.bound);
    if (!m) continue;
    const from = new Date(uuidv7Time(m[1]));
    out.push({ name: r.name, month: from.toISOString().slice(0, 7), from, to: new Date(uuidv7Time(m[2])) });
  }
  return out.sort((a, b) => a.from.getTime() - b.from.getTime());
}

/**
 * Drops every month that ended at or before `cutoff`, in the three tables,
 * and returns what it dropped and what it kept. A month that still holds a
 * notification waiting to fire is kept (it was scheduled far ahead on
 * purpose; retention's row delete takes the rest of that month). What points
 * into the month goes first, since a partition of notifications can be
 * detached only once nothing references it: the month's rows of
 * notification_acks (one table, not partitioned), deleted before any lock
 * is taken, then the receipts' and actions' partitions.
 *
 * The drop locks the three tables for a moment (catalog changes only, however
 * many rows the month held): every read and write of them waits that long.
 * The locks are all taken first, in the order inbox reads take them, so a
 * read that came first finishes and one that comes later waits. A month
 * whose drop cannot get its locks in time, meets a deadlock, or finds an ack
 * written since the delete is kept until the next run.
 */
export async function dropMonthsBefore(em: EntityManager, cutoff: Date): Promise<{ dropped: string[]; kept: string[] }> {
  const dropped: string[] = [];
  const kept: string[] = [];
  for (const p of await listPartitions(em)) {
    if (p.to.getTime() > cutoff.getTime()) continue;
    const suffix = p.name.slice('notifications'.length);
    await query(em, `delete from notification_acks where notification_id >= ?::uuid and notification_id < ?::uuid`, [
      uuidv7Floor(p.from),
      uuidv7Floor(p.to),
    ]);
    const gone = await withLockTimeout(em, async (tem) => {
      // nothing can be fired or stored into the month between the check and the drop
      await query(tem, `lock table notifications, ${WITH_NOTIFICATIONS.join(', ')} in access exclusive mode`);
      const [waiting] = await query<{ any: boolean }>(tem, `select exists (select 1 from ${p.name} where status = 'scheduled') as any`);
      if (waiting.any) return false;
      await query(tem, `drop table if exists ${WITH_NOTIFICATIONS.map((t) => t + suffix).join(', ')}`);
      await query(tem, `alter table notifications detach partition ${p.name}`);
      await query(tem, `drop table ${p.name}`);
      return true;
    }).catch((err) => {
      if (RETRY_NEXT_RUN.has(String((err as { code?: unknown }).code))) return false;
      throw err;
    });
    (gone ? dropped : kept).push(p.name);
  }
  return { dropped, kept };
}
