import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createHarness, type Harness } from './helpers/harness.js';

let h: Harness;
let svc: string;
beforeAll(async () => {
  h = await createHarness();
  svc = await h.serviceToken();
});
afterAll(() => h.close());

const send = (body: unknown, token = svc) => h.request('POST', '/api/v1/notifications', { token, body });
const base = { title: 'Stock low', content: 'Chicken is at 5 kg', user_id: 'u-1' };

/** The job that holds a notification id, waiting in this harness's ingest queue. */
async function queuedJobFor(id: string) {
  const jobs = await h.deps.queues.ingest.getJobs(['waiting', 'prioritized', 'delayed'], 0, -1);
  return jobs.find((j) => j.data.notifications.some((n) => n.id === id));
}

describe('POST /api/v1/notifications', () => {
  test("accepts the 智链OS API's shape and answers 202 with the notification as stored-to-be", async () => {
    const r = await send({
      title: '库存预警',
      message: '鸡肉库存不足,当前库存: 5kg,请及时补货',
      type: 'warning',
      priority: 'high',
      user_id: 'user-123',
      extra_data: { item_id: 'item-456', current_stock: 5 },
      source: 'inventory_system',
    });
    expect(r.status).toBe(202);
    expect(r.body).toMatchObject({
      title: '库存预警',
      message: '鸡肉库存不足,当前库存: 5kg,请及时补货',
      content: '鸡肉库存不足,当前库存: 5kg,请及时补货',
      type: 'warning',
      priority: 'high',
      status: 'queued',
      user_id: 'user-123',
      role: null,
      store_id: null,
      is_read: false,
      read_at: null,
      extra_data: { item_id: 'item-456', current_stock: 5 },
      metadata: { item_id: 'item-456', current_stock: 5 },
      source: 'inventory_system',
      channels: ['app'],
      tenant: h.tenant,
      count: 1,
    });
    expect(r.body.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(r.body.ids).toEqual([r.body.id]);
    expect(Date.parse(r.body.created_at)).not.toBeNaN();
    const job = await queuedJobFor(r.body.id);
    expect(job?.opts.priority).toBe(2);
  });

  test("accepts the VoiceHelper API's shape: user_ids, content, metadata, channels, schedule_at", async () => {
    const at = new Date(Date.now() + 3600_000).toISOString();
    const r = await send({
      user_ids: ['user-123', 'user-456'],
      title: '系统维护通知',
      content: '系统将于今晚22:00-24:00进行维护升级',
      type: 'system',
      priority: 'high',
      channels: ['app', 'email'],
      metadata: { department: '运维部' },
      schedule_at: at,
    });
    expect(r.status).toBe(202);
    expect(r.body.count).toBe(2);
    expect(r.body.ids).toHaveLength(2);
    expect(r.body.status).toBe('scheduled');
    expect(r.body.schedule_at).toBe(at);
    expect(r.body.notifications.map((n: any) => n.user_id)).toEqual(['user-123', 'user-456']);
    const job = await queuedJobFor(r.body.ids[1]);
    expect(job).toBeDefined();
  });

  test('maps the legacy APIs\' channel names: system and in_app are app, app_push is push', async () => {
    const r = await send({ ...base, channels: ['system', 'in_app', 'app_push', 'sms'] });
    expect(r.status).toBe(202);
    expect(r.body.channels).toEqual(['app', 'push', 'sms']);
  });

  test('role, store and broadcast targets are each one notification', async () => {
    const r = await send({ title: 't', content: 'c', role: 'store_manager', store_id: 'store-1', broadcast: true });
    expect(r.status).toBe(202);
    expect(r.body.count).toBe(3);
    expect(r.body.notifications.map((n: any) => [n.role, n.store_id, n.broadcast])).toEqual([
      ['store_manager', null, false],
      [null, 'store-1', false],
      [null, null, true],
    ]);
  });

  test('defaults: type info, priority normal, channels app', async () => {
    const r = await send(base);
    expect(r.body).toMatchObject({ type: 'info', priority: 'normal', channels: ['app'], fallback_channels: [] });
    expect((await queuedJobFor(r.body.id))?.opts.priority).toBe(3);
  });
});

describe('validation: one problem+json entry per bad field', () => {
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['title missing', { content: 'c', user_id: 'u' }, 'title'],
    ['title empty', { ...base, title: '' }, 'title'],
    ['title over 200', { ...base, title: 'x'.repeat(201) }, 'title'],
    ['content and message missing', { title: 't', user_id: 'u' }, 'content'],
    ['content over 2000', { ...base, content: 'x'.repeat(2001) }, 'content'],
    ['message over 2000', { title: 't', message: 'x'.repeat(2001), user_id: 'u' }, 'message'],
    ['content and message differ', { ...base, message: 'other' }, 'message'],
    ['unknown type', { ...base, type: 'shout' }, 'type'],
    ['unknown priority', { ...base, priority: 'asap' }, 'priority'],
    ['unknown channel', { ...base, channels: ['app', 'pigeon'] }, 'channels.1'],
    ['unknown fallback channel', { ...base, fallback_channels: ['fax'] }, 'fallback_channels.0'],
    ['channels not a list', { ...base, channels: 'email' }, 'channels'],
    ['no target', { title: 't', content: 'c' }, 'user_id'],
    ['empty user_ids', { title: 't', content: 'c', user_ids: [] }, 'user_ids'],
    ['user_ids with an empty id', { title: 't', content: 'c', user_ids: ['a', ''] }, 'user_ids.1'],
    ['broadcast not boolean', { title: 't', content: 'c', broadcast: 'yes' }, 'broadcast'],
    ['metadata not an object', { ...base, metadata: [1, 2] }, 'metadata'],
    ['metadata over 8 KiB', { ...base, metadata: { blob: 'x'.repeat(9000) } }, 'metadata'],
    ['metadata and extra_data both', { ...base, metadata: {}, extra_data: {} }, 'extra_data'],
    ['schedule_at without offset', { ...base, schedule_at: '2030-01-01T09:00:00' }, 'schedule_at'],
    ['schedule_at malformed', { ...base, schedule_at: 'tomorrow' }, 'schedule_at'],
    ['schedule_at in the past', { ...base, schedule_at: '2020-01-01T00:00:00Z' }, 'schedule_at'],
    ['source too long', { ...base, source: 'x'.repeat(101) }, 'source'],
    ['unknown field', { ...base, colour: 'red' }, 'colour'],
    ['idempotency_key empty', { ...base, idempotency_key: '' }, 'idempotency_key'],
  ];
  test.each(cases)('%s → 400 naming %s', async (_label, body, path) => {
    const r = await send(body);
    expect(r.status).toBe(400);
    expect(r.headers.get('content-type')).toContain('application/problem+json');
    expect(r.body).toMatchObject({ status: 400, title: 'Bad Request' });
    expect(r.body.errors.map((e: any) => e.path)).toContain(path);
  });

  test('several bad fields are all listed, unknown fields one by one', async () => {
    const r = await send({ title: '', type: 'x', priority: 'y', foo: 1, bar: 2, user_id: 'u', content: 'c' });
    expect(r.status).toBe(400);
    expect(r.body.errors.map((e: any) => e.path).sort()).toEqual(['bar', 'foo', 'priority', 'title', 'type']);
  });

  test('a body that is not JSON is 400', async () => {
    const r = await h.request('POST', '/api/v1/notifications', { token: svc, raw: '{"title":' });
    expect(r.status).toBe(400);
    expect(r.body.errors).toEqual([{ path: '(body)', message: 'is not valid JSON' }]);
  });

  test('a body over 1 MiB is 413', async () => {
    const r = await h.request('POST', '/api/v1/notifications', { token: svc, raw: JSON.stringify({ ...base, pad: 'x'.repeat(1100 * 1024) }) });
    expect(r.status).toBe(413);
  });

  test('nothing is enqueued for a rejected request', async () => {
    const before = await h.deps.queues.ingest.count();
    await send({ ...base, priority: 'asap' });
    expect(await h.deps.queues.ingest.count()).toBe(before);
  });
});

