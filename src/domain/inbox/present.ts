import type { NotificationAction, NotificationDraft } from '../../../queues/jobs.js';
import type { NotificationRow } from '../../db/entities/notification.js';
import { audienceOf } from './audience.js';

/**
 * The public JSON of a notification. Both legacy APIs' names are present:
 * `content` and `message`, `metadata` and `extra_data`, `schedule_at` and
 * `scheduled_at`, so clients written for either read it unchanged.
 */
export interface NotificationJson {
  id: string;
  tenant: string;
  title: string;
  content: string;
  message: string;
  type: string;
  priority: string;
  status: string;
  user_id: string | null;
  role: string | null;
  store_id: string | null;
  broadcast: boolean;
  channels: string[];
  fallback_channels: string[];
  metadata: Record<string, unknown>;
  extra_data: Record<string, unknown>;
  source: string | null;
  group_key: string | null;
  idempotency_key: string | null;
  /** what a client opens when the notification is clicked */
  url: string | null;
  /** a picture a client shows with it */
  image_url: string | null;
  /** its buttons, in order: POST /notifications/:id/actions/:n takes button n (from 0) */
  actions: NotificationAction[];
  schedule_at: string | null;
  scheduled_at: string | null;
  created_at: string;
  sent_at: string | null;
  is_read: boolean;
  read_at: string | null;
  /** the reading user's own inbox states (false and null for anyone else, and in a send's answer) */
  is_seen: boolean;
  seen_at: string | null;
  is_archived: boolean;
  archived_at: string | null;
  /** out of the inbox and its counts until this time */
  snoozed_until: string | null;
  /** the inbox cursor of this notification (null until it is in inboxes) */
  cursor: string | null;
}

const iso = (d: Date | string | null | undefined): string | null => (d == null ? null : new Date(d).toISOString());

/** The columns of a StoredRow, for `returning` and `select` lists. */
export const RETURNING = `id, tenant, seq::text as seq, audience, user_id, role, store_id, broadcast, title, content, type,
  priority, status, channels, fallback_channels, metadata, source, group_key, idempotency_key, sender,
  schedule_at, created_at, sent_at, url, image_url, actions`;

export type StoredRow = Omit<NotificationRow, 'updated_at'> & {
  read_at?: Date | string | null;
  /** the reading user's receipt columns, where a query joined them (src/domain/inbox/states.ts) */
  seen_at?: Date | string | null;
  archived_at?: Date | string | null;
  snoozed_until?: Date | string | null;
  /**
   * The tenant's cursor before this row's, set only where the row has just
   * been given its cursor (stored or fired): realtime nodes use it to put
   * frames back in cursor order (src/realtime/order.ts).
   */
  prev?: string | null;
};

export function presentRow(row: StoredRow): NotificationJson {
  return {
    id: row.id,
    tenant: row.tenant,
    title: row.title,
    content: row.content,
    message: row.content,
    type: row.type,
    priority: row.priority,
    status: row.status,
    user_id: row.user_id,
    role: row.role,
    store_id: row.store_id,
    broadcast: row.broadcast,
    channels: row.channels,
    fallback_channels: row.fallback_channels,
    metadata: row.metadata,
    extra_data: row.metadata,
    source: row.source,
    group_key: row.group_key,
    idempotency_key: row.idempotency_key,
    url: row.url,
    image_url: row.image_url,
    actions: row.actions,
    schedule_at: iso(row.schedule_at),
    scheduled_at: iso(row.schedule_at),
    created_at: iso(row.created_at)!,
    sent_at: iso(row.sent_at),
    is_read: row.read_at != null,
    read_at: iso(row.read_at),
    is_seen: row.seen_at != null,
    seen_at: iso(row.seen_at),
    is_archived: row.archived_at != null,
    archived_at: iso(row.archived_at),
    snoozed_until: iso(row.snoozed_until),
    cursor: row.seq == null ? null : String(row.seq),
  };
}

/** The columns a draft will have once stored. */
export function draftToRow(d: NotificationDraft, status: string): StoredRow {
  return {
    id: d.id,
    tenant: d.tenant,
    seq: null,
    audience: audienceOf(d.target),
    user_id: d.target.kind === 'user' ? d.target.id : null,
    role: d.target.kind === 'role' ? d.target.id : null,
    store_id: d.target.kind === 'store' ? d.target.id : null,
    broadcast: d.target.kind === 'tenant',
    title: d.title,
    content: d.content,
    type: d.type,
    priority: d.priority,
    status,
    channels: d.channels,
    fallback_channels: d.fallback_channels,
    metadata: d.metadata,
    source: d.source,
    group_key: d.group_key,
    idempotency_key: d.idempotency_key,
    sender: d.sender,
    schedule_at: d.schedule_at ? new Date(d.schedule_at) : null,
    created_at: new Date(d.created_at),
    sent_at: null,
    url: d.url ?? null,
    image_url: d.image_url ?? null,
    actions: d.actions ?? [],
    // present from the start: storeNotifications overrides it in a spread, and a key the spread adds
    // would give every stored row a slower shape (~40% more ingest worker CPU, measured)
    prev: null,
  };
}

/** The 202 answer for an accepted draft: the notification as stored-to-be. */
export function presentDraft(d: NotificationDraft): NotificationJson {
  return presentRow(draftToRow(d, d.schedule_at ? 'scheduled' : 'queued'));
}
