import { afterAll, beforeAll, expect, test } from 'vitest';
import { startAliyunFake } from './fakes/aliyun-sms.js';
import { startSmtpServer } from './fakes/smtp.js';
import { startWebhookReceiver } from './fakes/webhook-receiver.js';
import { startChannelWorker } from './helpers/channels.js';
import { createHarness, uniq, waitFor, type Harness } from './helpers/harness.js';

/**
 * Per-locale variants and per-channel bodies, end to end: a template made
 * through the api by an editor (templates:write), sent by a service
 * (notify:send) to users of different locales and time zones, and what the
 * SMTP server, the SMS provider and the webhook receiver were handed.
 */
let h: Harness;
let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
let aliyun: Awaited<ReturnType<typeof startAliyunFake>>;
let hooks: Awaited<ReturnType<typeof startWebhookReceiver>>;
let editor: string;
let svc: string;

beforeAll(async () => {
  h = await createHarness();
  [smtp, aliyun, hooks] = await Promise.all([startSmtpServer(), startAliyunFake({ LTAIvariants: 'variants-secret' }), startWebhookReceiver('variants-hook')]);
  h.life.add('fakes', () => Promise.all([smtp.close(), aliyun.close(), hooks.close()]));
  await h.startIngest();
  await Promise.all([
    startChannelWorker(h, 'email', { SMTP_HOST: smtp.host, SMTP_PORT: String(smtp.port), SMTP_FROM: 'noreply@herald.test' }),
    startChannelWorker(h, 'sms', {
      ALIYUN_ACCESS_KEY: 'LTAIvariants',
      ALIYUN_ACCESS_SECRET: 'variants-secret',
      ALIYUN_SMS_SIGN: '智链OS',
      ALIYUN_SMS_TEMPLATE_CODE: 'SMS_DEFAULT',
      ALIYUN_SMS_ENDPOINT: aliyun.endpoint,
    }),
    startChannelWorker(h, 'webhook', { WEBHOOK_SECRET: 'variants-hook' }),
  ]);
  editor = await h.token({ sub: 'editor', scope: 'templates:write' });
  svc = await h.serviceToken();
  const people: Array<[string, string | null, string | null, string]> = [
    ['u-zh', 'zh-CN', 'Asia/Shanghai', '+8613800000001'],
    ['u-en', 'en-US', 'America/New_York', '+8613800000002'],
    ['u-tw', 'zh-TW', null, '+8613800000003'],
  ];
  for (const [user, locale, timezone, phone] of people) {
    const r = await h.request('PUT', `/api/v1/recipients/${user}`, {
      token: svc,
      body: { email: `${user}@example.com`, phone, webhook_url: `${hooks.url}/${user}`, locale, timezone },
    });
    expect(r.status).toBe(200);
  }
});
afterAll(() => h.close());

const orderPaid = (name: string) => ({
  name,
  title: 'Payment {order_id}',
  content: 'Paid {{ amount | currency: "CNY" }} at {{ paid_at | date: "%Y-%m-%d %H:%M" }}.',
  channels: ['email', 'sms', 'webhook'],
  channel_overrides: { email: { subject: '[Shop] {title}', html: '<p>{{ buyer }} paid</p>' } },
  variants: {
    'zh-CN': {
      title: '支付成功 {order_id}',
      content: '已支付 {{ amount | currency: "CNY" }}，时间 {{ paid_at | date: "%Y-%m-%d %H:%M" }}。',
      email: { subject: '【商城】{title}', html: '<p>{{ buyer }} 已付款{% if vip %}（会员）{% endif %}</p>', text: '{{ buyer }} 已付款' },
      sms: { text: '订单{order_id}已付款', template_code: 'SMS_ZH' },
    },
    en: { sms: { text: 'Order {order_id} paid', template_code: 'SMS_EN' } },
  },
});
const vars = { order_id: 'A-7', amount: 1234.5, paid_at: '2026-12-05T20:30:00Z', buyer: '<b>Li</b>', vip: true };

