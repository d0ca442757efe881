import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createHarness, uniq, waitFor, type Harness } from './helpers/harness.js';

let h: Harness;
let svc: string;
beforeAll(async () => {
  h = await createHarness();
  await h.startIngest();
  svc = await h.serviceToken();
});
afterAll(() => h.close());

/** Sends and waits until the ingest worker has stored every notification of the request. */
async function deliver(body: Record<string, unknown>, sender = svc): Promise<string[]> {
  const r = await h.request('POST', '/api/v1/notifications', { token: sender, body: { title: 'T', content: 'C', ...body } });
  expect(r.status).toBe(202);
  const ids: string[] = r.body.ids;
  await waitFor(async () => {
    const rows = await h.orm.em.fork().execute(`select count(*)::int as n from notifications where id = any(?::uuid[])`, [`{${ids.join(',')}}`]);
    return rows[0].n === ids.length;
  });
  return ids;
}

const get = async (token: string, path: string) => {
  const r = await h.request('GET', `/api/v1${path}`, { token });
  expect(r.status, `${path}: ${JSON.stringify(r.body)}`).toBe(200);
  return r.body;
};
const unread = async (token: string) => (await get(token, '/notifications/unread-count')).unread_count as number;

describe('targets', () => {
  test('one user, many users, a role, a store and the whole tenant reach exactly their users', async () => {
    const s = uniq('store');
    const role = uniq('role');
    const [toAnn] = await deliver({ user_id: 'ann' });
    const [toBenA, toCy] = await deliver({ user_ids: ['ben', 'cy'] });
    const [toRole] = await deliver({ role });
    const [toStore] = await deliver({ store_id: s });
    const [toAll] = await deliver({ broadcast: true });

    const ann = await h.token({ sub: 'ann', roles: [role] });
    const ben = await h.token({ sub: 'ben', stores: [s] });
    const cy = await h.token({ sub: 'cy' });
    const ids = async (t: string) => (await get(t, '/notifications?limit=100')).notifications.map((n: any) => n.id).sort();
    expect(await ids(ann)).toEqual([toAnn, toRole, toAll].sort());
    expect(await ids(ben)).toEqual([toBenA, toStore, toAll].sort());
    expect(await ids(cy)).toEqual([toCy, toAll].sort());
  });

  test('a store notification is stored once and read state is per user', async () => {
    const s = uniq('store');
    const [id] = await deliver({ store_id: s, title: 'store news' });
    const rows = await h.orm.em.fork().execute(`select count(*)::int as n from notifications where tenant = ? and store_id = ?`, [h.tenant, s]);
    expect(rows[0].n).toBe(1);

    const a = await h.token({ sub: uniq('a'), stores: [s] });
    const b = await h.token({ sub: uniq('b'), stores: [s] });
    const [ua, ub] = [await unread(a), await unread(b)];
    expect((await h.request('PUT', `/api/v1/notifications/${id}/read`, { token: a })).body).toEqual({ success: true, message: '已标记为已读' });
    expect(await unread(a)).toBe(ua - 1);
    expect(await unread(b)).toBe(ub);
    expect((await get(a, `/notifications/${id}`)).is_read).toBe(true);
    expect((await get(b, `/notifications/${id}`)).is_read).toBe(false);

    // deleting is per user too
    await h.request('DELETE', `/api/v1/notifications/${id}`, { token: b });
    expect((await h.request('GET', `/api/v1/notifications/${id}`, { token: b })).status).toBe(404);
    expect((await h.request('GET', `/api/v1/notifications/${id}`, { token: a })).status).toBe(200);
  });
});

