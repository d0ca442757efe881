/**
 * A notification's link, image and buttons: refused unless they are http(s)
 * links, carried through every send shape to the inbox and the sockets, and
 * a button taken by a user is recorded once, marks the notification read
 * and is counted for its sender.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { NotificationDraft } from '../queues/jobs.js';
import * as res from '../src/api/openapi/responses.js';
import { newId } from '../src/domain/ids.js';
import { storeNotifications } from '../src/domain/sending/store.js';
import { topicChannelPattern } from '../src/feed/channels.js';
import { decodeMessages } from '../src/feed/wire.js';
import { TEST_REDIS_URL } from './helpers/env.js';
import { createHarness, uniq, waitFor, type Harness } from './helpers/harness.js';

let h: Harness;
let svc: string;
beforeAll(async () => {
  h = await createHarness({ RATE_LIMIT_USER_PER_MIN: '1000000' });
  await h.startIngest();
  svc = await h.serviceToken();
});
afterAll(() => h.close());

const LINKS = {
  url: 'https://shop.example.com/orders/1003',
  image_url: 'https://shop.example.com/img/1003.png',
  actions: [
    { label: 'Confirm', url: 'https://shop.example.com/orders/1003/confirm', style: 'primary' },
    { label: 'View', url: 'https://shop.example.com/orders/1003' },
  ],
};
/** LINKS as every answer presents them: style defaults to secondary. */
const PRESENTED = { ...LINKS, actions: [LINKS.actions[0], { ...LINKS.actions[1], style: 'secondary' }] };

const send = (body: Record<string, unknown>) =>
  h.request('POST', '/api/v1/notifications', { token: svc, body: { title: 'Order 1003', content: 'waiting for you', ...body } });
const sendBulk = (notifications: Record<string, unknown>[]) => h.request('POST', '/api/v1/notifications/bulk', { token: svc, body: { notifications } });

/** Waits until a user's inbox has the notification and returns it as the inbox presents it. */
const inInbox = (token: string, id: string) =>
  waitFor(async () => {
    const r = await h.request('GET', '/api/v1/notifications?limit=100', { token });
    return r.body.notifications?.find((n: { id: string }) => n.id === id);
  }, 10_000, `${id} in the inbox`);

