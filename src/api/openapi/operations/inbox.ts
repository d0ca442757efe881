import { batchMark, groupedQuery, listQuery } from '../../routes/inbox.js';
import { EXAMPLE_ID, EXAMPLE_ID_2, exampleInboxNotification } from '../examples.js';
import type { Operation } from '../operation.js';
import { notificationIdParam } from '../path-params.js';
import * as res from '../responses.js';

const user = { kind: 'token' } as const;
const inbox = 'Inbox';
const read = exampleInboxNotification({ is_read: true, read_at: '2026-11-22T08:05:00.000Z' });

const unreadCount = (path: string, operationId: string, legacy: boolean): Operation => ({
  method: 'get',
  path,
  operationId,
  summary: legacy ? 'Unread count (legacy path)' : 'Unread count',
  tag: inbox,
  access: user,
  responses: { 200: { description: 'How many are unread.', schema: res.unreadCount, examples: { three: { summary: 'Three unread', value: { unread_count: 3 } } } } },
});

const readAll = (method: 'put' | 'post'): Operation => ({
  method,
  path: '/api/v1/notifications/read-all',
  operationId: method === 'put' ? 'markAllRead' : 'markAllReadPost',
  summary: method === 'put' ? 'Mark everything read' : 'Mark everything read (POST)',
  description: "For this user alone; the user's other devices get `notification.read` and `unread_count` events.",
  tag: inbox,
  access: user,
  responses: {
    200: { description: 'How many were marked.', schema: res.readAll, examples: { two: { summary: 'Two marked', value: { success: true, message: '已标记2条通知为已读', count: 2 } } } },
  },
});

const markOne = (action: 'read' | 'unread'): Operation => ({
  method: 'put',
  path: `/api/v1/notifications/{id}/${action}`,
  operationId: action === 'read' ? 'markRead' : 'markUnread',
  summary: `Mark one ${action}`,
  description: `For this user alone; the user's other devices get a \`notification.${action}\` event.`,
  tag: inbox,
  access: user,
  pathParams: { id: notificationIdParam },
  responses: {
    200: {
      description: 'Marked.',
      schema: res.done,
      examples: { marked: { summary: 'Marked', value: { success: true, message: action === 'read' ? '已标记为已读' : '已标记为未读' } } },
    },
  },
  problems: [404],
});

export const inboxOperations: Operation[] = [
  {
    method: 'get',
    path: '/api/v1/notifications',
    operationId: 'listInbox',
    summary: "The caller's inbox",
    description:
      'Newest first. Three ways to page: `limit`/`offset` (one legacy API), `page`/`page_size` (the other), or `cursor` (keyset: pass the previous answer\'s next_cursor; fastest, no totals). ' +
      '`since` with a cursor reads forward from it, oldest first: everything stored for this user after that cursor, the way a WebSocket client catches up.',
    tag: inbox,
    access: user,
    query: {
      schema: listQuery,
      notes: {
        is_read: 'only read (true, 1) or unread (false, 0) notifications',
        type: 'comma-separated types: info, success, warning, error, alert, system',
        priority: 'comma-separated priorities: low, normal, high, urgent',
        since: 'a cursor (rows after it, oldest first) or an RFC 3339 time (rows created since)',
        cursor: "the previous page's next_cursor (keyset paging, newest first)",
        limit: 'page size (default 20)',
        offset: 'rows to skip, with limit',
        page: 'page number from 1, with page_size',
        page_size: 'page size (default 20)',
      },
    },
    responses: {
      200: {
        description: 'One page.',
        schema: res.inboxPage,
        examples: {
          page: {
            summary: 'Page 1 of 1',
            value: { notifications: [exampleInboxNotification()], total: 1, page: 1, page_size: 20, total_pages: 1, next_cursor: null },
          },
          cursor: {
            summary: 'Keyset paging',
            value: { notifications: [exampleInboxNotification()], total: null, page: null, page_size: 1, total_pages: null, next_cursor: '1042' },
          },
        },
      },
    },
  },
  unreadCount('/api/v1/notifications/unread-count', 'unreadCount', false),
  unreadCount('/api/v1/notifications/unread/count', 'unreadCountLegacy', true),
  {
    method: 'get',
    path: '/api/v1/notifications/stats',
    operationId: 'inboxStats',
    summary: 'Inbox totals',
    description: "This user's totals by type, priority and status, read and unread; with the admin scope also the tenant's, with the live WebSocket connections.",
    tag: inbox,
    access: user,
    responses: {
      200: {
        description: 'The totals.',
        schema: res.inboxStats,
        examples: {
          user: {
            summary: 'A user',
            value: { total: 3, unread: 2, read: 1, by_type: { success: 2, warning: 1 }, by_priority: { normal: 3 }, by_status: { sent: 3 } },
          },
        },
      },
    },
  },
  {
    method: 'get',
    path: '/api/v1/notifications/grouped',
    operationId: 'groupedInbox',
    summary: 'The inbox collapsed by group',
    description: 'One entry per group_key (else per type), most recent group first, with its size, unread count and latest notification.',
    tag: inbox,
    access: user,
    query: { schema: groupedQuery },
    responses: {
      200: {
        description: 'The groups.',
        schema: res.groupList,
        examples: {
          one: {
            summary: 'One group',
            value: { groups: [{ group: 'success', group_key: null, type: 'success', count: 2, unread_count: 1, latest: exampleInboxNotification() }] },
          },
        },
      },
    },
  },
  readAll('put'),
  readAll('post'),
  {
    method: 'post',
    path: '/api/v1/notifications/batch-mark',
    operationId: 'batchMark',
    summary: 'Mark several read, unread or deleted',
    description: 'Ids not in this user\'s inbox are ignored; `count` says how many changed.',
    tag: inbox,
    access: user,
    body: {
      name: 'BatchMark',
      schema: batchMark,
      examples: { read: { summary: 'Mark two read', value: { ids: [EXAMPLE_ID, EXAMPLE_ID_2], action: 'read' } } },
    },
    responses: { 200: { description: 'How many changed.', schema: res.batchMarked, examples: { two: { summary: 'Two changed', value: { success: true, count: 2 } } } } },
  },
  {
    method: 'get',
    path: '/api/v1/notifications/{id}',
    operationId: 'getNotification',
    summary: 'One notification',
    description:
      "With this user's is_read/read_at. Another user's notification is 404. Its sender (notify:send) sees it in every state; one that was accepted but could not be stored answers status failed and why.",
    tag: inbox,
    access: user,
    pathParams: { id: notificationIdParam },
    responses: {
      200: {
        description: 'The notification.',
        schema: res.notificationView,
        examples: {
          read: { summary: 'Read', value: read },
          rejected: {
            summary: 'Accepted but never stored (its sender)',
            value: {
              ...exampleInboxNotification({ status: 'failed', sent_at: null, cursor: null }),
              failure_reason: 'invalid_data',
              error: 'not stored: unsupported Unicode escape sequence',
              failed_at: '2026-11-22T08:00:00.300Z',
            },
          },
        },
      },
    },
    problems: [404],
  },
  markOne('read'),
  markOne('unread'),
  {
    method: 'delete',
    path: '/api/v1/notifications/{id}',
    operationId: 'deleteFromInbox',
    summary: 'Delete from the inbox',
    description: "Soft, for this user alone; the user's other devices get a `notification.deleted` event.",
    tag: inbox,
    access: user,
    pathParams: { id: notificationIdParam },
    responses: {
      200: { description: 'Deleted.', schema: res.done, examples: { deleted: { summary: 'Deleted', value: { success: true, message: '通知已删除' } } } },
    },
    problems: [404],
  },
];
