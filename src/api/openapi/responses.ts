import { z } from 'zod';
import type { DirectOutcome } from '../../domain/delivery/direct-send.js';
import type { presentDelivery } from '../../domain/delivery/records.js';
import { PUSH_PLATFORMS, type PushPlatform, type presentRecipient, type pushTokensOf } from '../../domain/delivery/recipients.js';
import type { Group, InboxStats } from '../../domain/inbox/inbox.js';
import type { NotificationJson } from '../../domain/inbox/present.js';
import type { presentPreferences } from '../../domain/preferences/preferences.js';
import type { ScheduleJson } from '../../domain/scheduling/recurring.js';
import { CHANNELS, PRIORITIES, TYPES } from '../../domain/sending/input.js';
import type { TemplateJson } from '../../domain/templates/templates.js';
import type { TemplatePreview } from '../../domain/templates/preview.js';
import { variantsSchema } from '../../domain/templates/variants.js';
import type { Problem } from '../middleware/problem.js';

/**
 * The bodies Herald answers, as zod schemas: the document's response
 * schemas, and what the tests check real answers and the document's
 * examples against. Objects are strict, so an answer with a field the
 * document does not name fails those checks.
 */
export const responseSchemas = z.registry<{ id: string; description?: string }>();

/** Registers `schema` as components.schemas[id]. */
function named<T extends z.ZodType>(id: string, schema: T, description?: string): T {
  responseSchemas.add(schema, { id, ...(description ? { description } : {}) });
  return schema;
}

/**
 * True when a schema has exactly the fields of a presenter's type, each of
 * a type that the presenter's type accepts: `true satisfies Describes<…>`
 * stops compiling when a presenter gains, loses or retypes a field.
 */
type Describes<S extends z.ZodType, T> = [keyof z.output<S>] extends [keyof T]
  ? [keyof T] extends [keyof z.output<S>]
    ? z.output<S> extends T
      ? true
      : false
    : false
  : false;

const time = z.string().meta({ format: 'date-time' });
const counts = z.record(z.string(), z.number().int());
const success = z.literal(true);

export const problem = named(
  'Problem',
  z.object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string().optional(),
    errors: z.array(z.strictObject({ path: z.string(), message: z.string() })).optional().describe('one entry per bad field'),
  }),
  'An error, as application/problem+json (RFC 9457).',
);
true satisfies Describes<typeof problem, Problem>;

export const notReady = named(
  'NotReady',
  problem.extend({ down: z.array(z.string()), checks: z.record(z.string(), z.string()) }),
  'GET /ready when a dependency is down: which ones, and what each check said.',
);

export const health = named('Health', z.strictObject({ status: z.literal('ok'), service: z.string(), time }));
export const ready = named('Ready', z.strictObject({ status: z.literal('ready'), checks: z.record(z.string(), z.literal('ok')) }));

export const notification = named(
  'Notification',
  z.strictObject({
    id: z.uuid(),
    tenant: z.string(),
    title: z.string(),
    content: z.string(),
    message: z.string().describe('the same text as content (the legacy field name)'),
    type: z.enum(TYPES),
    priority: z.enum(PRIORITIES),
    status: z.string().describe('queued, scheduled, processing, sent, failed, skipped, cancelled or recalled'),
    user_id: z.string().nullable(),
    role: z.string().nullable(),
    store_id: z.string().nullable(),
    broadcast: z.boolean(),
    channels: z.array(z.enum(CHANNELS)),
    fallback_channels: z.array(z.enum(CHANNELS)),
    metadata: z.record(z.string(), z.unknown()),
    extra_data: z.record(z.string(), z.unknown()).describe('the same object as metadata (the legacy field name)'),
    source: z.string().nullable(),
    group_key: z.string().nullable(),
    idempotency_key: z.string().nullable(),
    url: z.string().nullable().describe('what a client opens when the notification is clicked'),
    image_url: z.string().nullable().describe('a picture a client shows with it'),
    actions: z
      .array(z.strictObject({ label: z.string(), url: z.string(), style: z.enum(['primary', 'secondary']) }))
      .describe('its buttons, in order: POST /notifications/{id}/actions/{n} takes button n (from 0)'),
    schedule_at: time.nullable(),
    scheduled_at: time.nullable().describe('the same time as schedule_at (the legacy field name)'),
    created_at: time,
    sent_at: time.nullable(),
    is_read: z.boolean().describe("the caller's own read state"),
    read_at: time.nullable(),
    is_seen: z.boolean().describe("the caller's own seen state (reading implies seeing)"),
    seen_at: time.nullable(),
    is_archived: z.boolean().describe("the caller's own archive state"),
    archived_at: time.nullable(),
    snoozed_until: time.nullable().describe('out of the inbox and its counts until this time; then unread again'),
    cursor: z.string().nullable().describe('the inbox cursor (null until the notification is in inboxes)'),
  }),
  'A notification. Both legacy field names are present: content and message, metadata and extra_data, schedule_at and scheduled_at.',
);
true satisfies Describes<typeof notification, NotificationJson>;

