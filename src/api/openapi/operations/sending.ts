import { z } from 'zod';
import { SCOPES } from '../../../auth/jwt.js';
import { DIRECT_MAX_WAIT_S } from '../../../domain/delivery/direct-send.js';
import { notificationSchema } from '../../../domain/sending/input.js';
import { pageQuery as deliveryPageQuery } from '../../routes/deliveries.js';
import { multiChannelSchema, waitQuery } from '../../routes/multi-channel.js';
import { pageQuery as scheduledPageQuery } from '../../routes/schedules.js';
import { bulkShape } from '../../routes/send.js';
import { CREATED_AT, EXAMPLE_ID, EXAMPLE_ID_2, exampleInboxNotification, exampleNotification } from '../examples.js';
import type { Operation } from '../operation.js';
import { notificationIdParam } from '../path-params.js';
import * as res from '../responses.js';

const send = { kind: 'token', scopes: [SCOPES.send] } as const;

/**
 * The bulk body as the route checks it: bulkShape takes the list (its
 * length limits are reused here), then parseNotification checks each item
 * so that an error names its index; the document shows both as one schema.
 */
const listChecks = (bulkShape.shape.notifications._zod.def.checks ?? []) as z.core.$ZodCheck<unknown[]>[];
const bulkBody = bulkShape.extend({ notifications: z.array(notificationSchema).check(...listChecks) });

const waitNote = `Seconds to wait for the outcome (at most ${DIRECT_MAX_WAIT_S} are honoured). Without it the answer is 202 as soon as the send is queued; with it, 200 with each channel's outcome.`;

const shipped = exampleNotification();

