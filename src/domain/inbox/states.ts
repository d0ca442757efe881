import type { EntityManager } from '@mikro-orm/postgresql';
import type { WakeRequest } from '../../../queues/jobs.js';
import { query } from '../../db/query.js';
import { NotFoundError } from '../../errors.js';
import { audiencesOf } from './audience.js';
import { COLS, IN_INBOX, JOIN_RECEIPT, RECEIPT_COLS, bind, visibleIds, type Reader } from './inbox.js';
import { presentRow, type NotificationJson, type StoredRow } from './present.js';

/**
 * A user's inbox states beside read and deleted: seen (the bell counts what
 * is unseen), archived (out of the inbox, into the archive) and snoozed
 * (out of the inbox and its counts until a time, then back unread). They
 * live in the user's receipt, which a role, store or tenant notification
 * gets only when the user first acts on it, so every change is an upsert.
 *
 * Archived and snoozed exclude each other: archiving a snoozed notification
 * ends the snooze (its wake job then finds nothing to do), and snoozing an
 * archived one takes it out of the archive, to come back into the inbox.
 */

/** How far ahead a snooze may end. */
export const SNOOZE_MAX_MS = 366 * 24 * 3600_000;

export type StateAction = 'seen' | 'archive';

/** Per action: the column a new receipt sets, the change to an existing one, and when it is one. */
const UPSERT: Record<StateAction, { column: string; update: string; changed: string }> = {
  seen: { column: 'seen_at', update: 'seen_at = now()', changed: 'notification_receipts.seen_at is null' },
  archive: { column: 'archived_at', update: 'archived_at = now(), snoozed_until = null', changed: 'notification_receipts.archived_at is null' },
};

/**
 * Sets `action` on the notifications of this inbox that `where` picks
 * (alias n for the notification, r for the user's receipt; `params` bind
 * its placeholders). Returns the ids that changed.
 */
async function upsertWhere(em: EntityManager, who: Reader, action: StateAction, where: string, params: unknown[]): Promise<string[]> {
  const u = UPSERT[action];
  const rows = await query<{ notification_id: string }>(
    em,
    `insert into notification_receipts (tenant, user_id, notification_id, ${u.column})
     select n.tenant, ?, n.id, now() from notifications n ${JOIN_RECEIPT}
     where n.tenant = ? and n.audience = any(?::text[]) and n.seq is not null and r.deleted_at is null and ${where}
     on conflict (tenant, user_id, notification_id) do update set ${u.update} where ${u.changed}
     returning notification_id`,
    bind([who.sub, who.sub, who.tenant, audiencesOf(who), ...params]),
  );
  return rows.map((r) => r.notification_id);
}

/** Marks one notification seen or archived; 404 when it is not in this inbox. Returns whether it changed. */
export async function markState(em: EntityManager, who: Reader, id: string, action: StateAction): Promise<boolean> {
  const changed = await upsertWhere(em, who, action, 'n.id = ?::uuid', [id]);
  if (changed.length) return true;
  if (!(await visibleIds(em, who, [id])).length) throw new NotFoundError(`Notification ${id} was not found.`);
  return false;
}

/** Marks everything unseen in the inbox proper seen; returns the ids it marked. */
export const markAllSeen = (em: EntityManager, who: Reader) => upsertWhere(em, who, 'seen', `${IN_INBOX} and r.seen_at is null`, []);

/** Archives everything in the inbox proper (what is snoozed stays snoozed); returns the ids it archived. */
export const archiveAll = (em: EntityManager, who: Reader) => upsertWhere(em, who, 'archive', IN_INBOX, []);

/** Archives what is read in the inbox proper; returns the ids it archived. */
export const archiveRead = (em: EntityManager, who: Reader) => upsertWhere(em, who, 'archive', `${IN_INBOX} and r.read_at is not null`, []);

/** One notification of this inbox as this user sees it now, or null when it left the inbox meanwhile. */
async function presentOne(em: EntityManager, who: Reader, id: string): Promise<NotificationJson | null> {
  const [row] = await query<StoredRow>(
    em,
    `select ${COLS}, ${RECEIPT_COLS} from notifications n ${JOIN_RECEIPT}
     where n.id = ? and n.tenant = ? and n.audience = any(?::text[]) and n.seq is not null and r.deleted_at is null`,
    bind([who.sub, id, who.tenant, audiencesOf(who)]),
  );
  return row ? presentRow(row) : null;
}

