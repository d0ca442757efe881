import type { EntityManager } from '@mikro-orm/postgresql';
import type { NotificationAction } from '../../../queues/jobs.js';
import type { Principal } from '../../auth/jwt.js';
import { pgArray, query } from '../../db/query.js';
import { NotFoundError } from '../../errors.js';
import { audiencesOf } from './audience.js';
import { markOne } from './inbox.js';

/**
 * The buttons of a notification, as users take them. Taking a button is
 * recorded once per user and button (notification_actions): a second click,
 * or a client retrying the call, changes nothing, so a count says how many
 * people took it. Taking one also marks the notification read for that user,
 * as a notification center does when a message is acted on.
 */

type Reader = Pick<Principal, 'sub' | 'tenant' | 'roles' | 'stores'>;

export interface ActionTaken {
  action: NotificationAction;
  /** true when taking it marked the notification read (it was unread) */
  markedRead: boolean;
}

/**
 * Records that this user took button `index` (from 0) of a notification in
 * their inbox. 404 when the notification is not in this inbox (deleted by
 * the user, another user's, recalled, not yet fired) and when it has no
 * such button.
 */
export async function takeAction(em: EntityManager, who: Reader, id: string, index: number): Promise<ActionTaken> {
  // in this inbox: the same rule as every inbox read (src/domain/inbox/inbox.ts)
  const [row] = await query<{ actions: NotificationAction[] }>(
    em,
    `select n.actions from notifications n
       left join notification_receipts r on r.tenant = n.tenant and r.user_id = ? and r.notification_id = n.id
     where n.id = ? and n.tenant = ? and n.audience = any(?::text[]) and n.seq is not null and r.deleted_at is null`,
    [who.sub, id, who.tenant, pgArray(audiencesOf(who))],
  );
  if (!row) throw new NotFoundError(`Notification ${id} was not found.`);
  const action = row.actions[index];
  if (!action) throw new NotFoundError(`Notification ${id} has no action ${index} (it has ${row.actions.length}, numbered from 0).`);
  await query(
    em,
    `insert into notification_actions (tenant, notification_id, user_id, action_index, label) values (?, ?, ?, ?, ?)
     on conflict do nothing`,
    [who.tenant, id, who.sub, index, action.label],
  );
  const markedRead = await markOne(em, who, id, 'read');
  return { action, markedRead };
}

export interface ActionCount {
  index: number;
  label: string;
  /** how many users took it */
  count: number;
}

/** For the sender: each button of a notification and how many users took it (0 for none). */
export async function actionCounts(em: EntityManager, tenant: string, id: string, actions: NotificationAction[]): Promise<ActionCount[]> {
  if (!actions.length) return [];
  const rows = await query<{ action_index: number; count: number }>(
    em,
    `select action_index, count(*)::int as count from notification_actions where notification_id = ? and tenant = ? group by action_index`,
    [id, tenant],
  );
  const byIndex = new Map(rows.map((r) => [r.action_index, r.count]));
  return actions.map((a, index) => ({ index, label: a.label, count: byIndex.get(index) ?? 0 }));
}