describe('validation', () => {
  test('a javascript: button link is refused naming the button, a data: link naming its field', async () => {
    const r = await send({ user_id: 'u1', actions: [LINKS.actions[0], { label: 'Run', url: 'javascript:alert(document.cookie)' }] });
    expect(r.status).toBe(400);
    expect(r.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(r.body.errors).toEqual([{ path: 'actions.1.url', message: 'must be an http(s) URL' }]);

    const data = await send({ user_id: 'u1', url: 'data:text/html,<script>alert(1)</script>', image_url: 'ftp://files.example.com/x.png' });
    expect(data.status).toBe(400);
    expect(data.body.errors.map((e: { path: string }) => e.path).sort()).toEqual(['image_url', 'url']);
  });

  test('more than three buttons, an empty or long label, an unknown style, a link over 2048 characters', async () => {
    const four = Array.from({ length: 4 }, (_, i) => ({ label: `b${i}`, url: 'https://a.example.com' }));
    expect((await send({ user_id: 'u1', actions: four })).body.errors).toEqual([{ path: 'actions', message: expect.stringMatching(/3/) }]);
    const bad = await send({
      user_id: 'u1',
      url: `https://a.example.com/${'x'.repeat(2048)}`,
      actions: [
        { label: '', url: 'https://a.example.com' },
        { label: 'x'.repeat(41), url: 'https://a.example.com', style: 'loud' },
      ],
    });
    expect(bad.status).toBe(400);
    expect(bad.body.errors.map((e: { path: string }) => e.path).sort()).toEqual(['actions.0.label', 'actions.1.label', 'actions.1.style', 'url']);
  });

  test('a bulk send names the item', async () => {
    const r = await sendBulk([{ title: 'a', content: 'b', user_id: 'u1', actions: [{ label: 'go', url: 'javascript:void(0)' }] }]);
    expect(r.status).toBe(400);
    expect(r.body.errors).toEqual([{ path: 'notifications.0.actions.0.url', message: 'must be an http(s) URL' }]);
  });
});

describe('round trip', () => {
  test('a send with a link, an image and buttons answers them, and the inbox and the socket frame carry them', async () => {
    const user = uniq('ann');
    const token = await h.token({ sub: user });
    const sub = new Redis(TEST_REDIS_URL);
    const got: string[] = [];
    sub.on('pmessage', (_pattern, _channel, message) => got.push(message));
    await sub.psubscribe(topicChannelPattern(h.prefix));
    try {
      const r = await send({ user_id: user, ...LINKS });
      expect(r.status).toBe(202);
      expect(r.body).toMatchObject(PRESENTED);

      expect(await inInbox(token, r.body.id)).toMatchObject(PRESENTED);
      expect((await h.request('GET', `/api/v1/notifications/${r.body.id}`, { token })).body).toMatchObject(PRESENTED);

      const frame = await waitFor(() => got.flatMap(decodeMessages).map((m) => JSON.parse(m.frame)).find((f) => f.id === r.body.id));
      expect(frame).toMatchObject({ event: 'notification', ...PRESENTED });
      expect(res.accepted.safeParse(r.body).success).toBe(true);
    } finally {
      await sub.quit();
    }
  });

  test('a notification without them has no link, no image and no buttons', async () => {
    const user = uniq('bo');
    const r = await send({ user_id: user });
    expect(await inInbox(await h.token({ sub: user }), r.body.id)).toMatchObject({ url: null, image_url: null, actions: [] });
  });

  test('bulk and template sends pass them through', async () => {
    const user = uniq('cy');
    const token = await h.token({ sub: user });
    const bulk = await sendBulk([{ title: 'a', content: 'b', user_id: user, ...LINKS }]);
    expect(bulk.status).toBe(202);
    expect(await inInbox(token, bulk.body.ids[0])).toMatchObject(PRESENTED);

    const templated = await h.request('POST', '/api/v1/notifications/template', {
      token: svc,
      body: { template_name: 'order_confirmed', template_vars: { order_id: '1003', estimated_time: '18:30' }, user_id: user, channels: ['app'], ...LINKS },
    });
    expect(templated.status, JSON.stringify(templated.body)).toBe(202);
    expect(await inInbox(token, templated.body.id)).toMatchObject(PRESENTED);
  });

  test('an ingest job queued before links existed (no url, image_url or actions) is stored without them', async () => {
    const user = uniq('old');
    const draft: NotificationDraft = {
      id: newId(),
      tenant: h.tenant,
      target: { kind: 'user', id: user },
      title: 'old',
      content: 'job',
      type: 'info',
      priority: 'normal',
      channels: ['app'],
      fallback_channels: [],
      metadata: {},
      source: null,
      group_key: null,
      idempotency_key: null,
      sender: 'svc-old',
      created_at: new Date().toISOString(),
      schedule_at: null,
    };
    const [row] = await storeNotifications(h.orm.em.fork(), [draft]);
    expect(row).toMatchObject({ url: null, image_url: null, actions: [] });
    expect(await inInbox(await h.token({ sub: user }), draft.id)).toMatchObject({ url: null, image_url: null, actions: [] });
  });
});

describe('taking a button', () => {
  const take = (token: string, id: string, n: string | number) => h.request('POST', `/api/v1/notifications/${id}/actions/${n}`, { token });
  const deliveries = async (id: string) => (await h.request('GET', `/api/v1/notifications/${id}/deliveries`, { token: svc })).body;

  test('records it once per user, marks it read, answers the link, and the sender sees the counts', async () => {
    const role = uniq('cashier');
    const [ann, ben] = [uniq('ann'), uniq('ben')];
    const annToken = await h.token({ sub: ann, roles: [role] });
    const benToken = await h.token({ sub: ben, roles: [role] });
    const r = await send({ role, ...LINKS });
    expect(r.status).toBe(202);
    const id = r.body.id;
    expect(await inInbox(annToken, id)).toMatchObject({ is_read: false });
    expect((await deliveries(id)).actions_taken).toEqual([
      { index: 0, label: 'Confirm', count: 0 },
      { index: 1, label: 'View', count: 0 },
    ]);

    const taken = await take(annToken, id, 0);
    expect(taken.status).toBe(200);
    expect(taken.body).toEqual({ success: true, url: LINKS.actions[0].url });
    expect(res.actionTaken.safeParse(taken.body).success).toBe(true);
    expect(await inInbox(annToken, id)).toMatchObject({ is_read: true });
    // for ann alone: ben's copy of the role notification is still unread
    expect(await inInbox(benToken, id)).toMatchObject({ is_read: false });

    // a second click changes nothing; another user's click counts
    expect((await take(annToken, id, 0)).status).toBe(200);
    expect((await take(benToken, id, 0)).status).toBe(200);
    expect((await take(benToken, id, 1)).body).toEqual({ success: true, url: LINKS.actions[1].url });
    const seen = await deliveries(id);
    expect(seen.actions_taken).toEqual([
      { index: 0, label: 'Confirm', count: 2 },
      { index: 1, label: 'View', count: 1 },
    ]);
    expect(res.deliveryList.safeParse(seen).success).toBe(true);
    const rows = await h.orm.em.fork().execute(
      `select tenant, user_id, action_index, label from notification_actions where notification_id = ? order by user_id, action_index`,
      [id],
    );
    expect(rows).toEqual(
      [
        { tenant: h.tenant, user_id: ann, action_index: 0, label: 'Confirm' },
        { tenant: h.tenant, user_id: ben, action_index: 0, label: 'Confirm' },
        { tenant: h.tenant, user_id: ben, action_index: 1, label: 'View' },
      ].sort((a, b) => a.user_id.localeCompare(b.user_id) || a.action_index - b.action_index),
    );
  });

  test("another user's notification, a deleted one and a missing button are 404; a bad button number is 400 naming n", async () => {
    const [ann, eve] = [uniq('ann'), uniq('eve')];
    const annToken = await h.token({ sub: ann });
    const eveToken = await h.token({ sub: eve });
    const r = await send({ user_id: ann, ...LINKS });
    await inInbox(annToken, r.body.id);

    const eveTry = await take(eveToken, r.body.id, 0);
    expect(eveTry.status).toBe(404);
    expect(JSON.stringify(eveTry.body)).not.toContain(LINKS.actions[0].url);
    expect((await take(annToken, r.body.id, 2)).status).toBe(404);
    for (const n of ['x', '-1', '3', '1.5']) {
      const bad = await take(annToken, r.body.id, n);
      expect(bad.status, n).toBe(400);
      expect(bad.body.errors).toEqual([{ path: 'n', message: expect.any(String) }]);
    }
    expect((await take(annToken, 'not-a-uuid', 0)).status).toBe(404);
    // nothing was recorded by any of these, and ann's copy is still unread
    expect((await deliveries(r.body.id)).actions_taken.map((a: { count: number }) => a.count)).toEqual([0, 0]);
    expect(await inInbox(annToken, r.body.id)).toMatchObject({ is_read: false });

    expect((await h.request('DELETE', `/api/v1/notifications/${r.body.id}`, { token: annToken })).status).toBe(200);
    expect((await take(annToken, r.body.id, 0)).status).toBe(404);
  });

  test('a notification without buttons has none to take, and its sender sees no counts', async () => {
    const user = uniq('dee');
    const token = await h.token({ sub: user });
    const r = await send({ user_id: user });
    await inInbox(token, r.body.id);
    expect((await take(token, r.body.id, 0)).status).toBe(404);
    expect((await deliveries(r.body.id)).actions_taken).toEqual([]);
  });
});
