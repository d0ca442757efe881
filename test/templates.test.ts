import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createHarness, uniq, waitFor, type Harness } from './helpers/harness.js';
import { openContact } from '../src/crypto/process-keys.js';

let h: Harness;
let svc: string;
let writer: string;
beforeAll(async () => {
  // tests poll inboxes; the per-user rate limit is not what they are about
  h = await createHarness({ RATE_LIMIT_USER_PER_MIN: '1000000' });
  svc = await h.serviceToken();
  writer = await h.token({ sub: uniq('admin'), scope: 'templates:write' });
});
afterAll(() => h.close());

const inboxOf = async (user: string) => {
  const token = await h.token({ sub: user });
  return (await h.request('GET', '/api/v1/notifications', { token })).body.notifications as any[];
};

describe('the eight templates of the 智链OS API', () => {
  test('are listed in the 智链OS API’s shape with their Chinese texts and channels', async () => {
    const user = await h.token({ sub: 'anyone' });
    const r = await h.request('GET', '/api/v1/notifications/templates', { token: user });
    expect(r.status).toBe(200);
    expect(r.body.count).toBe(8);
    expect(Object.keys(r.body.templates).sort()).toEqual(
      ['backup_completed', 'backup_failed', 'inventory_low', 'order_confirmed', 'order_ready', 'payment_success', 'staff_schedule', 'system_alert'],
    );
    expect(r.body.templates.order_confirmed).toMatchObject({
      title: '订单确认',
      content: '您的订单 {order_id} 已确认，预计 {estimated_time} 送达。',
      channels: ['sms', 'push'],
      priority: 'normal',
      version: 1,
    });
    expect(r.body.templates.inventory_low).toMatchObject({
      title: '库存预警',
      content: '商品 {item_name} 库存不足，当前库存: {current_stock}，请及时补货。',
      channels: ['email', 'app'],
      priority: 'high',
    });
    expect(r.body.templates.system_alert.channels).toEqual(['email', 'sms', 'app']);
    expect(r.body.templates.payment_success.channels).toEqual(['sms', 'wechat']);
  });
});