test('each recipient gets the variant of their locale, dates in their zone, on every channel', async () => {
  const name = uniq('order_paid');
  const created = await h.request('POST', '/api/v1/notifications/templates', { token: editor, body: orderPaid(name) });
  expect(created.status).toBe(201);
  expect(created.body.variants['zh-CN'].sms.template_code).toBe('SMS_ZH');
  expect(created.body.variables).toEqual(expect.arrayContaining(['order_id', 'amount', 'paid_at', 'buyer', 'vip']));

  const sent = await h.request('POST', '/api/v1/notifications/template', {
    token: svc,
    body: { template_name: name, template_vars: vars, user_ids: ['u-zh', 'u-en', 'u-tw'] },
  });
  expect(sent.status).toBe(202);
  expect(sent.body.count).toBe(3);

  const mailTo = (user: string) => waitFor(() => smtp.mails.find((m) => JSON.stringify(m.to ?? '').includes(`${user}@example.com`)), 20_000, `mail to ${user}`);
  const [zh, en, tw] = await Promise.all([mailTo('u-zh'), mailTo('u-en'), mailTo('u-tw')]);
  // zh-CN: its own subject, HTML (values escaped, conditionals) and text; Shanghai time
  expect(zh.subject).toBe('【商城】支付成功 A-7');
  expect(zh.html).toContain('<p>&lt;b&gt;Li&lt;/b&gt; 已付款（会员）</p>');
  // en-US falls back to en, which changes only the SMS: the rest is the template's own, in New York time
  expect(en.subject).toBe('[Shop] Payment A-7');
  expect(en.html).toContain('<p>&lt;b&gt;Li&lt;/b&gt; paid</p>');
  expect(en.text?.trim()).toBe('Paid CN¥1,234.50 at 2026-12-05 15:30.');
  // zh-TW: no zh-TW and no zh variant, so the template's own texts (money as Taiwan writes yuan); no zone of their own, so UTC
  expect(tw.subject).toBe('[Shop] Payment A-7');
  expect(tw.text?.trim()).toBe('Paid CN¥1,234.50 at 2026-12-05 20:30.');

  const smsTo = (phone: string) => waitFor(() => aliyun.sent.find((s) => s.phone.endsWith(phone)), 20_000, `SMS to ${phone}`);
  expect((await smsTo('13800000001')).templateCode).toBe('SMS_ZH');
  expect((await smsTo('13800000002')).templateCode).toBe('SMS_EN');
  expect((await smsTo('13800000003')).templateCode).toBe('SMS_DEFAULT');

  const events = await waitFor(
    () => {
      const mine = hooks.events.filter((e) => e.body.notification.metadata.template_name === name).map((e) => e.body.notification);
      return mine.length >= 3 ? mine : null;
    },
    20_000,
    'three webhooks',
  );
  const zhHook = events.find((n) => n.metadata.template_locale === 'zh-CN');
  expect(zhHook).toMatchObject({
    title: '支付成功 A-7',
    content: '已支付 ¥1,234.50，时间 2026-12-06 04:30。',
    metadata: { channel_content: { sms: { text: '订单A-7已付款' }, email: { text: '<b>Li</b> 已付款' } } },
  });
  expect(events.find((n) => n.metadata.template_locale === 'en')?.metadata.channel_content.sms.text).toBe('Order A-7 paid');
  expect(events.filter((n) => !n.metadata.template_locale).map((n) => n.title)).toEqual(['Payment A-7']);
});

test('a send split by locale replays whole under its idempotency key, and a missing variable is a 422 naming it', async () => {
  const name = uniq('order_paid');
  expect((await h.request('POST', '/api/v1/notifications/templates', { token: editor, body: orderPaid(name) })).status).toBe(201);
  const body = { template_name: name, template_vars: vars, user_ids: ['u-zh', 'u-en'], channels: ['app'], idempotency_key: uniq('key') };
  const first = await h.request('POST', '/api/v1/notifications/template', { token: svc, body });
  expect(first.status).toBe(202);
  expect(first.body.count).toBe(2);
  expect(new Set(first.body.ids).size).toBe(2);
  const again = await h.request('POST', '/api/v1/notifications/template', { token: svc, body });
  expect(again.status).toBe(202);
  expect(again.headers.get('idempotent-replayed')).toBe('true');
  expect(again.body.ids).toEqual(first.body.ids);

  const missing = await h.request('POST', '/api/v1/notifications/template', {
    token: svc,
    body: { template_name: name, template_vars: { ...vars, paid_at: null }, user_id: 'u-zh' },
  });
  expect(missing.status).toBe(422);
  expect(missing.body.errors).toEqual([{ path: 'template_vars.paid_at', message: expect.stringContaining('(content)') }]);
});

