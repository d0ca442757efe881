import { MAX_COUNTS, batchMark, countQuery, groupedQuery, listQuery, snoozeBody } from '../../routes/inbox.js';
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
  description: 'Unread in the inbox proper: neither what the user archived nor what is snoozed now is counted.',
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

/** Seen, archive, unarchive and unsnooze: one notification, no body, `{ success, message }`. */
const markState = (action: 'seen' | 'archive' | 'unarchive' | 'unsnooze', operationId: string, summary: string, description: string, message: string): Operation => ({
  method: 'put',
  path: `/api/v1/notifications/{id}/${action}`,
  operationId,
  summary,
  description,
  tag: inbox,
  access: user,
  pathParams: { id: notificationIdParam },
  responses: { 200: { description: 'Done (also when it was already so).', schema: res.done, examples: { done: { summary: 'Done', value: { success: true, message } } } } },
  problems: [404],
});

/** seen-all, archive-all, archive-read: the inbox proper, `{ success, message, count }`. */
const markAll = (action: 'seen-all' | 'archive-all' | 'archive-read', operationId: string, summary: string, description: string, message: string): Operation => ({
  method: 'post',
  path: `/api/v1/notifications/${action}`,
  operationId,
  summary,
  description,
  tag: inbox,
  access: user,
  responses: { 200: { description: 'How many changed.', schema: res.markedAll, examples: { two: { summary: 'Two changed', value: { success: true, message, count: 2 } } } } },
});

const stateOperations: Operation[] = [
  {
    method: 'get',
    path: '/api/v1/notifications/count',
    operationId: 'countInbox',
    summary: 'Several counts in one call',
    description:
      `\`filters\` is a JSON array of filter objects (or repeat the parameter, one JSON object each; at most ${MAX_COUNTS} in all). ` +
      'A filter object takes `read`, `seen`, `archived`, `snoozed` (booleans) and `type`, `priority` (one value or a list). ' +
      'Each counts what the list with the same filters would hold: `{}` counts the inbox proper (not archived, not snoozed now), ' +
      '`{"archived":true}` the archive, `{"snoozed":true}` what is snoozed now. The answer has one count per filter, in order. ' +
      'A bad filter is 400 naming `filters.<n>.<field>`.',
    tag: inbox,
    access: user,
    query: {
      schema: countQuery,
      notes: { filters: 'e.g. [{"read":false},{"seen":false},{"archived":true}]: unread, unseen (the bell), archived' },
    },
    responses: {
      200: {
        description: 'One count per filter.',
        schema: res.inboxCounts,
        examples: { three: { summary: 'Unread, unseen, archived', value: { counts: [3, 2, 14] } } },
      },
    },
  },
  markAll(
    'seen-all',
    'markAllSeen',
    'Mark everything seen',
    "Everything unseen in the inbox proper (not the archive, not what is snoozed); the user's other devices get a `notification.seen` event.",
    '已标记2条通知为已查看',
  ),
  markAll(
    'archive-all',
    'archiveAll',
    'Archive everything',
    "Everything in the inbox proper; what is snoozed stays snoozed. The user's other devices get `notification.archived` and `unread_count` events.",
    '已归档2条通知',
  ),
  markAll(
    'archive-read',
    'archiveRead',
    'Archive what is read',
    "What is read in the inbox proper; the user's other devices get a `notification.archived` event.",
    '已归档2条已读通知',
  ),
  markState(
    'seen',
    'markSeen',
    'Mark one seen',
    "Seen is what the bell counts: reading also marks seen. For this user alone; the user's other devices get a `notification.seen` event.",
    '已标记为已查看',
  ),
  markState(
    'archive',
    'archive',
    'Archive one',
    "Out of the inbox and its counts, into the archive (`archived=true`); archiving a snoozed notification ends its snooze. The user's other devices get `notification.archived` and `unread_count` events.",
    '已归档',
  ),
  markState(
    'unarchive',
    'unarchive',
    'Take one out of the archive',
    "Back into the inbox as it was. The user's other devices get `notification.unarchived` with the notification, and `unread_count`.",
    '已取消归档',
  ),
  {
    method: 'put',
    path: '/api/v1/notifications/{id}/snooze',
    operationId: 'snooze',
    summary: 'Snooze one',
    description:
      'Out of the list and every count until `until` (RFC 3339 with an offset, in the future, at most 366 days ahead); then it comes back unread and unseen, ' +
      "and the user's sockets get `notification.unsnoozed` with the notification, and `unread_count`. Snoozing again replaces the time; " +
      "snoozing an archived notification takes it out of the archive. The user's other devices get `notification.snoozed` (with `snoozed_until`) and `unread_count`.",
    tag: inbox,
    access: user,
    pathParams: { id: notificationIdParam },
    body: {
      name: 'Snooze',
      schema: snoozeBody,
      examples: { tomorrow: { summary: 'Until 9:00 tomorrow in Shanghai', value: { until: '2026-11-23T09:00:00+08:00' } } },
    },
    responses: {
      200: {
        description: 'Snoozed.',
        schema: res.snoozed,
        examples: { snoozed: { summary: 'Snoozed', value: { success: true, message: '已设置稍后提醒', snoozed_until: '2026-11-23T01:00:00.000Z' } } },
      },
    },
    problems: [404],
  },
  markState(
    'unsnooze',
    'unsnooze',
    'End a snooze now',
    "The counterpart of snooze: the notification is back in the inbox at once, read or unread as it was. The user's other devices get `notification.unsnoozed` with the notification, and `unread_count`.",
    '已取消稍后提醒',
  ),
];

