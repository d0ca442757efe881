/**
 * HeraldClient's self-service and action methods against a real api, ingest
 * worker and realtime node, and the unread count after a recall (the server
 * sends no per-user count with a recall: the client lowers it itself).
 */
import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import WebSocket from 'ws';
import { HeraldClient } from '../src/client/herald-client.js';
import type { SocketConstructor } from '../src/client/live-feed.js';
import { createHarness, listenApi, uniq, waitFor, type Harness } from './helpers/harness.js';
import { startNode } from './helpers/ws-node.js';

let h: Harness;
let apiUrl: string;
let wsUrl: string;
let svc: string;
const clients: HeraldClient[] = [];

beforeAll(async () => {
  h = await createHarness({ RATE_LIMIT_USER_PER_MIN: '1000000' });
  await h.startIngest();
  wsUrl = `ws://127.0.0.1:${(await startNode(h, { upgradeUserPerMin: 1_000_000 })).port}/api/v1/ws`;
  apiUrl = await listenApi(h);
  svc = await h.serviceToken();
}, 30_000);
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});
afterAll(() => h?.close());

function client(token: string, connect = false) {
  const c = new HeraldClient({ apiUrl, wsUrl, token, WebSocket: WebSocket as unknown as SocketConstructor, connect, storage: null });
  clients.push(c);
  return c;
}

async function send(body: Record<string, unknown>): Promise<string> {
  const r = await h.request('POST', '/api/v1/notifications', { token: svc, body: { content: 'c', ...body } });
  expect(r.status).toBe(202);
  return r.body.id;
}

test('action(id, n) records the button taken and answers its url; a wrong button is a 404 HeraldError', async () => {
  const user = uniq('u');
  const c = client(await h.token({ sub: user }));
  const id = await send({ user_id: user, title: 'act', actions: [{ label: 'Open', url: 'https://example.com/a' }, { label: 'Later', url: 'https://example.com/b', style: 'secondary' }] });
  await waitFor(async () => (await c.list()).notifications.length === 1, 10_000, 'stored');
  expect(await c.action(id, 1)).toEqual({ success: true, url: 'https://example.com/b' });
  const r = await h.request('GET', `/api/v1/notifications/${id}/deliveries`, { token: svc });
  expect(r.status).toBe(200);
  expect(r.body.actions_taken).toEqual([{ index: 0, label: 'Open', count: 0 }, { index: 1, label: 'Later', count: 1 }]);
  await expect(c.action(id, 2)).rejects.toMatchObject({ name: 'HeraldError', status: 404 });
});

test('registerPushToken then unregisterPushToken: the device is gone from GET /me, and a second delete is a 404', async () => {
  const user = uniq('u');
  const c = client(await h.token({ sub: user }));
  const tokens = await c.registerPushToken('device-1', 'fcm');
  expect(JSON.stringify(tokens)).toContain('device-1');
  expect(await c.unregisterPushToken('device-1')).toMatchObject({ success: true });
  const me = await h.request('GET', '/api/v1/me', { token: await h.token({ sub: user }) });
  expect(JSON.stringify(me.body)).not.toContain('device-1');
  await expect(c.unregisterPushToken('device-1')).rejects.toMatchObject({ status: 404 });
});

test('a recall of an unread notification lowers the unread count; of a read one, leaves it', async () => {
  const user = uniq('u');
  const c = client(await h.token({ sub: user }), true);
  const counts: number[] = [];
  const recalled: string[] = [];
  c.on('unread_count', (n) => counts.push(n));
  c.on('recalled', (r) => recalled.push(r.id));
  await waitFor(() => c.connection === 'open', 10_000, 'open');
  const [a, b] = [await send({ user_id: user, title: 'a' }), await send({ user_id: user, title: 'b' })];
  await waitFor(() => counts.at(-1) === 2, 10_000, 'two unread');
  await c.read(b);
  await waitFor(() => counts.at(-1) === 1, 10_000, 'one unread after the read');

  const recall = (id: string) => h.request('DELETE', `/api/v1/notifications/${id}/recall`, { token: svc });
  expect((await recall(b)).status).toBe(200);
  await waitFor(() => recalled.includes(b), 10_000, 'the recall of the read one');
  expect(counts.at(-1)).toBe(1);
  expect((await recall(a)).status).toBe(200);
  await waitFor(() => recalled.includes(a), 10_000, 'the recall of the unread one');
  expect(counts.at(-1)).toBe(0);
  expect((await h.request('GET', '/api/v1/notifications/unread-count', { token: await h.token({ sub: user }) })).body.unread_count).toBe(0);
});

test('the rest of the inbox routes as methods: me, unreadCount, stats, grouped, batch, archiveRead, snooze and unsnooze', async () => {
  const user = uniq('u');
  const c = client(await h.token({ sub: user }));
  const [a, b, d] = [await send({ user_id: user, title: 'a', group_key: 'g' }), await send({ user_id: user, title: 'b', group_key: 'g' }), await send({ user_id: user, title: 'd' })];
  await waitFor(async () => (await c.unreadCount()) === 3, 10_000, 'three unread');
  expect(await c.me()).toMatchObject({ id: user, unread_count: 3, unseen_count: 3 });
  expect((await c.stats()).total).toBe(3);
  const groups = await c.grouped();
  expect(JSON.stringify(groups)).toContain('"g"');

  expect(await c.batch([a, b], 'read')).toEqual({ success: true, count: 2 });
  expect(await c.unreadCount()).toBe(1);
  expect((await c.archiveRead()).count).toBe(2);
  expect((await c.list()).notifications.map((n) => n.id)).toEqual([d]);

  await c.snooze(d, new Date(Date.now() + 3_600_000));
  expect((await c.list()).notifications).toEqual([]);
  await c.unsnooze(d);
  expect((await c.list()).notifications.map((n) => n.id)).toEqual([d]);
});