test('preview renders each channel for a locale and time zone and sends nothing; only editors may', async () => {
  const name = uniq('order_paid');
  expect((await h.request('POST', '/api/v1/notifications/templates', { token: editor, body: orderPaid(name) })).status).toBe(201);
  const mails = smtp.mails.length;
  const p = await h.request('POST', `/api/v1/templates/${name}/preview`, {
    token: editor,
    body: { variables: vars, locale: 'zh-CN', timezone: 'Asia/Tokyo' },
  });
  expect(p.status).toBe(200);
  expect(p.body).toMatchObject({ template: name, locale: 'zh-CN', timezone: 'Asia/Tokyo', title: '支付成功 A-7', content: '已支付 ¥1,234.50，时间 2026-12-06 05:30。' });
  expect(p.body.channels).toEqual({
    email: { title: '【商城】支付成功 A-7', content: '<b>Li</b> 已付款', html: '<p>&lt;b&gt;Li&lt;/b&gt; 已付款（会员）</p>' },
    sms: { title: '支付成功 A-7', content: '订单A-7已付款', template_code: 'SMS_ZH' },
    webhook: { title: '支付成功 A-7', content: '已支付 ¥1,234.50，时间 2026-12-06 05:30。' },
  });

  const one = await h.request('POST', `/api/v1/templates/${p.body.template}/preview`, { token: editor, body: { variables: vars, channel: 'sms', locale: 'fr' } });
  expect(one.body).toMatchObject({ locale: null, channels: { sms: { content: expect.stringMatching(/^Paid 1\s234,50\sCNY at 2026-12-05 20:30\.$/) } } });
  expect(Object.keys(one.body.channels)).toEqual(['sms']);

  const missing = await h.request('POST', `/api/v1/templates/${name}/preview`, { token: editor, body: { variables: { order_id: 'A-7' }, locale: 'zh-CN' } });
  expect(missing.status).toBe(422);
  expect(missing.body.errors.map((e: { path: string }) => e.path)).toEqual(['variables.amount', 'variables.paid_at', 'variables.buyer']);

  const asSender = await h.request('POST', `/api/v1/templates/${name}/preview`, { token: svc, body: { variables: vars } });
  expect(asSender.status).toBe(403);
  expect((await h.request('POST', `/api/v1/templates/nope-${name}/preview`, { token: editor, body: { variables: vars } })).status).toBe(404);
  await new Promise((r) => setTimeout(r, 300));
  expect(smtp.mails.length).toBe(mails);
});

test('a bad variant is refused naming its field: 400 for its shape, 422 for its Liquid', async () => {
  const name = uniq('bad');
  const shape = await h.request('POST', '/api/v1/notifications/templates', {
    token: editor,
    body: { name, title: 't', content: 'c', variants: { 'zh-CN': { email: { html: 42 } }, 'not a locale': {} } },
  });
  expect(shape.status).toBe(400);
  expect(shape.body.errors.map((e: { path: string }) => e.path)).toEqual(expect.arrayContaining(['variants.zh-CN.email.html']));

  const liquid = await h.request('POST', '/api/v1/notifications/templates', {
    token: editor,
    body: { name, title: 't', content: 'c', variants: { 'zh-CN': { email: { html: '<p>{% if x %}open</p>' } }, en: { sms: { text: '{{ a | nope }}' } } } },
  });
  expect(liquid.status).toBe(422);
  expect(liquid.body.errors).toEqual([
    { path: 'variants.zh-CN.email.html', message: expect.stringMatching(/not a valid template: .*if/) },
    { path: 'variants.en.sms.text', message: expect.stringContaining('undefined filter: nope') },
  ]);

  const files = await h.request('POST', '/api/v1/notifications/templates', { token: editor, body: { name, title: 't', content: "{% include '/etc/passwd' %}" } });
  expect(files.status).toBe(422);
  expect(files.body.errors[0]).toMatchObject({ path: 'content', message: expect.stringContaining('cannot read files') });

  const ok = await h.request('POST', '/api/v1/notifications/templates', { token: editor, body: { name, title: 't', content: 'c' } });
  expect(ok.status).toBe(201);
  const update = await h.request('PATCH', `/api/v1/notifications/templates/${name}`, { token: editor, body: { variants: { en: { title: '{{ x' } } } });
  expect(update.status).toBe(422);
  expect(update.body.errors[0].path).toBe('variants.en.title');
});