describe('sending with a template', () => {
  beforeAll(() => h.startIngest());

  test('智链OS request: renders once, stores the text with the template name and version', async () => {
    const r = await h.request('POST', '/api/v1/notifications/template', {
      token: svc,
      body: { template_name: 'inventory_low', user_id: 'mgr-1', template_vars: { item_name: '鸡肉', current_stock: 5 }, channels: ['app'] },
    });
    expect(r.status).toBe(202);
    expect(r.body).toMatchObject({ success: true, message: '模板通知已发送', template: 'inventory_low', results: { app: 'queued' } });
    const [n] = await waitFor(async () => {
      const list = await inboxOf('mgr-1');
      return list.length ? list : null;
    });
    expect(n).toMatchObject({
      id: r.body.id,
      title: '库存预警',
      content: '商品 鸡肉 库存不足，当前库存: 5，请及时补货。',
      priority: 'high',
      type: 'warning',
      metadata: { template_name: 'inventory_low', template_version: 1 },
    });
  });

  test('the email text is rendered with escaped values, the plain text is not', async () => {
    const r = await h.request('POST', '/api/v1/notifications/template', {
      token: svc,
      body: { template_name: 'inventory_low', user_id: 'mgr-2', template_vars: { item_name: '<鸡&肉>', current_stock: 1 }, channels: ['app'] },
    });
    expect(r.status).toBe(202);
    expect(r.body.content).toContain('<鸡&肉>');
    expect(r.body.metadata.channel_content.email.html).toContain('<strong>&lt;鸡&amp;肉&gt;</strong>');
    expect(r.body.metadata.channel_content.email.subject).toBe('【库存预警】<鸡&肉> 库存不足');
  });

  test('a missing variable is a 422 that names it', async () => {
    const r = await h.request('POST', '/api/v1/notifications/template', {
      token: svc,
      body: { template_name: 'order_confirmed', user_id: 'u1', template_vars: { order_id: 'o-1' } },
    });
    expect(r.status).toBe(422);
    expect(r.headers.get('content-type')).toContain('application/problem+json');
    expect(r.body.errors).toEqual([{ path: 'template_vars.estimated_time', message: expect.stringContaining('order_confirmed') }]);
  });

  test('an unknown template, an unknown field and a missing target are 400s naming the field', async () => {
    const unknown = await h.request('POST', '/api/v1/notifications/template', { token: svc, body: { template_name: 'nope', user_id: 'u1' } });
    expect(unknown.status).toBe(400);
    expect(unknown.body.errors[0].path).toBe('template_name');
    const extra = await h.request('POST', '/api/v1/notifications/template', {
      token: svc,
      body: { template_name: 'order_ready', user_id: 'u1', template_vars: { order_id: 1, pickup_code: 2 }, colour: 'red' },
    });
    expect(extra.status).toBe(400);
    expect(extra.body.errors).toEqual([{ path: 'colour', message: 'unknown field' }]);
    const noTarget = await h.request('POST', '/api/v1/notifications/template', {
      token: svc,
      body: { template_name: 'order_ready', template_vars: { order_id: 1, pickup_code: 2 } },
    });
    expect(noTarget.status).toBe(400);
    expect(noTarget.body.errors[0].path).toBe('user_id');
  });

  test('智链OS `recipient` as an email finds the registered recipient', async () => {
    await h.orm.em.fork().execute(`insert into recipients (tenant, user_id, email) values (?, 'store-mgr', 'Manager@example.com')`, [h.tenant]);
    const r = await h.request('POST', '/api/v1/notifications/template', {
      token: svc,
      body: { template_name: 'inventory_low', recipient: 'manager@example.com', template_vars: { item_name: '米', current_stock: 2 }, channels: ['app'] },
    });
    expect(r.status).toBe(202);
    expect(r.body.user_id).toBe('store-mgr');
    // an unknown address beside other targets is refused: it is neither a user nor a lone direct send
    const unknown = await h.request('POST', '/api/v1/notifications/template', {
      token: svc,
      body: { template_name: 'inventory_low', recipient: 'nobody@example.com', user_id: 'u9', template_vars: { item_name: '米', current_stock: 2 } },
    });
    expect(unknown.status).toBe(422);
    expect(unknown.body.errors[0].path).toBe('recipient');
  });

  test('智链OS `recipient` as an address nobody has is a direct send: external channels only, no inbox row', async () => {
    const r = await h.request('POST', '/api/v1/notifications/template', {
      token: svc,
      body: { template_name: 'inventory_low', recipient: 'walk-in@example.com', template_vars: { item_name: '米', current_stock: 2 } },
    });
    expect(r.status).toBe(202);
    expect(r.body).toMatchObject({ success: true, template: 'inventory_low', results: { email: 'queued' }, skipped: ['app'] });
    const rows = (await h.orm.em.fork().execute(`select channel, recipient, address, status from deliveries where notification_id = ?`, [r.body.id])).map(
      // stored sealed, the raw recipient of a direct send as well
      (d) => ({ ...d, recipient: openContact(d.recipient), address: openContact(d.address) }),
    );
    expect(rows).toEqual([{ channel: 'email', recipient: 'walk-in@example.com', address: 'walk-in@example.com', status: expect.any(String) }]);
    const inbox = await h.orm.em.fork().execute(`select count(*)::int as n from notifications where id = ?`, [r.body.id]);
    expect(inbox[0].n).toBe(0);
    // a template that only sends in-app has nowhere to go for an address
    const appOnly = await h.request('POST', '/api/v1/notifications/template', {
      token: svc,
      body: { template_name: 'inventory_low', recipient: 'walk-in@example.com', channels: ['app'], template_vars: { item_name: '米', current_stock: 2 } },
    });
    expect(appOnly.status).toBe(422);
    expect(appOnly.body.errors[0].path).toBe('recipient');
  });

  test('a send needs notify:send', async () => {
    const user = await h.token({ sub: 'u1' });
    const r = await h.request('POST', '/api/v1/notifications/template', { token: user, body: { template_name: 'order_ready', user_id: 'u1' } });
    expect(r.status).toBe(403);
  });
});