describe('the inbox endpoints', () => {
  let token: string;
  let ids: string[];
  const user = uniq('reader');
  // a tenant of its own, so the broadcasts of other tests do not reach this inbox
  const tenant = uniq('inbox-tenant');
  beforeAll(async () => {
    token = await h.token({ sub: user, tenant });
    const sender = await h.token({ sub: 'svc', tenant, scope: 'notify:send' });
    ids = [];
    const types = ['info', 'warning', 'error', 'info', 'alert', 'success', 'info'];
    const priorities = ['low', 'high', 'urgent', 'normal', 'high', 'normal', 'low'];
    for (let i = 0; i < 7; i++) {
      ids.push(...(await deliver({ user_id: user, title: `n${i}`, type: types[i], priority: priorities[i], group_key: i < 3 ? 'orders' : undefined }, sender)));
    }
  });

  test('GET /notifications lists newest first with the VoiceHelper API\'s paging fields', async () => {
    const body = await get(token, '/notifications');
    expect(body.notifications.map((n: any) => n.title)).toEqual(['n6', 'n5', 'n4', 'n3', 'n2', 'n1', 'n0']);
    expect(body).toMatchObject({ total: 7, page: 1, page_size: 20, total_pages: 1, next_cursor: null });
    expect(body.notifications[0]).toMatchObject({ is_read: false, read_at: null, user_id: user, message: 'C', status: 'sent' });
  });

  test('offset paging (the 智链OS API: limit/offset)', async () => {
    const body = await get(token, '/notifications?limit=3&offset=3');
    expect(body.notifications.map((n: any) => n.title)).toEqual(['n3', 'n2', 'n1']);
    expect(body).toMatchObject({ total: 7, page: 2, page_size: 3, total_pages: 3 });
  });

  test('page paging (the VoiceHelper API: page/page_size)', async () => {
    const body = await get(token, '/notifications?page=3&page_size=3');
    expect(body.notifications.map((n: any) => n.title)).toEqual(['n0']);
    expect(body).toMatchObject({ total: 7, page: 3, page_size: 3, total_pages: 3 });
  });

  test('keyset paging with cursor walks the whole inbox without overlap', async () => {
    const seen: string[] = [];
    let cursor: string | null = '';
    do {
      const body: any = await get(token, `/notifications?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...body.notifications.map((n: any) => n.title));
      cursor = body.next_cursor;
    } while (cursor);
    expect(seen).toEqual(['n6', 'n5', 'n4', 'n3', 'n2', 'n1', 'n0']);
  });

  test('since=<cursor> returns what came after, oldest first, and a cursor to continue', async () => {
    const all = await get(token, '/notifications');
    const third = all.notifications[4]; // n2
    const body = await get(token, `/notifications?since=${third.cursor}`);
    expect(body.notifications.map((n: any) => n.title)).toEqual(['n3', 'n4', 'n5', 'n6']);
    expect(body.next_cursor).toBe(all.notifications[0].cursor);
    const none = await get(token, `/notifications?since=${body.next_cursor}`);
    expect(none.notifications).toEqual([]);
    expect(none.next_cursor).toBe(body.next_cursor);
  });

  test('since=<time> returns what was created since then', async () => {
    const body = await get(token, `/notifications?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`);
    expect(body.notifications).toEqual([]);
    const past = await get(token, `/notifications?since=2000-01-01T00:00:00Z`);
    expect(past.total).toBe(7);
  });

  test('filters: type, priority (comma lists), is_read', async () => {
    expect((await get(token, '/notifications?type=info')).notifications.map((n: any) => n.title)).toEqual(['n6', 'n3', 'n0']);
    expect((await get(token, '/notifications?priority=high,urgent')).total).toBe(3);
    expect((await get(token, '/notifications?type=info&priority=low')).total).toBe(2);
    expect((await get(token, '/notifications?is_read=true')).total).toBe(0);
  });

  test('bad query parameters are 400 naming them', async () => {
    for (const [q, path] of [
      ['type=shout', 'type'],
      ['priority=asap', 'priority'],
      ['limit=0', 'limit'],
      ['page_size=101', 'page_size'],
      ['is_read=maybe', 'is_read'],
      ['cursor=abc', 'cursor'],
      ['since=yesterday', 'since'],
    ]) {
      const r = await h.request('GET', `/api/v1/notifications?${q}`, { token });
      expect(r.status, q).toBe(400);
      expect(r.body.errors.map((e: any) => e.path.split('.')[0])).toContain(path);
    }
  });

  test('GET /notifications/:id; an unknown or malformed id is 404', async () => {
    expect((await get(token, `/notifications/${ids[2]}`)).title).toBe('n2');
    expect((await h.request('GET', '/api/v1/notifications/01a20099-d608-7f12-9a72-000000000000', { token })).status).toBe(404);
    expect((await h.request('GET', '/api/v1/notifications/not-an-id', { token })).status).toBe(404);
  });

  test('unread count on both paths; read and unread change it', async () => {
    expect(await unread(token)).toBe(7);
    expect((await get(token, '/notifications/unread/count')).unread_count).toBe(7);
    await h.request('PUT', `/api/v1/notifications/${ids[0]}/read`, { token });
    await h.request('PUT', `/api/v1/notifications/${ids[0]}/read`, { token }); // twice: still one read
    expect(await unread(token)).toBe(6);
    const one = await get(token, `/notifications/${ids[0]}`);
    expect(one.is_read).toBe(true);
    expect(Date.parse(one.read_at)).not.toBeNaN();
    expect((await get(token, '/notifications?is_read=true')).notifications.map((n: any) => n.id)).toEqual([ids[0]]);
    const r = await h.request('PUT', `/api/v1/notifications/${ids[0]}/unread`, { token });
    expect(r.body).toEqual({ success: true, message: '已标记为未读' });
    expect(await unread(token)).toBe(7);
  });

  test('batch-mark read, unread and delete', async () => {
    const r = await h.request('POST', '/api/v1/notifications/batch-mark', { token, body: { ids: [ids[1], ids[2]], action: 'read' } });
    expect(r.body).toEqual({ success: true, count: 2 });
    expect(await unread(token)).toBe(5);
    await h.request('POST', '/api/v1/notifications/batch-mark', { token, body: { ids: [ids[1]], action: 'unread' } });
    expect(await unread(token)).toBe(6);
    const bad = await h.request('POST', '/api/v1/notifications/batch-mark', { token, body: { ids: ['x'], action: 'archive' } });
    expect(bad.status).toBe(400);
    expect(bad.body.errors.map((e: any) => e.path).sort()).toEqual(['action', 'ids.0']);
  });

  test('stats: totals by type, priority, status and read state', async () => {
    const s = await get(token, '/notifications/stats');
    expect(s).toMatchObject({ total: 7, unread: 6, read: 1 });
    expect(s.by_type).toEqual({ info: 3, warning: 1, error: 1, alert: 1, success: 1 });
    expect(s.by_priority).toEqual({ low: 2, normal: 2, high: 2, urgent: 1 });
    expect(s.by_status).toEqual({ sent: 7 });
  });

  test('grouped: by group_key, else type, with count and latest', async () => {
    const { groups } = await get(token, '/notifications/grouped');
    const orders = groups.find((g: any) => g.group === 'orders');
    expect(orders).toMatchObject({ group_key: 'orders', count: 3, unread_count: 2 });
    expect(orders.latest.title).toBe('n2');
    const info = groups.find((g: any) => g.group === 'info');
    expect(info).toMatchObject({ group_key: null, type: 'info', count: 2 });
    expect(info.latest.title).toBe('n6');
    expect(groups[0].latest.title).toBe('n6');
  });

  test('delete is a soft delete for this user only', async () => {
    const r = await h.request('DELETE', `/api/v1/notifications/${ids[6]}`, { token });
    expect(r.body).toEqual({ success: true, message: '通知已删除' });
    expect((await get(token, '/notifications')).total).toBe(6);
    const row = await h.orm.em.fork().execute('select count(*)::int as n from notifications where id = ?', [ids[6]]);
    expect(row[0].n).toBe(1);
  });

  test('read-all: PUT and POST, counting what it marked', async () => {
    const before = await unread(token);
    const r = await h.request('PUT', '/api/v1/notifications/read-all', { token });
    expect(r.body).toEqual({ success: true, message: `已标记${before}条通知为已读`, count: before });
    expect(await unread(token)).toBe(0);
    const again = await h.request('POST', '/api/v1/notifications/read-all', { token });
    expect(again.body.count).toBe(0);
  });
});
