import { z } from 'zod';
import { EXTERNAL_CHANNELS } from '../../../../queues/jobs.js';
import { CHANNEL_TEST_PATH, channelTestBody, type ChannelTestReport } from '../../routes/admin-channels.js';
import { OUTBOX_PAGE_PATH, OUTBOX_PATH, outboxQuery } from '../../routes/admin-outbox.js';
import type { OutboxMessage } from '../../../channels/outbox.js';
import { CREATED_AT } from '../examples.js';
import type { Operation } from '../operation.js';
import { responseSchemas } from '../responses.js';

/** Registers `schema` as components.schemas[id], as responses.ts does for its own. */
function named<T extends z.ZodType>(id: string, schema: T, description: string): T {
  responseSchemas.add(schema, { id, description });
  return schema;
}

const admin = { kind: 'admin-ui' } as const;
const time = z.string().meta({ format: 'date-time' });
const channel = z.enum(EXTERNAL_CHANNELS);

const outboxMessage = z.strictObject({
  id: z.string(),
  tenant: z.string(),
  channel,
  address: z.string(),
  subject: z.string().describe('the email subject, else the title the channel shows'),
  text: z.string().describe("the text the recipient would read: an email's text part, the SMS text, the IM or push body"),
  html: z.string().nullable().describe("email only: the HTML part"),
  metadata: z.record(z.string(), z.unknown()).describe("the notification's metadata as sent"),
  rich: z.record(z.string(), z.unknown()).describe('what the channel shows beside the text: type, priority, url, image_url, actions, an SMS template'),
  delivery_id: z.string(),
  notification_id: z.string(),
  created_at: time,
});
true satisfies z.output<typeof outboxMessage> extends OutboxMessage ? true : false;

export const outboxPage = named(
  'OutboxPage',
  z.strictObject({
    messages: z.array(outboxMessage),
    count: z.number().int(),
    next_cursor: z.string().nullable().describe('pass as `cursor` for the next (older) page; null on the last'),
  }),
  "A page of the development outbox, newest first.",
);

export const outboxCleared = named('OutboxCleared', z.strictObject({ deleted: z.number().int() }), 'How many messages the outbox held.');

export const channelTestReport = named(
  'ChannelTestReport',
  z.strictObject({
    channel,
    vendor: z.string().describe("the channel's adapter: smtp, aliyun, tencent, wecom, feishu, fcm, apns, fcm+apns, webhook"),
    configured: z.boolean(),
    missing: z.array(z.string()).describe('the variables the channel lacks'),
    credentials: z.strictObject({
      ok: z.boolean().nullable().describe('null: nothing to check with a provider (webhook)'),
      detail: z.string().describe("what answered, or the provider's error"),
    }),
    send: z
      .strictObject({ ok: z.boolean(), provider_message_id: z.string().nullable().optional(), error: z.string().optional() })
      .optional()
      .describe('present when `to` was given'),
  }),
  'What the channel self-test found, step by step.',
);
true satisfies z.output<typeof channelTestReport> extends ChannelTestReport ? true : false;

const email = {
  id: '42',
  tenant: 'default',
  channel: 'email' as const,
  address: 'user123@example.com',
  subject: '订单已发货',
  text: '您的订单 1001 已发货',
  html: '<!doctype html>\n<html><head><meta charset="utf-8"><title>订单已发货</title></head>\n<body><h2>订单已发货</h2>\n<div data-type="info">您的订单 1001 已发货</div>\n</body></html>',
  metadata: {},
  rich: { type: 'info', priority: 'normal', url: null, image_url: null, actions: [] },
  delivery_id: '0b9e6a59-3c1f-5e7e-9d3a-2f7c1a4b8e10',
  notification_id: '018f2b9e-7c1a-7d3e-9f00-3a2b1c4d5e6f',
  created_at: CREATED_AT,
};

const outboxDescription =
  'Only with NODE_ENV=development (404 otherwise): a channel without credentials stores what it would have sent here, as that channel renders it, and records the delivery sent with provider message id `outbox:<id>`. ' +
  "The caller's tenant's messages; each tenant keeps its newest 1000. An admin token as a bearer token or the sign-in cookie (no `?token=`).";

