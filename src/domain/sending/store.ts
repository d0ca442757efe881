import type { EntityManager } from '@mikro-orm/postgresql';
import { ensureMonthsOf, isMissingPartition } from '../../db/partitions.js';
import { query } from '../../db/query.js';
import type { NotificationDraft } from '../../../queues/jobs.js';
import { storeExclusions } from '../inbox/exclusions.js';
import { compareCursors } from '../inbox/cursors.js';
import { draftToRow, RETURNING, type StoredRow } from '../inbox/present.js';

/**
 * A notification is done when it only goes to inboxes; external channels
 * keep it processing. A scheduled one waits, in no inbox, for its firing job.
 */
const initialStatus = (d: NotificationDraft): string =>
  d.schedule_at ? 'scheduled' : d.channels.every((c) => c === 'app') ? 'sent' : 'processing';

/**
 * A Postgres array literal of strings, booleans and nulls (knex would expand
 * a JS array into `?, ?, ?`). JSON.stringify quotes and escapes `"` and `\`
 * exactly as an array literal does and writes null as NULL, so a column
 * whose JSON holds no other escape (control characters) is its JSON with
 * braces: one native call instead of a regex per element.
 */
function arrayLiteral(values: ReadonlyArray<string | boolean | null>): string {
  const json = JSON.stringify(values);
  if (!/\\[^"\\]/.test(json)) return `{${json.slice(1, -1)}}`;
  let out = '{';
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (i) out += ',';
    out += v == null ? 'NULL' : typeof v === 'boolean' ? String(v) : `"${v.replace(/[\\"]/g, '\\$&')}"`;
  }
  return out + '}';
}

/**
 * Stores drafts with one multi-row INSERT and returns every row, including
 * those a previous attempt already stored (a retried job creates nothing new
 * but still gets its rows back to publish).
 *
 * Only what the database decides comes back (cursor, status, sent_at); the
 * rest of each row is the draft itself, so 500 wide rows are not shipped
 * back and parsed just to learn what we sent.
 *
 * Cursors: each tenant's rows take `seq` values under that tenant's advisory
 * lock, held to commit, so commit order is seq order within a tenant and a
 * reader that has seen cursor N never later finds a new row below N.
 *
 * The lock, the INSERT and the commit are one statement, run on its own
 * (autocommit): herald_store_notifications (migrations/
 * Migration20261122070000_store_notifications_fn.ts; its current version, with
 * url, image_url and actions, in Migration20261205110000_actions.ts). So the lock is held
 * for the INSERT and the commit only, never while this process's event loop
 * is busy with something else.
 */
export async function storeNotifications(em: EntityManager, drafts: NotificationDraft[]): Promise<StoredRow[]> {
  const unique = [...new Map(drafts.map((d) => [d.id, d])).values()];
  if (!unique.length) return [];
  const rows = unique.map((d) => draftToRow(d, initialStatus(d)));
  const tenants = [...new Set(unique.map((d) => d.tenant))].sort();
  const text = (pick: (r: StoredRow) => string | boolean | null) => arrayLiteral(rows.map(pick));
  const store = () => query<{ r_id: string; r_seq: string | null; r_status: string; r_sent_at: Date | null; r_head: string | null }>(
    em,
    `select * from herald_store_notifications(?::text[], ?::uuid[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[],
       ?::boolean[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::jsonb[], ?::text[], ?::text[],
       ?::text[], ?::text[], ?::timestamptz[], ?::timestamptz[], ?::text[], ?::text[], ?::jsonb[])`,
    [
      arrayLiteral(tenants),
      text((r) => r.id),
      text((r) => r.tenant),
      text((r) => r.audience),
      text((r) => r.user_id),
      text((r) => r.role),
      text((r) => r.store_id),
      text((r) => r.broadcast),
      text((r) => r.title),
      text((r) => r.content),
      text((r) => r.type),
      text((r) => r.priority),
      text((r) => r.status),
      text((r) => arrayLiteral(r.channels)),
      text((r) => arrayLiteral(r.fallback_channels)),
      text((r) => JSON.stringify(r.metadata)),
      text((r) => r.source),
      text((r) => r.group_key),
      text((r) => r.idempotency_key),
      text((r) => r.sender),
      arrayLiteral(unique.map((d) => d.schedule_at)),
      arrayLiteral(unique.map((d) => d.created_at)),
      text((r) => r.url),
      text((r) => r.image_url),
      // no buttons is null here: the function stores it as []
      text((r) => (r.actions.length ? JSON.stringify(r.actions) : null)),
    ],
  );
  const stored = await store().catch(async (err) => {
    // the scheduler makes months ahead; if it has fallen behind, a send is not refused for it
    if (!isMissingPartition(err)) throw err;
    await ensureMonthsOf(em, unique.map((d) => d.id));
    return store();
  });
  await storeExclusions(em, unique);
  const byId = new Map(rows.map((r) => [r.id, r]));
  const out = stored.map((s) => ({ ...byId.get(s.r_id)!, seq: s.r_seq, status: s.r_status, sent_at: s.r_sent_at, prev: s.r_head }));
  chain(out.filter((r) => r.prev != null));
  return out;
}

/**
 * Fires scheduled notifications: each takes its inbox cursor now, under the
 * tenant's advisory lock like storeNotifications (so cursors stay in commit
 * order), and its status moves on as if it had just been stored. Only rows
 * still 'scheduled' fire, so a cancelled, recalled or already fired one is
 * left alone and a firing job that runs twice fires once. `missing` are ids
 * not stored yet (their ingest job is still to run). Fired rows get `prev`
 * and move the tenant's head, as herald_store_notifications does for stored
 * rows.
 */
export async function fireScheduled(em: EntityManager, tenant: string, ids: string[]): Promise<{ fired: StoredRow[]; missing: string[] }> {
  return em.transactional(async (tem) => {
    await tem.execute(`select pg_advisory_xact_lock(hashtext('herald.seq.' || ?))`, [tenant]);
    const list = `{${ids.join(',')}}`;
    // the update also moves the tenant's head and reads the one before it (the statement's snapshot
    // predates its own writes): the lock is held for no extra round trip
    const fired = await tem.execute<StoredRow[]>(
      `with fired as (
         update notifications set seq = nextval('notification_seq'),
           status = case when channels <@ '{app}'::text[] then 'sent' else 'processing' end,
           sent_at = case when channels <@ '{app}'::text[] then now() end,
           updated_at = now()
         where tenant = ? and id = any(?::uuid[]) and status = 'scheduled'
         returning ${RETURNING}
       ),
       moved as (
         insert into notification_heads as h (tenant, last_seq)
         select tenant, max(seq::bigint) from fired group by tenant
         on conflict (tenant) do update set last_seq = greatest(h.last_seq, excluded.last_seq)
       )
       select fired.*, coalesce((select last_seq::text from notification_heads where tenant = ?), '0') as prev from fired`,
      [tenant, list, tenant],
    );
    chain(fired);
    const found = await tem.execute<Array<{ id: string }>>(`select id from notifications where tenant = ? and id = any(?::uuid[])`, [tenant, list]);
    const stored = new Set(found.map((r) => r.id));
    return { fired, missing: ids.filter((id) => !stored.has(id)) };
  });
}

/**
 * Links rows that carry their tenant's head in `prev` into one chain per
 * tenant, in cursor order: the lowest keeps the head, each next one points at
 * the one before it.
 */
function chain(rows: StoredRow[]): void {
  const byCursor = [...rows].sort((a, b) => compareCursors(a.seq!, b.seq!));
  const last = new Map<string, string>();
  for (const row of byCursor) {
    const before = last.get(row.tenant);
    if (before) row.prev = before;
    last.set(row.tenant, row.seq!);
  }
}