describe('POST /api/v1/notifications/bulk', () => {
  test('takes up to 1000 notifications in a few large jobs', async () => {
    const notifications = Array.from({ length: 1000 }, (_, i) => ({ ...base, user_id: `bulk-${i}`, priority: i % 2 ? 'high' : 'low' }));
    const r = await h.request('POST', '/api/v1/notifications/bulk', { token: svc, body: { notifications } });
    expect(r.status).toBe(202);
    expect(r.body.count).toBe(1000);
    expect(new Set(r.body.ids).size).toBe(1000);
    const jobs = (await h.deps.queues.ingest.getJobs(['prioritized', 'waiting'], 0, -1)).filter((j) =>
      j.data.notifications.some((n) => n.target.kind === 'user' && n.target.id.startsWith('bulk-')),
    );
    // 500 high + 500 low: one job each (chunks of at most 500, grouped by priority)
    expect(jobs.map((j) => [j.opts.priority, j.data.notifications.length]).sort()).toEqual([
      [2, 500],
      [4, 500],
    ]);
  });

  test('1001 notifications is 400', async () => {
    const notifications = Array.from({ length: 1001 }, () => base);
    const r = await h.request('POST', '/api/v1/notifications/bulk', { token: svc, body: { notifications } });
    expect(r.status).toBe(400);
    expect(r.body.errors[0].path).toBe('notifications');
  });

  test('bad items are named by their index; nothing is accepted', async () => {
    const r = await h.request('POST', '/api/v1/notifications/bulk', {
      token: svc,
      body: { notifications: [base, { ...base, type: 'nope' }, { ...base, title: '' }] },
    });
    expect(r.status).toBe(400);
    expect(r.body.errors.map((e: any) => e.path)).toEqual(['notifications.1.type', 'notifications.2.title']);
  });

  test('an empty list or a missing list is 400', async () => {
    expect((await h.request('POST', '/api/v1/notifications/bulk', { token: svc, body: { notifications: [] } })).status).toBe(400);
    expect((await h.request('POST', '/api/v1/notifications/bulk', { token: svc, body: {} })).status).toBe(400);
  });
});

