import type { EntityManager } from '@mikro-orm/postgresql';
import { query } from '../db/query.js';
import type { NotificationDraft } from '../../queues/jobs.js';
import { draftToRow, presentRow, type StoredRow } from './present.js';

const COLUMNS = `id uuid, tenant text, audience text, user_id text, role text, store_id text, broadcast boolean,
  title text, content text, type text, priority text, status text, channels text[], fallback_channels text[],
  metadata jsonb, source text, group_key text, idempotency_key text, sender text, schedule_at timestamptz,
  created_at timestamptz`;
const NAMES = COLUMNS.split(',').map((c) => c.trim().split(' ')[0]);

export const RETURNING = `id, tenant, seq::text as seq, audience, user_id, role, store_id, broadcast, title, content, type,
  priority, status, channels, fallback_channels, metadata, source, group_key, idempotency_key, sender,
  schedule_at, created_at, sent_at`;

/**
 * A notification is done when it only goes to inboxes; external channels
 * keep it processing. A scheduled one waits, in no inbox, for its firing job.
 */
const initialStatus = (d: NotificationDraft): string =>
  d.schedule_at ? 'scheduled' : d.channels.every((c) => c === 'app') ? 'sent' : 'processing';

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
 */
export async function storeNotifications(em: EntityManager, drafts: NotificationDraft[]): Promise<StoredRow[]> {
  const unique = [...new Map(drafts.map((d) => [d.id, d])).values()];
  if (!unique.length) return [];
  const rows = unique.map((d) => draftToRow(d, initialStatus(d)));
  const tenants = [...new Set(unique.map((d) => d.tenant))].sort();
  const stored = await em.transactional(async (tem) => {
    for (const t of tenants) await query(tem, `select pg_advisory_xact_lock(hashtext('herald.seq.' || ?))`, [t]);
    const inserted = await query<{ id: string; seq: string | null; status: string; sent_at: Date | null }>(
      tem,
      `insert into notifications (${NAMES.join(', ')}, seq, sent_at)
       select ${NAMES.map((n) => `x.${n}`).join(', ')}, case when x.status <> 'scheduled' then nextval('notification_seq') end,
              case when x.status = 'sent' then now() end
       from json_to_recordset(?::json) as x(${COLUMNS})
       on conflict (id) do update set id = excluded.id
       returning id, seq::text as seq, status, sent_at`,
      [JSON.stringify(rows.map((r) => ({ ...r, seq: undefined, sent_at: undefined })))],
    );
    await storeExclusions(tem, unique);
    return inserted;
  });
  const byId = new Map(rows.map((r) => [r.id, r]));
  return stored.map((s) => ({ ...byId.get(s.id)!, seq: s.seq, status: s.status, sent_at: s.sent_at }));
}

/**
 * Members left out of a shared notification (NotificationDraft.except) get
 * a receipt marked deleted, in the same transaction as the row: it is
 * hidden from their inbox and unread count from the first moment, and
 * src/domain/exclusions.ts keeps it off their sockets and channels.
 */
async function storeExclusions(em: EntityManager, drafts: NotificationDraft[]): Promise<void> {
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

/**
 * Fires scheduled notifications: each takes its inbox cursor now, under the
 * tenant's advisory lock like storeNotifications (so cursors stay in commit
 * order), and its status moves on as if it had just been stored. Only rows
 * still 'scheduled' fire, so a cancelled, recalled or already fired one is
 * left alone and a firing job that runs twice fires once. `missing` are ids
 * not stored yet (their ingest job is still to run).
 */
export async function fireScheduled(em: EntityManager, tenant: string, ids: string[]): Promise<{ fired: StoredRow[]; missing: string[] }> {
  return em.transactional(async (tem) => {
    await tem.execute(`select pg_advisory_xact_lock(hashtext('herald.seq.' || ?))`, [tenant]);
    const list = `{${ids.join(',')}}`;
    const fired = await tem.execute<StoredRow[]>(
      `update notifications set seq = nextval('notification_seq'),
         status = case when channels <@ '{app}'::text[] then 'sent' else 'processing' end,
         sent_at = case when channels <@ '{app}'::text[] then now() end,
         updated_at = now()
       where tenant = ? and id = any(?::uuid[]) and status = 'scheduled'
       returning ${RETURNING}`,
      [tenant, list],
    );
    const found = await tem.execute<Array<{ id: string }>>(`select id from notifications where tenant = ? and id = any(?::uuid[])`, [tenant, list]);
    const stored = new Set(found.map((r) => r.id));
    return { fired, missing: ids.filter((id) => !stored.has(id)) };
  });
}

/** The realtime frame of a stored notification (DESIGN §4): the notification itself plus its event name. */
export function notificationFrame(row: StoredRow) {
  return { event: 'notification', ...presentRow(row) };
}