export const inboxOperations: Operation[] = [
  {
    method: 'get',
    path: '/api/v1/notifications',
    operationId: 'listInbox',
    summary: "The caller's inbox",
    description:
      'Newest first. Three ways to page: `limit`/`offset` (one legacy API), `page`/`page_size` (the other), or `cursor` (keyset: pass the previous answer\'s next_cursor; fastest, no totals). ' +
      '`since` with a cursor reads forward from it, oldest first: everything stored for this user after that cursor, the way a WebSocket client catches up. ' +
      'It lists the inbox proper: not what the user archived (`archived=true` lists the archive) and not what is snoozed now (`snoozed=true` lists that). ' +
      '`q` searches it: only notifications whose title or content contains the text, Chinese or Latin (`q=订单` finds 您的订单已发货, `q=ORDER` finds Order shipped), ' +
      'with the other filters and any of the three pagings; a bad `q` (empty, over 100 characters) is 400 naming `q`. ' +
      'A search\'s `total` counts up to 1,000 matches: past that it is 1,000 with `total_capped: true` ("1,000+").',
    tag: inbox,
    access: user,
    query: {
      schema: listQuery,
      notes: {
        is_read: 'only read (true, 1) or unread (false, 0) notifications',
        seen: 'only seen (true) or unseen (false) notifications',
        archived: 'the archive (true) or the inbox (false, the default)',
        snoozed: 'what is snoozed now (true) or the inbox (false, the default)',
        type: 'comma-separated types: info, success, warning, error, alert, system',
        priority: 'comma-separated priorities: low, normal, high, urgent',
        since: 'a cursor (rows after it, oldest first) or an RFC 3339 time (rows created since)',
        cursor: "the previous page's next_cursor (keyset paging, newest first)",
        limit: 'page size (default 20)',
        offset: 'rows to skip, with limit',
        page: 'page number from 1, with page_size',
        page_size: 'page size (default 20)',
        q: 'search text, 1–100 characters after trimming: title or content contains it (case-insensitive; %, _ and \\ match themselves)',
      },
    },
    responses: {
      200: {
        description: 'One page.',
        schema: res.inboxPage,
        examples: {
          page: {
            summary: 'Page 1 of 1',
            value: { notifications: [exampleInboxNotification()], total: 1, total_capped: false, page: 1, page_size: 20, total_pages: 1, next_cursor: null },
          },
          cursor: {
            summary: 'Keyset paging',
            value: { notifications: [exampleInboxNotification()], total: null, total_capped: null, page: null, page_size: 1, total_pages: null, next_cursor: '1042' },
          },
        },
      },
    },
  },
  unreadCount('/api/v1/notifications/unread-count', 'unreadCount', false),
  unreadCount('/api/v1/notifications/unread/count', 'unreadCountLegacy', true),
  ...stateOperations,
  {
    method: 'get',
    path: '/api/v1/notifications/stats',
    operationId: 'inboxStats',
    summary: 'Inbox totals',
    description: "This user's totals by type, priority and status, read and unread, in the inbox proper (not archived, not snoozed now); with the admin scope also the tenant's, with the live WebSocket connections.",
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
    description: 'One entry per group_key (else per type) of the inbox proper (not archived, not snoozed now), most recent group first, with its size, unread count and latest notification.',
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
