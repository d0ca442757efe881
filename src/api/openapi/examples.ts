import type { NotificationJson } from '../../domain/inbox/present.js';

/**
 * Values the document's examples share, so that a notification looks the
 * same in every answer that carries one. test/openapi.test.ts checks every
 * example against its schema.
 */
export const EXAMPLE_ID = '0192f3a4-5b6c-7d8e-9f01-23456789abcd';
export const EXAMPLE_ID_2 = '0192f3a4-5b6d-7a10-8c22-3456789abcde';
export const EXAMPLE_TEMPLATE_ID = '6f1c2b3a-4d5e-4f60-8a7b-9c0d1e2f3a4b';
export const EXAMPLE_SCHEDULE_ID = '0192f3a0-1111-7222-8333-444455556666';
export const CREATED_AT = '2026-11-22T08:00:00.000Z';

/** A notification to user-123 as the api answers it; `changes` make the variant an example needs. */
export function exampleNotification(changes: Partial<NotificationJson> = {}): NotificationJson {
  const metadata = changes.metadata ?? { order_id: '1001' };
  const content = changes.content ?? '您的订单 1001 已发货';
  return {
    id: EXAMPLE_ID,
    tenant: 'default',
    title: '订单已发货',
    content,
    message: content,
    type: 'success',
    priority: 'normal',
    status: 'queued',
    user_id: 'user-123',
    role: null,
    store_id: null,
    broadcast: false,
    channels: ['app', 'email'],
    fallback_channels: [],
    metadata,
    extra_data: metadata,
    source: 'orders',
    group_key: null,
    idempotency_key: 'order-1001-shipped',
    url: null,
    image_url: null,
    actions: [],
    schedule_at: null,
    scheduled_at: null,
    created_at: CREATED_AT,
    sent_at: null,
    is_read: false,
    read_at: null,
    is_seen: false,
    seen_at: null,
    is_archived: false,
    archived_at: null,
    snoozed_until: null,
    cursor: null,
    ...changes,
  };
}

/** The same notification once delivered to inboxes. */
export const exampleInboxNotification = (changes: Partial<NotificationJson> = {}) =>
  exampleNotification({ status: 'sent', sent_at: '2026-11-22T08:00:00.180Z', cursor: '1042', ...changes });
