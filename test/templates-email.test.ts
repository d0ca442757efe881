import { afterAll, beforeAll, expect, test } from 'vitest';
import { startSmtpServer } from './fakes/smtp.js';
import { startChannelWorker } from './helpers/channels.js';
import { createHarness, waitFor, type Harness } from './helpers/harness.js';

/** A template's email texts reach a real SMTP server: rendered subject, HTML body with escaped values, plain text as is. */
let h: Harness;
let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
beforeAll(async () => {
  h = await createHarness();
  smtp = await startSmtpServer();
  h.life.add('smtp', () => smtp.close());
  await h.startIngest();
  await startChannelWorker(h, 'email', { SMTP_HOST: smtp.host, SMTP_PORT: String(smtp.port), SMTP_FROM: 'noreply@herald.test' });
});
afterAll(() => h.close());

test('inventory_low by email: the template subject and HTML, values escaped only in the HTML', async () => {
  await h.orm.em.fork().execute(`insert into recipients (tenant, user_id, email) values (?, 'mgr', 'mgr@example.com')`, [h.tenant]);
  const svc = await h.serviceToken();
  const r = await h.request('POST', '/api/v1/notifications/template', {
    token: svc,
    body: { template_name: 'inventory_low', recipient: 'mgr@example.com', template_vars: { item_name: '鸡肉 <特级> & 冻品', current_stock: 5 } },
  });
  expect(r.status).toBe(202);
  expect(r.body.results).toEqual({ email: 'queued', app: 'queued' });
  const mail = await waitFor(() => smtp.mails.find((m) => m.to && JSON.stringify(m.to).includes('mgr@example.com')));
  expect(mail.subject).toBe('【库存预警】鸡肉 <特级> & 冻品 库存不足');
  expect(mail.html).toContain('<strong>鸡肉 &lt;特级&gt; &amp; 冻品</strong>');
  expect(mail.html).not.toContain('<特级>');
  expect(mail.text?.trim()).toBe('商品 鸡肉 <特级> & 冻品 库存不足，当前库存: 5，请及时补货。');
});

test("the 智链OS API's template send to a bare address: the mail goes out and ?wait answers the 智链OS API's results", async () => {
  const svc = await h.serviceToken();
  const r = await h.request('POST', '/api/v1/notifications/template?wait=10', {
    token: svc,
    body: { template_name: 'inventory_low', recipient: 'manager@example.com', template_vars: { item_name: '鸡肉', current_stock: 5 } },
  });
  expect(r.status).toBe(200);
  expect(r.body).toMatchObject({ success: true, message: '模板通知已发送', template: 'inventory_low', results: { email: true }, skipped: ['app'] });
  const mail = await waitFor(() => smtp.mails.find((m) => JSON.stringify(m.to ?? '').includes('manager@example.com')));
  expect(mail.subject).toBe('【库存预警】鸡肉 库存不足');
});
