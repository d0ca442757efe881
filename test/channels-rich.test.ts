/**
 * Rich messages end to end (api → ingest → channel workers → provider
 * fakes): a notification's link, picture and buttons, and a template's
 * per-channel bodies, as each provider's documented message types carry
 * them — WeCom textcard, news and markdown, a Feishu interactive card, FCM
 * and APNs fields, email HTML buttons, the webhook body — and the note a
 * delivery records when its channel could not show part of the message.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { APNS_ACTIONS_CATEGORY } from '../src/channels/push/apns.js';
import { createHarness, uniq, waitFor, type Harness } from './helpers/harness.js';
import { deliveriesOf, startChannelWorker } from './helpers/channels.js';
import { makeApnsKey, startApnsFake } from './fakes/apns.js';
import { makeServiceAccount, startFcmFake } from './fakes/fcm.js';
import { startFeishuFake } from './fakes/feishu.js';
import { startSmtpServer } from './fakes/smtp.js';
import { startWebhookReceiver } from './fakes/webhook-receiver.js';
import { startWecomFake } from './fakes/wecom.js';

const BUNDLE_ID = 'com.example.herald';
const IPHONE = randomBytes(32).toString('hex');
const key = makeApnsKey();

let h: Harness;
let svc: string;
let wecom: Awaited<ReturnType<typeof startWecomFake>>;
let feishu: Awaited<ReturnType<typeof startFeishuFake>>;
let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
let fcm: Awaited<ReturnType<typeof startFcmFake>>;
let apns: Awaited<ReturnType<typeof startApnsFake>>;
let hooks: Awaited<ReturnType<typeof startWebhookReceiver>>;

beforeAll(async () => {
  h = await createHarness();
  const account = await makeServiceAccount('herald-rich-test');
  [wecom, feishu, smtp, fcm, apns, hooks] = await Promise.all([
    startWecomFake({ users: ['zhangsan'] }),
    startFeishuFake({ users: ['ou_alice'] }),
    startSmtpServer(),
    startFcmFake(account, ['android-rich']),
    startApnsFake({ key, bundleId: BUNDLE_ID, devices: [IPHONE] }),
    startWebhookReceiver('rich-hook-secret'),
  ]);
  for (const f of [wecom, feishu, smtp, fcm, apns, hooks]) h.life.add('fake', () => f.close());
  await h.startIngest();
  await Promise.all([
    startChannelWorker(h, 'wechat', { WECHAT_CORP_ID: wecom.corpId, WECHAT_CORP_SECRET: wecom.secret, WECHAT_AGENT_ID: String(wecom.agentId), WECOM_API_BASE: wecom.url }),
    startChannelWorker(h, 'feishu', { FEISHU_APP_ID: feishu.appId, FEISHU_APP_SECRET: feishu.appSecret, FEISHU_API_BASE: feishu.url }),
    startChannelWorker(h, 'email', { SMTP_HOST: smtp.host, SMTP_PORT: String(smtp.port), SMTP_FROM: 'noreply@herald.test' }),
    startChannelWorker(h, 'push', {
      FCM_PROJECT_ID: account.projectId,
      FCM_CLIENT_EMAIL: account.clientEmail,
      FCM_PRIVATE_KEY: account.privateKeyPem,
      FCM_API_BASE: fcm.url,
      FCM_TOKEN_URL: fcm.tokenUrl,
      APNS_KEY_ID: key.keyId,
      APNS_TEAM_ID: key.teamId,
      APNS_TOPIC: BUNDLE_ID,
      APNS_PRIVATE_KEY: key.privateKeyPem.replace(/\n/g, '\\n'),
      APNS_API_BASE: apns.url,
    }),
    startChannelWorker(h, 'webhook', { WEBHOOK_SECRET: 'rich-hook-secret' }),
  ]);
  svc = await h.serviceToken();
}, 60_000);
afterAll(() => h.close());

const ALL = ['wechat', 'feishu', 'email', 'push', 'webhook'];

/** A recipient reachable on every external channel: WeCom, Feishu, email, an Android phone (FCM), an iPhone (APNs), a webhook. */
async function everywhere(): Promise<string> {
  const user = uniq('u-rich');
  const r = await h.request('PUT', `/api/v1/recipients/${user}`, {
    token: svc,
    body: { wecom_user_id: 'zhangsan', feishu_open_id: 'ou_alice', email: `${user}@example.com`, push_tokens: ['android-rich'], webhook_url: `${hooks.url}/${user}` },
  });
  expect(r.status).toBe(200);
  const own = await h.request('PUT', '/api/v1/me/push-tokens', { token: await h.token({ sub: user }), body: { token: IPHONE, platform: 'apns' } });
  expect(own.status).toBe(200);
  return user;
}

