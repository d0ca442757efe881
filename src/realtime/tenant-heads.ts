import type { Orm } from '../db/orm.js';
import { pgArray, query } from '../db/query.js';

/**
 * Each tenant's cursor head now: the highest cursor handed to a batch
 * (stored, or still committing). Read from the primary when a node starts
 * to hear a tenant's order channel: the tenant's cursor chain starts there
 * for the node (src/realtime/order.ts), so batches reserved later but
 * published out of order are put back in order from the first one on. A
 * tenant that never stored a notification starts at '0'.
 */
export async function tenantHeads(orm: Orm, tenants: readonly string[]): Promise<Map<string, string>> {
  const rows = await query<{ tenant: string; head: string }>(
    orm.em.fork(),
    'select tenant, last_seq::text as head from notification_heads where tenant = any(?::text[])',
    [pgArray(tenants)],
  );
  const heads = new Map(tenants.map((t) => [t, '0']));
  for (const r of rows) heads.set(r.tenant, r.head);
  return heads;
}