export const rejectedNotification = named(
  'RejectedNotification',
  notification.extend({ status: z.literal('failed'), failure_reason: z.string(), error: z.string(), failed_at: time }),
  'A notification that was accepted but never stored (PostgreSQL refused its content), as its sender sees it.',
);

export const notificationView = named(
  'NotificationView',
  z.union([notification, rejectedNotification]),
  'GET /notifications/{id}: the notification, or to its sender one that could not be stored.',
);

export const accepted = named(
  'Accepted',
  notification.extend({
    ids: z.array(z.uuid()).describe('every notification the request created: one per target'),
    count: z.number().int(),
    notifications: z.array(notification).optional().describe('all of them, when there is more than one'),
  }),
  'The first notification as stored-to-be (status queued or scheduled), with the ids of all.',
);

export const bulkAccepted = named('BulkAccepted', z.strictObject({ ids: z.array(z.uuid()), count: z.number().int() }));

export const directAccepted = named(
  'DirectAccepted',
  z.strictObject({ id: z.uuid(), success, message: z.string(), results: z.record(z.string(), z.literal('queued')) }),
  'A send straight to an address, accepted: each channel queued.',
);

export const directOutcome = named(
  'DirectOutcome',
  z.strictObject({
    id: z.uuid(),
    success: z.boolean().describe('true when any channel delivered'),
    message: z.string(),
    results: z.record(z.string(), z.boolean()).describe('per channel: delivered or not'),
    pending: z.array(z.string()).optional().describe('channels still sending when the wait ended'),
    errors: z.record(z.string(), z.string()).describe('per failed channel: reason and last error'),
  }),
  'A send straight to an address, after waiting for its outcome (`?wait=`).',
);
true satisfies Describes<typeof directOutcome, DirectOutcome & { id: string }>;

const templateFields = {
  template: z.string().describe('the template name'),
  template_version: z.number().int(),
};

export const templateAccepted = named(
  'TemplateAccepted',
  accepted.extend({
    success,
    message: z.string().describe('the outcome (the rendered text is in content)'),
    ...templateFields,
    results: z.record(z.string(), z.enum(['queued', 'scheduled'])),
  }),
  'A template send to users, roles, stores or the tenant: the notification as stored-to-be, with the legacy answer fields.',
);

const skipped = z.array(z.string()).optional().describe("the template's in-app channels, which an address cannot receive");

export const templateDirectAccepted = named(
  'TemplateDirectAccepted',
  directAccepted.extend({ ...templateFields, skipped }),
  'A template send to an address no recipient has: straight to it, no inbox row.',
);

export const templateSendAccepted = named('TemplateSendAccepted', z.union([templateAccepted, templateDirectAccepted]));

export const templateDirectOutcome = named('TemplateDirectOutcome', directOutcome.extend({ ...templateFields, skipped }));

export const delivery = named(
  'Delivery',
  z.strictObject({
    id: z.string(),
    channel: z.string(),
    recipient: z.string().describe('a user id, or the address of a direct send'),
    address: z.string().nullable(),
    status: z.enum(['queued', 'sending', 'sent', 'failed', 'skipped']),
    attempts: z.number().int(),
    reason: z.string().nullable().describe('why it failed or was skipped'),
    last_error: z.string().nullable(),
    provider_message_id: z.string().nullable(),
    note: z
      .string()
      .nullable()
      .describe('what the channel could not show of the message, e.g. "image not shown: feishu needs an uploaded image_key"; null when it showed everything'),
    fallback_of: z.string().nullable().describe('the delivery this one replaced after it failed'),
    created_at: time,
    started_at: time.nullable(),
    finished_at: time.nullable(),
    latency_ms: z.number().int().nullable().describe("from the notification's creation to its delivery"),
  }),
);
true satisfies Describes<typeof delivery, ReturnType<typeof presentDelivery>>;

