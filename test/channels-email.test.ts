/**
 * Email end to end: HTTP send → ingest → delivery record → email worker →
 * a real SMTP server on loopback, whose message the test parses.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createHarness, waitFor, type Harness } from './helpers/harness.js';
import { deliveriesOf, startChannelWorker, statusBecomes } from './helpers/channels.js';
import { startSmtpServer } from './fakes/smtp.js';

let h: Harness;
let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
let svc: string;

beforeAll(async () => {
  h = await createHarness();
  smtp = await startSmtpServer();
  h.life.add('smtp server', () => smtp.close());
  await h.startIngest();
  await startChannelWorker(h, 'email', { SMTP_HOST: smtp.host, SMTP_PORT: String(smtp.port), SMTP_FROM: 'Herald <noreply@herald.test>' });
  svc = await h.serviceToken();
});
afterAll(() => h.close());

const mailTo = (address: string) => waitFor(() => smtp.mails.find((m) => m.to && JSON.stringify(m.to).includes(address)), 15_000, `mail to ${address}`);

test('an urgent notification arrives as an email with subject, HTML and text parts, escaped values and priority headers', async () => {
  const put = await h.request('PUT', '/api/v1/recipients/u-mail', { token: svc, body: { email: 'li.lei@example.com', locale: 'zh-CN' } });
  expect(put.status).toBe(200);
  const sent = await h.request('POST', '/api/v1/notifications', {
    token: svc,
    body: {
      title: '库存预警 <b>鸡肉</b> & 鸭肉',
      content: '当前库存: 5 <script>alert(1)</script>\n请及时补货',
      type: 'warning',
      priority: 'urgent',
      user_id: 'u-mail',
      channels: ['app', 'email'],
    },
  });
  expect(sent.status).toBe(202);

  const mail = await mailTo('li.lei@example.com');
  expect(mail.subject).toBe('库存预警 <b>鸡肉</b> & 鸭肉');
  expect(mail.to && !Array.isArray(mail.to) ? mail.to.value[0].address : null).toBe('li.lei@example.com');
  expect(mail.text?.trim()).toBe('当前库存: 5 <script>alert(1)</script>\n请及时补货');
  expect(mail.html).toContain('库存预警 &lt;b&gt;鸡肉&lt;/b&gt; &amp; 鸭肉');
  expect(mail.html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;<br>');
  expect(mail.html).not.toContain('<script>');
  // priority headers (X-Priority: 1, Importance: High), as mailparser reads them
  const headerText = mail.headerLines.map((l) => l.line).join('\n');
  expect(headerText).toMatch(/^X-Priority: 1/im);
  expect(headerText).toMatch(/^Importance: High/im);

  const [delivery] = await waitFor(async () => {
    const rows = await deliveriesOf(h, sent.body.id);
    return rows[0]?.status === 'sent' ? rows : null;
  });
  // the Message-ID is derived from the delivery id: a repeated attempt is the same message
  expect(mail.messageId).toBe(`<${delivery.id}@herald.test>`);
  expect(delivery).toMatchObject({ channel: 'email', address: 'li.lei@example.com', attempts: 1, provider_message_id: mail.messageId });
  expect(delivery.latency_ms).toBeGreaterThanOrEqual(0);
  await statusBecomes(h, sent.body.id, 'sent');

  const seen = await h.request('GET', `/api/v1/notifications/${sent.body.id}/deliveries`, { token: svc });
  expect(seen.status).toBe(200);
  expect(seen.body).toMatchObject({ notification_id: sent.body.id, status: 'sent', count: 1 });
  expect(seen.body.deliveries[0]).toMatchObject({ id: delivery.id, channel: 'email', status: 'sent', attempts: 1, provider_message_id: mail.messageId });
});

test('an email-only notification stays processing until the email is delivered, then is sent', async () => {
  await h.request('PUT', '/api/v1/recipients/u-mail2', { token: svc, body: { email: 'han.meimei@example.com' } });
  smtp.rejectNext(451); // the first attempt is told to come back later
  const sent = await h.request('POST', '/api/v1/notifications', {
    token: svc,
    body: { title: '排班通知', content: '明天早班', user_id: 'u-mail2', channels: ['email'] },
  });
  await mailTo('han.meimei@example.com');
  const [delivery] = await waitFor(async () => {
    const rows = await deliveriesOf(h, sent.body.id);
    return rows[0]?.status === 'sent' ? rows : null;
  }, 20_000);
  expect(delivery.attempts).toBe(2);
  await statusBecomes(h, sent.body.id, 'sent');
  expect(smtp.mails.filter((m) => JSON.stringify(m.to).includes('han.meimei'))).toHaveLength(1);
});