/**
 * Takes one notification out of the archive; 404 when it is not in this
 * inbox. Returns it as the user now sees it, or null when it was not archived.
 */
export async function unarchive(em: EntityManager, who: Reader, id: string): Promise<NotificationJson | null> {
  const [visible] = await visibleIds(em, who, [id]);
  if (!visible) throw new NotFoundError(`Notification ${id} was not found.`);
  const rows = await query(
    em,
    `update notification_receipts set archived_at = null
     where tenant = ? and user_id = ? and notification_id = ? and archived_at is not null
     returning notification_id`,
    [who.tenant, who.sub, id],
  );
  return rows.length ? presentOne(em, who, id) : null;
}

/**
 * Snoozes one notification until `until` (a time the caller checked is
 * ahead); 404 when it is not in this inbox. Returns the end of the snooze
 * it replaced, if any, whose wake job is now spare.
 */
export async function snooze(em: EntityManager, who: Reader, id: string, until: Date): Promise<{ previous: Date | null }> {
  const [visible] = await visibleIds(em, who, [id]);
  if (!visible) throw new NotFoundError(`Notification ${id} was not found.`);
  // the CTE reads the receipt as it was before this statement changed it
  const [row] = await query<{ previous: Date | null }>(
    em,
    `with old as (
       select snoozed_until from notification_receipts where tenant = ? and user_id = ? and notification_id = ?)
     insert into notification_receipts (tenant, user_id, notification_id, snoozed_until) values (?, ?, ?, ?)
     on conflict (tenant, user_id, notification_id) do update set snoozed_until = excluded.snoozed_until, archived_at = null
     returning (select snoozed_until from old) as previous`,
    [who.tenant, who.sub, id, who.tenant, who.sub, id, until],
  );
  return { previous: row.previous ? new Date(row.previous) : null };
}

/**
 * Ends a snooze before its time; 404 when the notification is not in this
 * inbox. Returns the end it had and the notification as the user now sees
 * it, or null when it was not snoozed. Read and seen stay as they were: the
 * user brought it back, nothing arrived.
 */
export async function unsnooze(
  em: EntityManager,
  who: Reader,
  id: string,
): Promise<{ previous: Date; notification: NotificationJson | null } | null> {
  const [visible] = await visibleIds(em, who, [id]);
  if (!visible) throw new NotFoundError(`Notification ${id} was not found.`);
  const [row] = await query<{ previous: Date }>(
    em,
    `update notification_receipts r set snoozed_until = null
     from (select snoozed_until from notification_receipts
           where tenant = ? and user_id = ? and notification_id = ? and snoozed_until is not null for update) old
     where r.tenant = ? and r.user_id = ? and r.notification_id = ?
     returning old.snoozed_until as previous`,
    [who.tenant, who.sub, id, who.tenant, who.sub, id],
  );
  if (!row) return null;
  return { previous: new Date(row.previous), notification: await presentOne(em, who, id) };
}

/**
 * A snooze has ended: when the receipt is still snoozed until exactly that
 * time, the snooze is cleared and the notification is unread and unseen
 * again, as if it had just arrived. Returns it as the user now sees it, or
 * null when there is nothing to bring back (snoozed again, unsnoozed,
 * archived, deleted or recalled meanwhile).
 */
export async function wakeSnoozed(em: EntityManager, wake: WakeRequest): Promise<NotificationJson | null> {
  const [row] = await query<StoredRow>(
    em,
    `with woke as (
       update notification_receipts set snoozed_until = null, read_at = null, seen_at = null
       where tenant = ? and user_id = ? and notification_id = ? and snoozed_until = ?::timestamptz
       returning *)
     select ${COLS}, ${RECEIPT_COLS} from woke r join notifications n on n.id = r.notification_id
     where n.seq is not null and r.deleted_at is null`,
    [wake.tenant, wake.user_id, wake.notification_id, wake.until],
  );
  return row ? presentRow(row) : null;
}