/** Waits until the notification's deliveries on `channels` are all final; returns them by channel. */
async function settled(id: string, channels: string[]): Promise<Record<string, any>> {
  const rows = await waitFor(
    async () => {
      const all = await deliveriesOf(h, id);
      return all.length >= channels.length && all.every((r) => ['sent', 'failed', 'skipped'].includes(r.status)) ? all : null;
    },
    20_000,
    `deliveries of ${id} to settle`,
  );
  return Object.fromEntries(rows.map((r) => [r.channel, r]));
}

const send = async (body: Record<string, unknown>) => {
  const r = await h.request('POST', '/api/v1/notifications', { token: svc, body: { title: '订单 #7 已付款', content: '请尽快发货', ...body } });
  expect(r.status).toBe(202);
  return r.body.id as string;
};

const fcmMessage = (deliveryId: string) =>
  fcm.requests.map((r) => (r.path.endsWith('messages:send') ? JSON.parse(r.body).message : null)).find((m) => m?.data?.delivery_id === deliveryId);

const ORDER = 'https://shop.example/orders/7?tab=pay&x=1';
const IMAGE = 'https://cdn.example/p/7.png';
const ACTIONS = [
  { label: '发货 <now>', url: 'https://shop.example/orders/7/ship?a=1&b="2"', style: 'primary' },
  { label: '联系买家', url: 'https://shop.example/chat/7', style: 'secondary' },
  { label: '退款', url: 'https://shop.example/orders/7/refund', style: 'secondary' },
];

