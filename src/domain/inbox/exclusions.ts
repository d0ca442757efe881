import type { EntityManager } from '@mikro-orm/postgresql';
import { pgArray, query } from '../../db/query.js';
import type { NotificationDraft } from '../../../queues/jobs.js';
import type { StoredRow } from './present.js';

/**
 * Who a shared (role, store, tenant) notification must not reach: members a
 * schedule_local send gave a notification of their own in their time zone
 * (src/domain/sending/schedule-local.ts). Stored as receipts marked deleted when the
 * row is stored, which hides it from their inbox; exclusionsOf reads them
 * back so the realtime frame and the channel deliveries leave them out too.
 * Only such sends can have any, so other rows cost nothing.
 */
export async function exclusionsOf(em: EntityManager, rows: readonly StoredRow[]): Promise<Map<string, string[]>> {
  const ids = rows.filter((r) => !r.audience.startsWith('u:') && r.metadata?.schedule_local !== undefined).map((r) => r.id);
  if (!ids.length) return new Map();
  const found = await query<{ notification_id: string; users: string[] }>(
    em,
    `select notification_id, array_agg(user_id) as users from notification_receipts
     where notification_id = any(?::uuid[]) and deleted_at is not null group by notification_id`,
    [pgArray(ids)],
  );
  return new Map(found.map((r) => [r.notification_id, r.users]));
}

/**
 * Stores NotificationDraft.except as deleted receipts, right after the rows
 * (src/domain/sending/store.ts) and before anything is published or planned. A
 * retried job stores them again harmlessly. Such a row is always stored
 * 'scheduled' (schedule-local.ts gives one already due a firing job due
 * now), so it is in nobody's inbox until they are in place.
 */
export async function storeExclusions(em: EntityManager, drafts: readonly NotificationDraft[]): Promise<void> {
  const rows = drafts.flatMap((d) => (d.except ?? []).map((user) => ({ tenant: d.tenant, user_id: user, notification_id: d.id })));
  if (!rows.length) return;
  await query(
    em,
    `insert into notification_receipts (tenant, user_id, notification_id, deleted_at)
     select x.tenant, x.user_id, x.notification_id, now() from json_to_recordset(?::json) as x(tenant text, user_id text, notification_id uuid)
     on conflict do nothing`,
    [JSON.stringify(rows)],
  );
}