describe('template CRUD and versions', () => {
  const name = 'shift_swap';

  test('writes need templates:write', async () => {
    const r = await h.request('POST', '/api/v1/notifications/templates', { token: svc, body: { name, title: 't', content: 'c' } });
    expect(r.status).toBe(403);
  });

  test('create, read by id and by name, update bumps the version, soft delete', async () => {
    const created = await h.request('POST', '/api/v1/notifications/templates', {
      token: writer,
      body: { name, title: '换班 {{who}}', content: '{{who}} 与你换班: {{shift.date}}', channels: ['app', 'in_app'] },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name, version: 1, channels: ['app'], variables: ['who', 'shift.date'], system: false });

    const dup = await h.request('POST', '/api/v1/notifications/templates', { token: writer, body: { name, title: 'x', content: 'y' } });
    expect(dup.status).toBe(409);

    const byId = await h.request('GET', `/api/v1/notifications/templates/${created.body.id}`, { token: svc });
    const byName = await h.request('GET', `/api/v1/notifications/templates/${name}`, { token: svc });
    expect(byId.body).toEqual(byName.body);

    const updated = await h.request('PUT', `/api/v1/notifications/templates/${name}`, { token: writer, body: { content: '{{who}} 想和你换 {{shift.date}} 的班' } });
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({ version: 2, title: '换班 {{who}}', content: '{{who}} 想和你换 {{shift.date}} 的班' });

    const bad = await h.request('PUT', `/api/v1/notifications/templates/${name}`, { token: writer, body: { priority: 'extreme', colour: 1 } });
    expect(bad.status).toBe(400);
    expect(bad.body.errors.map((e: any) => e.path).sort()).toEqual(['colour', 'priority']);

    const del = await h.request('DELETE', `/api/v1/notifications/templates/${created.body.id}`, { token: writer });
    expect(del.status).toBe(200);
    expect((await h.request('GET', `/api/v1/notifications/templates/${name}`, { token: svc })).status).toBe(404);
    const list = await h.request('GET', '/api/v1/notifications/templates', { token: svc });
    expect(list.body.templates[name]).toBeUndefined();

    const again = await h.request('POST', '/api/v1/notifications/templates', { token: writer, body: { name, title: 'x', content: 'y' } });
    expect(again.status).toBe(201);
    expect(again.body.version).toBe(3);
  });

  test('changing a system template changes it for this tenant only', async () => {
    const other = await createHarness();
    try {
      const r = await h.request('PUT', '/api/v1/notifications/templates/order_ready', { token: writer, body: { content: '订单 {order_id} 好了' } });
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ version: 2, system: false, content: '订单 {order_id} 好了', channels: ['sms', 'push'] });
      const theirs = await other.request('GET', '/api/v1/notifications/templates/order_ready', { token: await other.token({ sub: 'x' }) });
      expect(theirs.body).toMatchObject({ version: 1, system: true, content: '您的订单 {order_id} 已完成，请凭取餐号 {pickup_code} 取餐。' });

      const del = await h.request('DELETE', '/api/v1/notifications/templates/backup_failed', { token: writer });
      expect(del.status).toBe(200);
      expect((await h.request('GET', '/api/v1/notifications/templates', { token: svc })).body.templates.backup_failed).toBeUndefined();
      expect((await h.request('GET', '/api/v1/notifications/templates/backup_failed', { token: svc })).status).toBe(404);
      const theirList = await other.request('GET', '/api/v1/notifications/templates', { token: await other.token({ sub: 'x' }) });
      expect(theirList.body.count).toBe(8);
      expect(theirList.body.templates.backup_failed.title).toBe('数据备份失败');
    } finally {
      await other.close();
    }
  });

  test('a send in flight keeps the version it was rendered with', async () => {
    const tpl = 'price_change';
    await h.request('POST', '/api/v1/notifications/templates', { token: writer, body: { name: tpl, title: '调价', content: 'v1 {item}' } });
    // rendered and queued while no ingest worker could have stored it yet
    const sent = await h.request('POST', '/api/v1/notifications/template', {
      token: svc,
      body: { template_name: tpl, user_id: 'inflight', template_vars: { item: '茶' }, schedule_at: new Date(Date.now() + 1500).toISOString() },
    });
    expect(sent.status).toBe(202);
    const changed = await h.request('PUT', `/api/v1/notifications/templates/${tpl}`, { token: writer, body: { content: 'v2 {item}' } });
    expect(changed.body.version).toBe(2);
    const later = await h.request('POST', '/api/v1/notifications/template', {
      token: svc,
      body: { template_name: tpl, user_id: 'inflight', template_vars: { item: '茶' } },
    });
    const list = await waitFor(async () => {
      const l = await inboxOf('inflight');
      return l.length === 2 ? l : null;
    });
    const byId = Object.fromEntries(list.map((n) => [n.id, n]));
    expect(byId[sent.body.id]).toMatchObject({ content: 'v1 茶', metadata: { template_version: 1 } });
    expect(byId[later.body.id]).toMatchObject({ content: 'v2 茶', metadata: { template_version: 2 } });
  });

  test('an inactive template cannot be sent', async () => {
    await h.request('POST', '/api/v1/notifications/templates', { token: writer, body: { name: 'paused', title: 't', content: 'c', is_active: false } });
    const r = await h.request('POST', '/api/v1/notifications/template', { token: svc, body: { template_name: 'paused', user_id: 'u1' } });
    expect(r.status).toBe(400);
    const all = await h.request('GET', '/api/v1/notifications/templates?include_inactive=true', { token: svc });
    expect(all.body.templates.paused.is_active).toBe(false);
  });
});