export const sendingOperations: Operation[] = [
  {
    method: 'post',
    path: '/api/v1/notifications',
    operationId: 'sendNotification',
    summary: 'Send a notification',
    description:
      'Stores one notification per target (user_id, user_ids, role, store_id, broadcast) and delivers it on its channels. ' +
      'Both legacy request shapes are accepted: `message` for `content`, `extra_data` for `metadata`. ' +
      'A second send with the same `idempotency_key` within 24 hours answers the first result (header `Idempotent-Replayed: true`) and creates nothing. ' +
      '`schedule_at` (RFC 3339 with an offset) sends later; `schedule_local` (no offset) sends at that wall-clock time in each recipient\'s own time zone. ' +
      '`url`, `image_url` and up to three `actions` (buttons: `label`, `url`, `style`) travel with the notification to inboxes and sockets; links are http(s) only. ' +
      'Up to ten `attachments` go with its emails (other channels ignore them): each a `filename` and either `content_base64` (stored at once; ' +
      'over ATTACHMENT_MAX_BYTES per file or ATTACHMENTS_MAX_TOTAL_BYTES together is 413 naming `attachments.<i>.content_base64`; ' +
      'this route takes bodies larger than 1 MiB by that much) or a `url` the email worker fetches once (one it cannot fetch fails the email with reason `attachment_unavailable`).',
    tag: 'Sending',
    access: send,
    body: {
      name: 'SendNotification',
      schema: notificationSchema,
      examples: {
        current: {
          summary: 'content and metadata, to one user on two channels',
          value: {
            title: '订单已发货',
            content: '您的订单 1001 已发货',
            type: 'success',
            user_id: 'user-123',
            channels: ['app', 'email'],
            metadata: { order_id: '1001' },
            source: 'orders',
            idempotency_key: 'order-1001-shipped',
          },
        },
        legacy: {
          summary: 'The legacy shape: message and extra_data, to a role',
          value: { title: '库存预警', message: '商品 可乐 库存不足', type: 'warning', priority: 'high', role: 'store_manager', extra_data: { sku: 'COLA-330' } },
        },
        actions: {
          summary: 'With a link, an image and buttons',
          value: {
            title: '订单待确认',
            content: '门店 store-1 的订单 1003 等待确认',
            user_id: 'user-123',
            url: 'https://shop.example.com/orders/1003',
            image_url: 'https://shop.example.com/img/orders/1003.png',
            actions: [
              { label: '确认', url: 'https://shop.example.com/orders/1003/confirm', style: 'primary' },
              { label: '查看', url: 'https://shop.example.com/orders/1003' },
            ],
          },
        },
        attachments: {
          summary: 'An email with a file inline and one by url',
          value: {
            title: '月度报表',
            content: '附件是 11 月的销售报表',
            user_id: 'user-123',
            channels: ['email'],
            attachments: [
              { filename: 'notes.txt', content_type: 'text/plain', content_base64: '5pys5pyI6ZSA5ZSu6aKd5LiK5Y2HIDEyJQ==' },
              { filename: 'report-2026-11.pdf', url: 'https://files.example.com/reports/2026-11.pdf' },
            ],
          },
        },
        scheduled: {
          summary: 'Scheduled for later, to several users',
          value: { title: '会员日', content: '明天会员日全场九折', user_ids: ['user-123', 'user-456'], schedule_at: '2099-12-01T09:00:00+08:00' },
        },
      },
    },
    responses: {
      202: {
        description: 'Accepted: the notification as it will be stored.',
        schema: res.accepted,
        headers: { 'Idempotent-Replayed': '`true` when the idempotency_key matched an earlier send' },
        examples: { accepted: { summary: 'Queued for one user', value: { ...shipped, ids: [EXAMPLE_ID], count: 1 } } },
      },
    },
    problems: [403, 422],
  },
  {
    method: 'post',
    path: '/api/v1/notifications/bulk',
    operationId: 'sendNotificationsBulk',
    summary: 'Send many notifications',
    description: 'Up to 1000 notifications, each as POST /notifications takes it. Nothing is accepted unless every one is valid; errors name the item (`notifications.3.title`).',
    tag: 'Sending',
    access: send,
    body: {
      name: 'BulkNotifications',
      schema: bulkBody,
      examples: {
        two: {
          summary: 'Two notifications',
          value: {
            notifications: [
              { title: '订单已发货', content: '您的订单 1001 已发货', user_id: 'user-123' },
              { title: '订单已发货', message: '您的订单 1002 已发货', user_id: 'user-456', extra_data: { order_id: '1002' } },
            ],
          },
        },
      },
    },
    responses: {
      202: {
        description: 'Accepted: the ids of every notification created.',
        schema: res.bulkAccepted,
        examples: { accepted: { summary: 'Two notifications', value: { ids: [EXAMPLE_ID, EXAMPLE_ID_2], count: 2 } } },
      },
    },
    problems: [403, 422],
  },
  {
    method: 'post',
    path: '/api/v1/notifications/multi-channel',
    operationId: 'sendMultiChannel',
    summary: 'Send straight to an address on several channels',
    description:
      'The legacy multi-channel send: `recipient` is an email, a phone number, a URL or a channel user id, reached on each external channel; no inbox row is stored. ' +
      'Delivery records are kept (GET /notifications/{id}/deliveries).',
    tag: 'Sending',
    access: send,
    query: { schema: waitQuery, notes: { wait: waitNote } },
    body: {
      name: 'MultiChannelSend',
      schema: multiChannelSchema,
      examples: {
        legacy: {
          summary: 'The legacy shape',
          value: { channels: ['email', 'sms'], recipient: 'manager@example.com', title: '库存预警', message: '商品 可乐 库存不足', extra_data: { sku: 'COLA-330' } },
        },
      },
    },
    responses: {
      202: {
        description: 'Accepted (no `wait`): each channel queued.',
        schema: res.directAccepted,
        examples: { queued: { summary: 'Queued', value: { id: EXAMPLE_ID, success: true, message: '通知已受理', results: { email: 'queued', sms: 'queued' } } } },
      },
      200: {
        description: 'With `wait`: the outcome per channel.',
        schema: res.directOutcome,
        examples: {
          outcome: {
            summary: 'Email delivered, SMS failed',
            value: {
              id: EXAMPLE_ID,
              success: true,
              message: '通知已发送',
              results: { email: true, sms: false },
              errors: { sms: 'not_configured: no SMS provider is configured' },
            },
          },
        },
      },
    },
    problems: [403],
  },
  {
    method: 'get',
    path: '/api/v1/notifications/scheduled',
    operationId: 'listScheduledNotifications',
    summary: "The caller's scheduled notifications",
    description: 'One-off notifications this token sent with schedule_at or schedule_local that have not fired yet, soonest first.',
    tag: 'Sending',
    access: send,
    query: { schema: scheduledPageQuery },
    responses: {
      200: {
        description: 'The waiting notifications.',
        schema: res.notificationList,
        examples: {
          one: {
            summary: 'One waiting',
            value: {
              notifications: [exampleNotification({ status: 'scheduled', schedule_at: '2099-12-01T01:00:00.000Z', scheduled_at: '2099-12-01T01:00:00.000Z' })],
              count: 1,
            },
          },
        },
      },
    },
    problems: [403],
  },
  {
    method: 'post',
    path: '/api/v1/notifications/{id}/cancel',
    operationId: 'cancelNotification',
    summary: 'Cancel a scheduled notification',
    description: 'Only its sender, only before it fires. A notification already sent is 409: recall it instead.',
    tag: 'Sending',
    access: send,
    pathParams: { id: notificationIdParam },
    responses: {
      200: {
        description: 'Cancelled.',
        schema: res.withdrawn,
        examples: {
          cancelled: {
            summary: 'Cancelled',
            value: {
              success: true,
              message: '定时通知已取消',
              id: EXAMPLE_ID,
              status: 'cancelled',
              notification: exampleNotification({ status: 'cancelled', schedule_at: '2099-12-01T01:00:00.000Z', scheduled_at: '2099-12-01T01:00:00.000Z' }),
            },
          },
        },
      },
    },
    problems: [403, 404, 409],
  },
  {
    method: 'delete',
    path: '/api/v1/notifications/{id}/recall',
    operationId: 'recallNotification',
    summary: 'Recall a sent notification',
    description:
      'Only its sender. It leaves every inbox, its pending deliveries are dropped, and open sockets get a `notification.recalled` event. A scheduled one is cancelled instead.',
    tag: 'Sending',
    access: send,
    pathParams: { id: notificationIdParam },
    responses: {
      200: {
        description: 'Recalled (or cancelled, when it had not fired).',
        schema: res.withdrawn,
        examples: {
          recalled: {
            summary: 'Recalled',
            value: { success: true, message: '通知已撤回', id: EXAMPLE_ID, status: 'recalled', notification: exampleInboxNotification({ status: 'recalled' }) },
          },
        },
      },
    },
    problems: [403, 404, 409],
  },
  {
    method: 'get',
    path: '/api/v1/notifications/{id}/deliveries',
    operationId: 'listDeliveries',
    summary: 'Delivery records of a notification',
    description:
      'Per channel and recipient: status, attempts, last error, provider message id, timings. For the sender (notify:send) or an admin of the tenant; anyone else gets 404. ' +
      'The records are paged; `summary` and `total` count them all. `actions_taken` counts, per button, the users who took it.',
    tag: 'Sending',
    access: { kind: 'token', scopes: [SCOPES.send, SCOPES.admin] },
    pathParams: { id: notificationIdParam },
    query: { schema: deliveryPageQuery },
    responses: {
      200: {
        description: 'The records.',
        schema: res.deliveryList,
        examples: {
          sent: {
            summary: 'Email sent',
            value: {
              notification_id: EXAMPLE_ID,
              status: 'sent',
              channels: ['app', 'email'],
              summary: { email: { sent: 1 } },
              total: 1,
              deliveries: [
                {
                  id: 'c1a0f6de-8a51-5b8e-9d6b-1c3f0a7e2b44',
                  channel: 'email',
                  recipient: 'user-123',
                  address: 'user123@example.com',
                  status: 'sent',
                  attempts: 1,
                  reason: null,
                  last_error: null,
                  provider_message_id: '<0192f3a4@herald>',
                  note: null,
                  fallback_of: null,
                  created_at: CREATED_AT,
                  started_at: '2026-11-22T08:00:00.210Z',
                  finished_at: '2026-11-22T08:00:00.640Z',
                  latency_ms: 640,
                },
              ],
              count: 1,
              limit: 100,
              offset: 0,
              actions_taken: [
                { index: 0, label: '确认', count: 1 },
                { index: 1, label: '查看', count: 0 },
              ],
            },
          },
        },
      },
    },
    problems: [404],
  },
];
