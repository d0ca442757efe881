import type { EntityManager } from '@mikro-orm/postgresql';
import type { StoredRow } from './present.js';

/**
 * Grouping in realtime: a notification with a group_key carries, in its
 * frame, how many notifications its group now holds in that audience and a
 * `replaces` hint (the group key), so a client replaces the group's earlier
 * toast with this one ("3 new orders") instead of stacking them.
 */
const keyOf = (r: Pick<StoredRow, 'tenant' | 'audience' | 'group_key'>) => `${r.tenant}\u001f${r.audience}\u001f${r.group_key}`;

/** The size of each group touched by `rows`, counted after they were stored (one query for the batch). */
export async function groupCounts(em: EntityManager, rows: StoredRow[]): Promise<Map<string, number>> {
  const grouped = rows.filter((r) => r.group_key && r.seq != null);
  if (!grouped.length) return new Map();
  const keys = [...new Map(grouped.map((r) => [keyOf(r), r])).values()];
  const counts = await em.execute<Array<{ tenant: string; audience: string; group_key: string; count: string }>>(
    `select n.tenant, n.audience, n.group_key, count(*)::text as count
     from json_to_recordset(?::json) as k(tenant text, audience text, group_key text)
     join notifications n on n.tenant = k.tenant and n.audience = k.audience and n.group_key = k.group_key and n.seq is not null
     group by 1, 2, 3`,
    [JSON.stringify(keys.map((r) => ({ tenant: r.tenant, audience: r.audience, group_key: r.group_key })))],
  );
  return new Map(counts.map((c) => [keyOf(c), Number(c.count)]));
}

/** The group fields of a frame: empty for a notification outside any group. */
export function groupFields(row: StoredRow, counts: Map<string, number>): { group_count?: number; replaces?: string } {
  if (!row.group_key) return {};
  return { group_count: counts.get(keyOf(row)) ?? 1, replaces: row.group_key };
}
