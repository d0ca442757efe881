/**
 * The development outbox: with NODE_ENV=development the real channel worker
 * processes, started without credentials, store what they would have sent
 * and record the deliveries sent (`outbox:<id>`); operators read the
 * messages at GET /admin/outbox as JSON or as a page, and clear them. With
 * NODE_ENV=production nothing of this exists: the delivery fails
 * not_configured and the routes answer 404.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { outboxCleared, outboxPage } from '../src/api/openapi/operations/operator-tools.js';
import { OUTBOX_KEEP } from '../src/channels/outbox.js';
import { deliveriesOf } from './helpers/channels.js';
import { createHarness, uniq, waitFor, type Harness } from './helpers/harness.js';
import { spawnRole } from './helpers/roles.js';
import type { Proc } from './helpers/procs.js';

/** No channel variable is passed to the roles (spawnRole gives them only the shared test environment): every channel is unconfigured. */
const DEV = { NODE_ENV: 'development' };

const sendTo = async (h: Harness, user: string, body: Record<string, unknown>) => {
  const svc = await h.serviceToken();
  const r = await h.request('POST', '/api/v1/notifications', { token: svc, body: { user_id: user, ...body } });
  expect(r.status, JSON.stringify(r.body)).toBe(202);
  return r.body.id as string;
};

const addressUser = async (h: Harness) => {
  const user = uniq('outbox-user');
  const put = await h.request('PUT', `/api/v1/recipients/${user}`, {
    token: await h.serviceToken(),
    body: { email: `${user}@example.com`, phone: '+8613800138000' },
  });
  expect(put.status).toBe(200);
  return user;
};