export const deliveryList = named(
  'DeliveryList',
  z.strictObject({
    notification_id: z.uuid(),
    status: z.string(),
    channels: z.array(z.string()),
    summary: z.record(z.string(), counts).describe('per channel, how many deliveries are in each status'),
    total: z.number().int(),
    deliveries: z.array(delivery),
    count: z.number().int(),
    limit: z.number().int(),
    offset: z.number().int(),
    actions_taken: z
      .array(z.strictObject({ index: z.number().int(), label: z.string(), count: z.number().int().describe('how many users took it') }))
      .describe("each of the notification's buttons and how many users took it (empty when it has none)"),
  }),
);

export const recipient = named(
  'Recipient',
  z.strictObject({
    user_id: z.string(),
    email: z.string().nullable(),
    phone: z.string().nullable(),
    wecom_user_id: z.string().nullable(),
    feishu_open_id: z.string().nullable(),
    push_tokens: z.array(z.string()),
    webhook_url: z.string().nullable(),
    roles: z.array(z.string()),
    stores: z.array(z.string()),
    timezone: z.string().nullable(),
    locale: z.string().nullable(),
    created_at: time,
    updated_at: time,
  }),
);
true satisfies Describes<typeof recipient, ReturnType<typeof presentRecipient>>;

export const done = named('Done', z.strictObject({ success, message: z.string() }));

export const me = named(
  'Me',
  z.strictObject({
    id: z.string().describe("the token's subject: the user id"),
    tenant: z.string(),
    roles: z.array(z.string()),
    stores: z.array(z.string()),
    scopes: z.array(z.string()),
    unread_count: z.number().int(),
    unseen_count: z.number().int().describe("the bell's badge"),
  }),
  "The token's own user, as the token says, with the inbox's counts.",
);

export const pushTokens = named(
  'PushTokens',
  z.strictObject({
    success,
    token: z.string(),
    platform: z.enum(PUSH_PLATFORMS),
    tokens: z.array(z.strictObject({ token: z.string(), platform: z.enum(PUSH_PLATFORMS) })).describe("all of the user's device tokens now"),
  }),
  'A device token added to the caller\'s own recipient record.',
);
true satisfies Describes<typeof pushTokens, { success: true; token: string; platform: PushPlatform; tokens: ReturnType<typeof pushTokensOf> }>;

export const actionTaken = named(
  'ActionTaken',
  z.strictObject({ success, url: z.string().describe("the button's link: open it") }),
  'A button taken: recorded, and the notification marked read for this user.',
);

export const template = named(
  'Template',
  z.strictObject({
    id: z.uuid(),
    name: z.string(),
    description: z.string().nullable(),
    title: z.string(),
    content: z.string(),
    type: z.enum(TYPES),
    priority: z.enum(PRIORITIES),
    channels: z.array(z.enum(CHANNELS)),
    channel_overrides: z.record(z.string(), z.record(z.string(), z.string())),
    variants: variantsSchema.describe('per-locale texts: the recipient\'s locale picks one (zh-TW → zh → the template\'s own)'),
    variables: z.array(z.string()),
    is_active: z.boolean(),
    version: z.number().int(),
    system: z.boolean().describe('a shipped template this tenant has not changed'),
    created_at: time,
    updated_at: time,
  }),
);
true satisfies Describes<typeof template, TemplateJson>;

const channelBody = z.strictObject({
  title: z.string().describe('the email subject, push title, or the generic title'),
  content: z.string().describe('the email text part, SMS text, IM markdown, push body, or the generic content'),
  html: z.string().optional().describe('email: the HTML part (values escaped)'),
  template_code: z.string().optional().describe("sms: the provider's template code"),
  markdown: z.boolean().optional().describe('wechat, feishu: the content is markdown'),
});

export const templatePreview = named(
  'TemplatePreview',
  z.strictObject({
    template: z.string(),
    template_version: z.number().int(),
    locale: z.string().nullable().describe('the variant picked, null for the template\'s own texts'),
    timezone: z.string(),
    title: z.string(),
    content: z.string(),
    channels: z.record(z.string(), channelBody).describe('what each channel would send'),
  }),
  'A template rendered as it would be sent; nothing is sent.',
);
true satisfies Describes<typeof templatePreview, TemplatePreview>;

export const templateList = named(
  'TemplateList',
  z.strictObject({ templates: z.record(z.string(), template).describe('by name'), count: z.number().int() }),
);

export const templateDeleted = named('TemplateDeleted', z.strictObject({ success, message: z.string(), id: z.uuid(), name: z.string() }));

export const withdrawn = named(
  'Withdrawn',
  z.strictObject({ success, message: z.string(), id: z.uuid(), status: z.string(), notification }),
  'A notification cancelled (before it was sent) or recalled (from every inbox).',
);