describe('a notification with a link, a picture and three buttons', () => {
  let id: string;
  let rows: Record<string, any>;
  beforeAll(async () => {
    id = await send({ user_id: await everywhere(), channels: ALL, url: ORDER, image_url: IMAGE, actions: ACTIONS, type: 'warning' });
    rows = await settled(id, ALL);
  }, 30_000);

  test('every channel delivered it', () => {
    expect(Object.fromEntries(Object.entries(rows).map(([c, r]) => [c, r.status]))).toEqual(Object.fromEntries(ALL.map((c) => [c, 'sent'])));
  });

  test('WeCom gets a news message: one article with the title, the content, the link and the picture; the buttons are noted as not shown', () => {
    const got = wecom.delivered.find((m) => m.msgid === rows.wechat.provider_message_id)!;
    expect(got.msgtype).toBe('news');
    expect(got.news).toEqual({ articles: [{ title: '订单 #7 已付款', description: '请尽快发货', url: ORDER, picurl: IMAGE }] });
    expect(rows.wechat.note).toContain('buttons not shown');
  });

  test('Feishu gets an interactive card: title in the header, the content in a div, three buttons with their urls, the first primary; the picture is noted', () => {
    const got = feishu.delivered.find((m) => m.message_id === rows.feishu.provider_message_id)!;
    expect(got.msg_type).toBe('interactive');
    const card = JSON.parse(got.content);
    expect(card.header).toEqual({ title: { tag: 'plain_text', content: '订单 #7 已付款' }, template: 'orange' });
    expect(card.card_link).toEqual({ url: ORDER });
    expect(card.elements[0]).toEqual({ tag: 'div', text: { tag: 'plain_text', content: '请尽快发货' } });
    expect(card.elements[1]).toEqual({
      tag: 'action',
      actions: ACTIONS.map((a) => ({ tag: 'button', text: { tag: 'plain_text', content: a.label }, url: a.url, type: a.style === 'primary' ? 'primary' : 'default' })),
    });
    expect(card.elements.some((e: { tag: string }) => e.tag === 'img')).toBe(false);
    expect(rows.feishu.note).toBe('image not shown: feishu needs an uploaded image_key');
  });

  test('FCM gets the picture as notification.image and the link in data and webpush; the buttons travel in data for the app', () => {
    const m = fcmMessage(rows.push.id);
    expect(m.token).toBe('android-rich');
    expect(m.notification).toEqual({ title: '订单 #7 已付款', body: '请尽快发货', image: IMAGE });
    expect(m.data).toMatchObject({ url: ORDER, image_url: IMAGE });
    expect(JSON.parse(m.data.actions)).toEqual(ACTIONS);
    expect(m.webpush).toEqual({ fcm_options: { link: ORDER } });
    expect(m.apns.payload.aps['mutable-content']).toBe(1);
    expect(m.apns.fcm_options).toEqual({ image: IMAGE });
    expect(rows.push.note).toContain('fcm: buttons not shown by the system notification');
  });

  test('APNs gets mutable-content, the actions category and the link, picture and buttons as custom keys', () => {
    const req = apns.accepted.find((r) => r.headers['apns-id'] === rows.push.id)!;
    expect(req.device).toBe(IPHONE);
    expect(req.payload).toEqual({
      aps: { alert: { title: '订单 #7 已付款', body: '请尽快发货' }, sound: 'default', 'mutable-content': 1, category: APNS_ACTIONS_CATEGORY },
      notification_id: id,
      delivery_id: rows.push.id,
      url: ORDER,
      image_url: IMAGE,
      actions: ACTIONS,
    });
  });

  test('the email shows the picture and the buttons as links, every value escaped, and its text part lists the links', () => {
    const mail = smtp.mails.find((m) => m.messageId?.includes(rows.email.id))!;
    const html = String(mail.html);
    expect(html).toContain(`<img src="${IMAGE}"`);
    expect(html).toContain('<a href="https://shop.example/orders/7?tab=pay&amp;x=1" style="');
    expect(html).toContain('<a href="https://shop.example/orders/7/ship?a=1&amp;b=&quot;2&quot;" style="');
    expect(html).toContain('>发货 &lt;now&gt;</a>');
    expect(html).not.toContain('<now>');
    expect(html.indexOf('<img')).toBeLessThan(html.indexOf('</body>'));
    expect(mail.text).toContain(`详情: ${ORDER}`);
    for (const a of ACTIONS) expect(mail.text).toContain(`${a.label}: ${a.url}`);
    expect(rows.email.note).toBeNull();
  });

  test('the webhook body carries url, image_url and actions', () => {
    const event = hooks.events.find((e) => e.delivery === rows.webhook.id)!;
    expect(event.body.notification).toMatchObject({ id, url: ORDER, image_url: IMAGE, actions: ACTIONS });
  });

  test('GET /notifications/:id/deliveries shows each delivery\'s note', async () => {
    const r = await h.request('GET', `/api/v1/notifications/${id}/deliveries`, { token: svc });
    expect(r.status).toBe(200);
    const notes = Object.fromEntries(r.body.deliveries.map((d: { channel: string; note: string | null }) => [d.channel, d.note]));
    expect(notes).toMatchObject({ feishu: 'image not shown: feishu needs an uploaded image_key', email: null, webhook: null });
  });
});

