import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startChannelWorker } from './helpers/channels.js';
import { createHarness, uniq, waitFor, type Harness } from './helpers/harness.js';
import { connect, startNode } from './helpers/ws-node.js';

/** Recall and grouping against a real realtime node: what open sockets see. */
let h: Harness;
let node: Awaited<ReturnType<typeof startNode>>;
let svc: string;
beforeAll(async () => {
  h = await createHarness({ RATE_LIMIT_USER_PER_MIN: '1000000' });
  await h.startIngest();
  node = await startNode(h);
  svc = await h.serviceToken();
});
afterAll(() => h?.close());

const send = async (body: Record<string, unknown>, token = svc) => {
  const r = await h.request('POST', '/api/v1/notifications', { token, body: { title: '新订单', content: '订单来了', ...body } });
  expect(r.status).toBe(202);
  return r.body.id as string;
};
const socketOf = async (sub: string, claims: Record<string, unknown> = {}) => connect(`${node.url()}?token=${await h.token({ sub, ...claims })}`);

describe('recall', () => {
  test('takes a sent notification out of every inbox and unread count and tells open sockets', async () => {
    const [alice, bob] = [await h.token({ sub: 'alice', roles: ['chef'] }), await h.token({ sub: 'bob', roles: ['chef'] })];
    const aliceWs = await socketOf('alice', { roles: ['chef'] });
    const id = await send({ role: 'chef' });
    const kept = await send({ role: 'chef', title: '留下' });
    await aliceWs.until(() => aliceWs.events('notification').length === 2);
    for (const t of [alice, bob]) expect((await h.request('GET', '/api/v1/notifications/unread-count', { token: t })).body.unread_count).toBe(2);

    const stranger = await h.serviceToken();
    expect((await h.request('DELETE', `/api/v1/notifications/${id}/recall`, { token: stranger })).status).toBe(404);
    expect((await h.request('DELETE', `/api/v1/notifications/${id}/recall`, { token: alice })).status).toBe(403);

    const r = await h.request('DELETE', `/api/v1/notifications/${id}/recall`, { token: svc });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ success: true, status: 'recalled', id });
    const frame = await aliceWs.until(() => aliceWs.events('notification.recalled')[0]);
    expect(frame.id).toBe(id);

    for (const t of [alice, bob]) {
      expect((await h.request('GET', '/api/v1/notifications/unread-count', { token: t })).body.unread_count).toBe(1);
      const list = (await h.request('GET', '/api/v1/notifications', { token: t })).body.notifications.map((n: any) => n.id);
      expect(list).toEqual([kept]);
      expect((await h.request('GET', `/api/v1/notifications/${id}`, { token: t })).status).toBe(404);
    }
    // its sender still sees it, recalled; recalling again is harmless
    expect((await h.request('GET', `/api/v1/notifications/${id}`, { token: svc })).body).toMatchObject({ status: 'recalled', cursor: null });
    expect((await h.request('DELETE', `/api/v1/notifications/${id}/recall`, { token: svc })).status).toBe(200);
    aliceWs.close();
  });

  test('a recalled notification read before stays out; a scheduled one is simply cancelled', async () => {
    const carol = await h.token({ sub: 'carol' });
    const id = await send({ user_id: 'carol' });
    await waitFor(async () => (await h.request('GET', `/api/v1/notifications/${id}`, { token: carol })).status === 200);
    await h.request('PUT', `/api/v1/notifications/${id}/read`, { token: carol });
    await h.request('DELETE', `/api/v1/notifications/${id}/recall`, { token: svc });
    expect((await h.request('GET', '/api/v1/notifications?is_read=true', { token: carol })).body.notifications).toEqual([]);
    expect((await h.request('GET', '/api/v1/notifications/stats', { token: carol })).body.total).toBe(0);

    const later = await h.request('POST', '/api/v1/notifications', {
      token: svc,
      body: { title: 't', content: 'c', user_id: 'carol', schedule_at: new Date(Date.now() + 60_000).toISOString() },
    });
    await waitFor(async () => (await h.request('GET', `/api/v1/notifications/${later.body.id}`, { token: svc })).status === 200);
    const r = await h.request('DELETE', `/api/v1/notifications/${later.body.id}/recall`, { token: svc });
    expect(r.body).toMatchObject({ status: 'cancelled' });
  });

  test("cancels the notification's channel deliveries that have not started", async () => {
    // no webhook worker runs yet, so the delivery waits in its queue
    const id = await send({ user_id: 'dave', channels: ['app', 'webhook'], metadata: { webhook_url: 'http://127.0.0.1:9/never' } });
    const queued = await waitFor(async () => {
      const rows = await h.orm.em.fork().execute<Array<{ id: string; status: string }>>(`select id, status from deliveries where notification_id = ?`, [id]);
      return rows.length ? rows : null;
    });
    expect(queued[0].status).toBe('queued');
    const jobId = `d-${queued[0].id}`;
    // a worker that does not run (autorun: false) gives this test the channel's queue, and cleans it up
    const worker = await startChannelWorker(h, 'webhook', { WEBHOOK_SECRET: 'recall-secret' }, { autorun: false });
    expect(await worker.queues.webhook.getJobState(jobId)).not.toBe('unknown');

    const r = await h.request('DELETE', `/api/v1/notifications/${id}/recall`, { token: svc });
    expect(r.status).toBe(200);
    const [row] = await h.orm.em.fork().execute<Array<{ status: string; reason: string }>>(`select status, reason from deliveries where id = ?`, [queued[0].id]);
    expect(row).toEqual({ status: 'skipped', reason: 'recalled' });
    expect(await worker.queues.webhook.getJobState(jobId)).toBe('unknown');
    const deliveries = await h.request('GET', `/api/v1/notifications/${id}/deliveries`, { token: svc });
    expect(deliveries.body.deliveries[0]).toMatchObject({ channel: 'webhook', status: 'skipped', reason: 'recalled' });
  });
});

describe('grouping', () => {
  test("each new notification of a group carries the group's count and replaces the previous toast", async () => {
    const ws = await socketOf('erin');
    const key = uniq('orders');
    for (let i = 1; i <= 3; i++) {
      await send({ user_id: 'erin', title: `订单 ${i}`, group_key: key });
      await ws.until(() => ws.events('notification').length === i);
    }
    const other = await send({ user_id: 'erin', title: '别的' });
    await ws.until(() => ws.events('notification').length === 4);
    const frames = ws.events('notification');
    expect(frames.slice(0, 3).map((f) => [f.title, f.group_count, f.replaces])).toEqual([
      ['订单 1', 1, key],
      ['订单 2', 2, key],
      ['订单 3', 3, key],
    ]);
    expect(frames[3]).toMatchObject({ id: other });
    expect(frames[3].group_count).toBeUndefined();
    expect(frames[3].replaces).toBeUndefined();

    const grouped = await h.request('GET', '/api/v1/notifications/grouped', { token: await h.token({ sub: 'erin' }) });
    const g = grouped.body.groups.find((x: any) => x.group_key === key);
    expect(g).toMatchObject({ count: 3, unread_count: 3, latest: { title: '订单 3' } });
    ws.close();
  });
});
