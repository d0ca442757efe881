import { EntitySchema } from '@mikro-orm/core';
import type { NotificationAction } from '../../../queues/jobs.js';

/** A stored notification: one row per audience (a user, a role, a store or the tenant). */
export interface NotificationRow {
  id: string;
  tenant: string;
  /** inbox cursor, as a decimal string (bigint); null while scheduled or after recall */
  seq: string | null;
  /** 'u:<user>' | 'r:<role>' | 's:<store>' | '*' */
  audience: string;
  user_id: string | null;
  role: string | null;
  store_id: string | null;
  broadcast: boolean;
  title: string;
  content: string;
  type: string;
  priority: string;
  status: string;
  channels: string[];
  fallback_channels: string[];
  metadata: Record<string, unknown>;
  source: string | null;
  group_key: string | null;
  idempotency_key: string | null;
  sender: string;
  schedule_at: Date | null;
  created_at: Date;
  sent_at: Date | null;
  /** what a client opens when the notification is clicked */
  url: string | null;
  image_url: string | null;
  /** its buttons ([] when none) */
  actions: NotificationAction[];
  updated_at: Date;
}

export const Notification = new EntitySchema<NotificationRow>({
  name: 'Notification',
  tableName: 'notifications',
  properties: {
    id: { type: 'uuid', primary: true },
    tenant: { type: 'text' },
    seq: { type: 'bigint', nullable: true },
    audience: { type: 'text' },
    user_id: { type: 'text', nullable: true },
    role: { type: 'text', nullable: true },
    store_id: { type: 'text', nullable: true },
    broadcast: { type: 'boolean' },
    title: { type: 'string', length: 200 },
    content: { type: 'string', length: 2000 },
    type: { type: 'text' },
    priority: { type: 'text' },
    status: { type: 'text' },
    channels: { type: 'text[]' },
    fallback_channels: { type: 'text[]' },
    metadata: { type: 'json' },
    source: { type: 'text', nullable: true },
    group_key: { type: 'text', nullable: true },
    idempotency_key: { type: 'text', nullable: true },
    sender: { type: 'text' },
    schedule_at: { type: 'Date', nullable: true },
    created_at: { type: 'Date' },
    sent_at: { type: 'Date', nullable: true },
    url: { type: 'text', nullable: true },
    image_url: { type: 'text', nullable: true },
    actions: { type: 'json' },
    updated_at: { type: 'Date' },
  },
});