export const operatorToolOperations: Operation[] = [
  {
    method: 'get',
    path: OUTBOX_PATH,
    operationId: 'listOutbox',
    summary: 'Development outbox',
    description: `${outboxDescription} A client that accepts text/html (a browser) gets the page of ${OUTBOX_PAGE_PATH} instead of JSON.`,
    tag: 'Operations',
    access: admin,
    query: { schema: outboxQuery },
    responses: {
      200: { description: 'A page of messages, newest first (or the HTML page).', schema: outboxPage, examples: { one: { summary: 'One email', value: { messages: [email], count: 1, next_cursor: null } } } },
    },
    problems: [401, 403, 404],
  },
  {
    method: 'get',
    path: OUTBOX_PAGE_PATH,
    operationId: 'outboxPage',
    summary: 'Development outbox, as a page',
    description: `${outboxDescription} Each message with its channel, address, subject and text; an email's HTML in a sandboxed frame. No script runs on the page (Content-Security-Policy default-src 'none').`,
    tag: 'Operations',
    access: admin,
    query: { schema: outboxQuery },
    responses: { 200: { description: 'The page.', media: 'text/html' } },
    problems: [401, 403, 404],
  },
  {
    method: 'delete',
    path: OUTBOX_PATH,
    operationId: 'clearOutbox',
    summary: 'Empty the development outbox',
    description: "The caller's tenant's messages. Only with NODE_ENV=development (404 otherwise).",
    tag: 'Operations',
    access: admin,
    responses: { 200: { description: 'Emptied.', schema: outboxCleared, examples: { cleared: { summary: 'Three messages removed', value: { deleted: 3 } } } } },
    problems: [401, 403, 404],
  },
  {
    method: 'post',
    path: CHANNEL_TEST_PATH.replace(':channel', '{channel}'),
    operationId: 'testChannel',
    summary: 'Check a channel against its provider',
    description:
      "Checks the channel's credentials with its provider without sending (an SMTP login, WeCom gettoken, Feishu tenant_access_token, the FCM OAuth token, an APNs request to a device that does not exist, " +
      'a signed read-only Aliyun QuerySendDetails or Tencent PullSmsSendStatusByPhoneNumber; a webhook has nothing to check) and, with `to`, sends a test message there through the same adapter the channel worker uses. ' +
      'Answers 200 with what each step found, whether it worked or not. With NODE_ENV=development an unconfigured channel sends its test message to the outbox.',
    tag: 'Operations',
    access: admin,
    pathParams: { channel: { description: 'email, sms, wechat, feishu, push or webhook (404 for anything else)', schema: z.string() } },
    body: {
      name: 'ChannelTest',
      schema: channelTestBody,
      examples: { check: { summary: 'Credentials only', value: {} }, send: { summary: 'And a test email', value: { to: 'ops@example.com' } } },
    },
    responses: {
      200: {
        description: 'What each step found.',
        schema: channelTestReport,
        examples: {
          ok: {
            summary: 'SMTP answered and took the test message',
            value: {
              channel: 'email',
              vendor: 'smtp',
              configured: true,
              missing: [],
              credentials: { ok: true, detail: 'smtp.example.com:587 answered: logged in as herald@example.com' },
              send: { ok: true, provider_message_id: '<5f0c2d1e-8a47-4c1b-9a3e-1f2d3c4b5a69@example.com>' },
            },
          },
          refused: {
            summary: 'WeCom refused the secret',
            value: { channel: 'wechat', vendor: 'wecom', configured: true, missing: [], credentials: { ok: false, detail: '40001: gettoken: invalid credential' } },
          },
          unconfigured: {
            summary: 'No credentials',
            value: { channel: 'sms', vendor: 'aliyun', configured: false, missing: ['ALIYUN_ACCESS_KEY', 'ALIYUN_ACCESS_SECRET', 'ALIYUN_SMS_SIGN'], credentials: { ok: false, detail: 'not configured: set ALIYUN_ACCESS_KEY, ALIYUN_ACCESS_SECRET, ALIYUN_SMS_SIGN' } },
          },
        },
      },
    },
    problems: [401, 403, 404, 422],
  },
];