describe('idempotency_key', () => {
  test('a second send with the same key returns the first result and creates nothing', async () => {
    const body = { ...base, idempotency_key: 'order-42-confirmed' };
    const first = await send(body);
    const count = await h.deps.queues.ingest.count();
    const second = await send({ ...body, title: 'changed' });
    expect(second.status).toBe(202);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    expect(second.body.id).toBe(first.body.id);
    expect(second.body.title).toBe('Stock low');
    expect(await h.deps.queues.ingest.count()).toBe(count);
  });

  test('keys are per sender: another service may use the same key', async () => {
    const other = await h.serviceToken();
    const a = await send({ ...base, idempotency_key: 'shared-key' });
    const b = await send({ ...base, idempotency_key: 'shared-key' }, other);
    expect(b.body.id).not.toBe(a.body.id);
  });

  test('in a bulk, replayed items keep their first ids and only new ones are enqueued', async () => {
    const first = await send({ ...base, idempotency_key: 'bulk-item-1' });
    const r = await h.request('POST', '/api/v1/notifications/bulk', {
      token: svc,
      body: { notifications: [{ ...base, idempotency_key: 'bulk-item-1' }, { ...base, idempotency_key: 'bulk-item-2' }] },
    });
    expect(r.body.ids[0]).toBe(first.body.id);
    expect(await queuedJobFor(r.body.ids[1])).toBeDefined();
  });

  test('the key is remembered for 24 hours', async () => {
    await send({ ...base, idempotency_key: 'ttl-check' });
    const keys = await h.redis.keys(`${h.prefix}:idem:*ttl-check`);
    const ttl = await h.redis.ttl(keys[0]);
    expect(ttl).toBeGreaterThan(86_000);
    expect(ttl).toBeLessThanOrEqual(86_400);
  });
});
