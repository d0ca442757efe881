import type { EntityManager } from '@mikro-orm/postgresql';
import type { Principal } from '../../auth/jwt.js';
import { query } from '../../db/query.js';
import { audiencesOf } from './audience.js';
import { horizonOf } from './horizon.js';
import { IN_INBOX } from './inbox.js';

type Reader = Pick<Principal, 'sub' | 'tenant' | 'roles' | 'stores'>;

export interface InboxHead {
  /** notifications in the inbox this user has not read */
  unread: number;
  /** the newest notification's cursor a client may be given ('0' when the inbox is empty): at most the commit horizon (horizon.ts) */
  cursor: string;
  /** the newest notification's cursor, past the horizon too: a replay that starts now must reach it ('0' when empty) */
  newest: string;
}

/**
 * The unread count and newest cursor of many inboxes in one statement: the
 * welcome frames of a batch of sockets (a reconnect storm opens thousands
 * within a second). Each reader's inbox is what src/domain/inbox/inbox.ts reads —
 * the notifications of its audiences with a cursor, less what it deleted;
 * unread counts leave out what is archived or snoozed, as the inbox's do —
 * with one index range scan per audience;
 * a statement per socket cost PostgreSQL its parse, plan and round trip
 * each time. Runs on the primary: a welcome's cursor must not lag behind a
 * frame already published. Answers in the order of `readers`.
 */
export async function inboxHeads(em: EntityManager, readers: readonly Reader[]): Promise<InboxHead[]> {
  if (!readers.length) return [];
  const rows = readers.map((r, i) => ({ i, sub: r.sub, tenant: r.tenant, audiences: audiencesOf(r) }));
  const found = await query<{ i: number; unread: string; cursor: string | null; newest: string | null }>(
    em,
    `select w.i, h.unread, h.cursor, h.newest
     from jsonb_to_recordset(?::jsonb) as w(i int, sub text, tenant text, audiences text[])
     cross join lateral (
       select count(*) filter (where r.read_at is null and ${IN_INBOX}) as unread,
         max(n.seq) filter (where n.seq <= ${horizonOf('w.tenant')})::text as cursor, max(n.seq)::text as newest
       from notifications n
       left join notification_receipts r on r.tenant = n.tenant and r.user_id = w.sub and r.notification_id = n.id
       where n.tenant = w.tenant and n.audience = any(w.audiences) and n.seq is not null and r.deleted_at is null
     ) h`,
    [JSON.stringify(rows)],
  );
  const heads: InboxHead[] = new Array(readers.length);
  for (const row of found) heads[row.i] = { unread: Number(row.unread), cursor: row.cursor ?? '0', newest: row.newest ?? '0' };
  return heads;
}