test('a link and buttons without a picture make a WeCom textcard whose button is the one that opens the link; the others are noted', async () => {
  const user = await everywhere();
  const actions = [
    { label: '联系买家', url: 'https://shop.example/chat/8', style: 'secondary' },
    { label: '查看', url: 'https://shop.example/orders/8', style: 'primary' },
  ];
  const id = await send({ user_id: user, channels: ['wechat', 'feishu'], url: 'https://shop.example/orders/8', actions });
  const rows = await settled(id, ['wechat', 'feishu']);
  expect(rows.wechat.status).toBe('sent');
  const got = wecom.delivered.find((m) => m.msgid === rows.wechat.provider_message_id)!;
  expect(got.msgtype).toBe('textcard');
  expect(got.textcard).toEqual({ title: '订单 #7 已付款', description: '请尽快发货', url: 'https://shop.example/orders/8', btntxt: '查看' });
  expect(rows.wechat.note).toBe('buttons not shown: 联系买家 (a wecom textcard has one button)');
  // Feishu shows both buttons: nothing left out
  expect(rows.feishu.note).toBeNull();
});

test('a plain notification is text on WeCom and Feishu, as before, with no note', async () => {
  const user = await everywhere();
  const id = await send({ user_id: user, channels: ['wechat', 'feishu'], content: `纯文本 ${uniq('n')}` });
  const rows = await settled(id, ['wechat', 'feishu']);
  expect(wecom.delivered.find((m) => m.msgid === rows.wechat.provider_message_id)?.msgtype).toBe('text');
  expect(feishu.delivered.find((m) => m.message_id === rows.feishu.provider_message_id)?.msg_type).toBe('text');
  expect([rows.wechat.note, rows.feishu.note]).toEqual([null, null]);
});

test("a template's markdown bodies reach WeCom as markdown and Feishu as a lark_md card; its push and email bodies replace the generic texts", async () => {
  const editor = await h.token({ sub: 'editor', scope: 'templates:write' });
  const name = uniq('order_md');
  const created = await h.request('POST', '/api/v1/notifications/templates', {
    token: editor,
    body: {
      name,
      title: '订单 {order_id}',
      content: '订单 {order_id} 已付款',
      channels: ['wechat', 'feishu', 'push', 'email'],
      channel_overrides: {
        wechat: { markdown: '**订单 {order_id}** 已付款 <font color="warning">待发货</font>' },
        feishu: { markdown: '**订单 {order_id}** 已付款' },
        push: { title: '新订单', body: '{order_id} 待发货' },
        email: { text: '订单 {order_id} 的邮件正文' },
      },
    },
  });
  expect(created.status).toBe(201);
  const user = await everywhere();
  const sent = await h.request('POST', '/api/v1/notifications/template', {
    token: svc,
    body: { template_name: name, template_vars: { order_id: 'A-9' }, user_id: user, url: 'https://shop.example/orders/A-9', image_url: IMAGE },
  });
  expect(sent.status).toBe(202);
  const id = sent.body.id ?? sent.body.ids?.[0];
  const rows = await settled(id, ['wechat', 'feishu', 'push', 'email']);

  const wx = wecom.delivered.find((m) => m.msgid === rows.wechat.provider_message_id)!;
  expect(wx.msgtype).toBe('markdown');
  expect(wx.markdown!.content).toBe('**订单 A-9** 已付款 <font color="warning">待发货</font>\n\n[详情](https://shop.example/orders/A-9)');
  expect(rows.wechat.note).toBe('image not shown: wecom markdown messages have no pictures');

  const card = JSON.parse(feishu.delivered.find((m) => m.message_id === rows.feishu.provider_message_id)!.content);
  expect(card.header.title.content).toBe('订单 A-9');
  expect(card.elements[0]).toEqual({ tag: 'div', text: { tag: 'lark_md', content: '**订单 A-9** 已付款' } });
  expect(card.elements[1].actions[0]).toMatchObject({ url: 'https://shop.example/orders/A-9', type: 'primary' });

  expect(fcmMessage(rows.push.id).notification).toMatchObject({ title: '新订单', body: 'A-9 待发货' });
  expect(apns.accepted.find((r) => r.headers['apns-id'] === rows.push.id)!.payload.aps.alert).toEqual({ title: '新订单', body: 'A-9 待发货' });
  expect(smtp.mails.find((m) => m.messageId?.includes(rows.email.id))!.text).toContain('订单 A-9 的邮件正文');
});
