import type { EntityManager } from '@mikro-orm/postgresql';
import { pgArray, query } from '../db/query.js';
import type { StoredRow } from './present.js';

/**
 * Who a shared (role, store, tenant) notification must not reach: members a
 * schedule_local send gave a notification of their own in their time zone
 * (src/domain/schedule-local.ts). Stored as receipts marked deleted when the
 * row is stored (src/domain/ingest.ts), which hides it from their inbox; this
 * reads them back so the realtime frame and the channel deliveries leave
 * them out too. Only such sends can have any, so other rows cost nothing.
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