describe('NODE_ENV=development, no channel credentials', () => {
  let h: Harness;
  let email: Proc;
  let admin: string;

  beforeAll(async () => {
    h = await createHarness(DEV);
    h.life.add('delivery queues', () => Promise.all([h.deps.queues.delivery.email.obliterate({ force: true }), h.deps.queues.delivery.sms.obliterate({ force: true })]).catch(() => undefined));
    await h.startIngest();
    email = spawnRole('workers/email.ts', { harness: h, env: DEV }, h.life);
    const sms = spawnRole('workers/sms.ts', { harness: h, env: DEV }, h.life);
    await Promise.all([
      email.waitForLog((l) => l.msg === 'email worker started', 60_000, 'the email worker'),
      sms.waitForLog((l) => l.msg === 'sms worker started', 60_000, 'the sms worker'),
    ]);
    admin = await h.token({ sub: uniq('ops'), scope: 'admin' });
  }, 90_000);
  afterAll(() => h?.close());

  const outbox = async (query = '') => {
    const r = await h.request('GET', `/admin/outbox${query}`, { token: admin });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    // the answer is what the API description says
    expect(outboxPage.safeParse(r.body).error).toBeUndefined();
    return r.body as { messages: any[]; count: number; next_cursor: string | null };
  };

  test('the worker says at start that the channel is in outbox mode, and why', () => {
    const line = email.logs().find((l) => l.mode === 'outbox');
    expect(line).toMatchObject({ channel: 'email', vendor: 'smtp', missing: ['SMTP_HOST'] });
    expect(line!.msg).toMatch(/email is in OUTBOX mode \(NODE_ENV=development and SMTP_HOST unset\)/);
  });

  test('an email and an sms end up in the outbox as rendered, their deliveries sent through it', async () => {
    const user = await addressUser(h);
    const title = '<script>alert("x")</script> 订单已发货';
    const id = await sendTo(h, user, { title, content: 'line one\nline two & more', channels: ['email', 'sms'], metadata: { order: 1001 } });

    const rows = await waitFor(async () => {
      const ds = await deliveriesOf(h, id);
      return ds.length === 2 && ds.every((d) => d.status !== 'queued' && d.status !== 'sending') ? ds : null;
    }, 20_000, 'both deliveries settled');
    for (const d of rows) expect(d, JSON.stringify(d)).toMatchObject({ status: 'sent', provider_message_id: expect.stringMatching(/^outbox:\d+$/) });

    const { messages } = await outbox(`?address=${encodeURIComponent(`${user}@example.com`)}`);
    expect(messages).toHaveLength(1);
    const mail = messages[0];
    expect(mail).toMatchObject({
      tenant: h.tenant,
      channel: 'email',
      address: `${user}@example.com`,
      subject: title,
      text: 'line one\nline two & more',
      metadata: { order: 1001 },
      rich: { type: 'info', priority: 'normal' },
      notification_id: id,
    });
    // the HTML part as the SMTP adapter renders it: escaped, line breaks kept
    expect(mail.html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; 订单已发货');
    expect(mail.html).toContain('line one<br>');
    expect(mail.html).not.toContain('<script>');
    const emailDelivery = rows.find((d) => d.channel === 'email');
    expect(emailDelivery.provider_message_id).toBe(`outbox:${mail.id}`);
    expect(mail.delivery_id).toBe(emailDelivery.id);

    const sms = (await outbox('?channel=sms')).messages.find((m) => m.notification_id === id);
    expect(sms).toMatchObject({ channel: 'sms', address: '+8613800138000', subject: title, text: 'line one\nline two & more', html: null });
  });

  test('the page escapes what it shows, runs no script and frames email HTML in a sandbox', async () => {
    const user = await addressUser(h);
    const id = await sendTo(h, user, { title: '<script>document.title="owned"</script>', content: '<img src=x onerror=alert(1)>', channels: ['email'] });
    await waitFor(async () => (await deliveriesOf(h, id))[0]?.status === 'sent', 20_000, 'the email delivered to the outbox');

    for (const [path, accept] of [
      ['/admin/outbox', 'text/html,application/xhtml+xml'],
      ['/admin/outbox.html', '*/*'],
    ]) {
      const res = await h.app.request(`${path}?address=${encodeURIComponent(`${user}@example.com`)}`, { headers: { authorization: `Bearer ${admin}`, accept } });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("default-src 'none'");
      expect(csp).not.toMatch(/script-src/);
      const html = await res.text();
      expect(html).not.toMatch(/<script/i);
      expect(html).not.toContain('<img src=x');
      expect(html).toContain('&#60;script&#62;document.title=&#34;owned&#34;&#60;/script&#62;');
      expect(html).toMatch(/<iframe sandbox="" [^>]*srcdoc="/);
    }
  });

  test('only admins read or clear it', async () => {
    const user = await h.token({ sub: uniq('user') });
    expect((await h.request('GET', '/admin/outbox', { token: user })).status).toBe(403);
    expect((await h.request('DELETE', '/admin/outbox', { token: user })).status).toBe(403);
    expect((await h.request('GET', '/admin/outbox.html')).status).toBe(401);
  });

  test('a page at a time, newest first', async () => {
    const first = await outbox('?limit=1');
    expect(first.count).toBe(1);
    expect(first.next_cursor).toBe(first.messages[0].id);
    const second = await outbox(`?limit=1&cursor=${first.next_cursor}`);
    expect(Number(second.messages[0].id)).toBeLessThan(Number(first.messages[0].id));
    expect((await h.request('GET', '/admin/outbox?cursor=abc', { token: admin })).status).toBe(400);
  });

  test(`each tenant keeps its newest ${OUTBOX_KEEP}`, async () => {
    const em = h.orm.em.fork();
    const other = uniq('tenant');
    await em.execute(
      `insert into dev_outbox (tenant, channel, address, subject, text_body, delivery_id, notification_id)
       select ?, 'sms', '+8613800138000', 'n' || i, 'x', gen_random_uuid(), gen_random_uuid() from generate_series(1, ${OUTBOX_KEEP + 5}) i`,
      [other],
    );
    const { storeInOutbox } = await import('../src/channels/outbox.js');
    await storeInOutbox(em, 'sms', {
      title: 'newest', content: 'x', type: 'info', priority: 'normal', metadata: {}, created_at: new Date().toISOString(),
      deliveryId: crypto.randomUUID(), notificationId: crypto.randomUUID(), tenant: other, address: '+8613800138000',
    });
    const [row] = await em.execute<{ n: string; newest: string }[]>(
      `select count(*)::text as n, (select subject from dev_outbox where tenant = ? order by id desc limit 1) as newest from dev_outbox where tenant = ?`,
      [other, other],
    );
    expect(row).toEqual({ n: String(OUTBOX_KEEP), newest: 'newest' });
    await em.execute(`delete from dev_outbox where tenant = ?`, [other]);
  });

  test('DELETE empties the tenant\'s outbox', async () => {
    const before = (await outbox()).count;
    expect(before).toBeGreaterThan(0);
    const r = await h.request('DELETE', '/admin/outbox', { token: admin });
    expect(r).toMatchObject({ status: 200, body: { deleted: before } });
    expect(outboxCleared.safeParse(r.body).error).toBeUndefined();
    expect((await outbox()).messages).toEqual([]);
  });
});

describe('NODE_ENV=production, no channel credentials', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await createHarness({ NODE_ENV: 'production' });
    h.life.add('email queue', () => h.deps.queues.delivery.email.obliterate({ force: true }).catch(() => undefined));
    await h.startIngest();
    const email = spawnRole('workers/email.ts', { harness: h, env: { NODE_ENV: 'production' } }, h.life);
    await email.waitForLog((l) => l.msg === 'email worker started', 60_000, 'the email worker');
  }, 90_000);
  afterAll(() => h?.close());

  test('the delivery fails not_configured and the outbox routes do not exist', async () => {
    const user = await addressUser(h);
    const id = await sendTo(h, user, { title: 'hello', content: 'world', channels: ['email'] });
    const [d] = await waitFor(async () => {
      const ds = await deliveriesOf(h, id);
      return ds[0]?.status === 'failed' ? ds : null;
    }, 20_000, 'the email delivery failed');
    expect(d).toMatchObject({ reason: 'not_configured', provider_message_id: null });

    const admin = await h.token({ sub: uniq('ops'), scope: 'admin' });
    expect((await h.request('GET', '/admin/outbox', { token: admin })).status).toBe(404);
    expect((await h.request('GET', '/admin/outbox.html', { token: admin })).status).toBe(404);
    expect((await h.request('DELETE', '/admin/outbox', { token: admin })).status).toBe(404);
  });
});