export const schedule = named(
  'Schedule',
  z.strictObject({
    id: z.uuid(),
    name: z.string().nullable(),
    cron: z.string(),
    timezone: z.string(),
    notification: z.record(z.string(), z.unknown()).describe('what each occurrence sends, as it was given'),
    is_active: z.boolean(),
    run_count: z.number().int(),
    last_run_at: time.nullable(),
    next_run_at: time.nullable(),
    created_at: time,
  }),
);
true satisfies Describes<typeof schedule, ScheduleJson>;

export const scheduleList = named('ScheduleList', z.strictObject({ schedules: z.array(schedule), count: z.number().int() }));
export const scheduleDeleted = named('ScheduleDeleted', z.strictObject({ success, message: z.string(), id: z.uuid() }));
export const notificationList = named('NotificationList', z.strictObject({ notifications: z.array(notification), count: z.number().int() }));

const clock = z.string().nullable().describe('HH:MM');

export const preferences = named(
  'Preferences',
  z.strictObject({
    user_id: z.string(),
    channels: z.record(z.string(), z.array(z.enum(CHANNELS))).describe('per type (or * for every type): the channels to use'),
    do_not_disturb: z.strictObject({ enabled: z.boolean(), start: clock, end: clock, timezone: z.string() }),
    do_not_disturb_start: clock,
    do_not_disturb_end: clock,
    timezone: z.string().nullable(),
    mute_until: time.nullable(),
    available_channels: z.array(z.enum(CHANNELS)),
    updated_at: time.nullable(),
  }),
  'A user\'s preferences, in both shapes: do_not_disturb { start, end, timezone } and the flat do_not_disturb_start/_end.',
);
// available_channels is a readonly tuple in the presenter: compared as the list it is
true satisfies Describes<
  typeof preferences,
  Omit<ReturnType<typeof presentPreferences>, 'available_channels'> & { available_channels: (typeof CHANNELS)[number][] }
>;

export const inboxPage = named(
  'InboxPage',
  z.strictObject({
    notifications: z.array(notification),
    total: z.number().int().nullable().describe('null when paging by cursor'),
    total_capped: z
      .boolean()
      .nullable()
      .describe('true when a search (`q`) has more than 1,000 matches: `total` is then 1,000 and counts no further; null when paging by cursor'),
    page: z.number().int().nullable().describe('null when paging by cursor'),
    page_size: z.number().int(),
    total_pages: z.number().int().nullable().describe('null when paging by cursor'),
    next_cursor: z.string().nullable().describe('pass as cursor (or since, when reading forward) for the next page'),
  }),
);

export const unreadCount = named('UnreadCount', z.strictObject({ unread_count: z.number().int() }));

const totals = { total: z.number().int(), by_type: counts, by_priority: counts, by_status: counts };

export const inboxStats = named(
  'InboxStats',
  z.strictObject({
    ...totals,
    unread: z.number().int(),
    read: z.number().int(),
    system: z
      .strictObject({ ...totals, websocket_connections: z.number().int() })
      .optional()
      .describe("with the admin scope: the tenant's totals and the live WebSocket connections"),
  }),
);
true satisfies Describes<typeof inboxStats, InboxStats & { system?: unknown }>;

export const group = named(
  'Group',
  z.strictObject({
    group: z.string().describe('the group_key, else the type'),
    group_key: z.string().nullable(),
    type: z.string().nullable(),
    count: z.number().int(),
    unread_count: z.number().int(),
    latest: notification,
  }),
);
true satisfies Describes<typeof group, Group>;

export const groupList = named('GroupList', z.strictObject({ groups: z.array(group) }));
export const readAll = named('ReadAll', z.strictObject({ success, message: z.string(), count: z.number().int() }));
export const markedAll = named('MarkedAll', z.strictObject({ success, message: z.string(), count: z.number().int().describe('how many changed') }));
export const snoozed = named('Snoozed', z.strictObject({ success, message: z.string(), snoozed_until: time.describe('when it comes back, unread') }));
export const inboxCounts = named(
  'InboxCounts',
  z.strictObject({ counts: z.array(z.number().int()).describe('one per filter, in the order given') }),
  'GET /notifications/count: several counts of the inbox in one call.',
);
export const batchMarked = named('BatchMarked', z.strictObject({ success, count: z.number().int().describe('how many changed') }));

export const openApiDocument = named('OpenApiDocument', z.record(z.string(), z.unknown()), 'This document.');
