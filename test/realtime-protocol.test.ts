import { afterAll, beforeAll, expect, test } from 'vitest';
import { producerConnection, workerConnection } from '../queues/connection.js';
import { createVerifier, signToken } from '../src/auth/jwt.js';
import { startRealtimeNode } from '../src/realtime/node.js';
import { publishEvents } from '../src/feed/publish.js';
import { TEST_JWT_SECRET } from './helpers/env.js';
import { createHarness, uniq, waitFor, type Harness } from './helpers/harness.js';
import { connect, refusedUpgrade, startNode } from './helpers/ws-node.js';

/** The realtime protocol on a real node: upgrade auth, welcome, events, ping/pong, acks, the node's HTTP answers. */
let h: Harness;
let node: Awaited<ReturnType<typeof startNode>>;

beforeAll(async () => {
  h = await createHarness();
  await h.startIngest();
  node = await startNode(h);
});
afterAll(() => h?.close());

async function send(body: Record<string, unknown>) {
  const res = await h.request('POST', '/api/v1/notifications', { token: await h.serviceToken(), body: { title: 't', message: 'm', ...body } });
  expect(res.status).toBe(202);
  return res.body.id as string;
}

test('a missing, bad, expired or foreign-signed token is refused at upgrade with 401 and no socket', async () => {
  const expired = await signToken(TEST_JWT_SECRET, { sub: 'u', tenant: h.tenant, expiresIn: '-1m' });
  const foreign = await signToken('another-secret-0123456789abcdef', { sub: 'u', tenant: h.tenant });
  for (const query of ['', '?token=', '?token=not-a-jwt', `?token=${expired}`, `?token=${foreign}`]) {
    const res = await refusedUpgrade(node.url() + query);
    expect(res.status, query).toBe(401);
    expect(res.body).toMatchObject({ status: 401, title: 'Unauthorized' });
  }
  expect(node.connections()).toBe(0);
});

test('a since that is not a cursor is refused with 400 naming the field', async () => {
  const token = await h.token({ sub: 'u' });
  const res = await refusedUpgrade(`${node.url()}?token=${token}&since=yesterday`);
  expect(res.status).toBe(400);
  expect(res.body.errors).toEqual([{ path: 'since', message: expect.any(String) }]);
});

test('both paths accept a token; the welcome frame carries server time and unread count', async () => {
  const user = uniq('u');
  await send({ user_id: user });
  await send({ user_id: user });
  const token = await h.token({ sub: user });
  await waitFor(async () => (await h.request('GET', '/api/v1/notifications/unread-count', { token })).body.unread_count === 2);
  for (const path of ['/api/v1/ws', '/api/v1/notifications/ws']) {
    const c = await connect(`${node.url(path)}?token=${token}`);
    const [welcome] = c.events('welcome');
    expect(welcome).toMatchObject({ event: 'welcome', user_id: user, tenant: h.tenant, unread_count: 2, cursor: expect.stringMatching(/^\d+$/) });
    expect(Math.abs(Date.parse(welcome.server_time) - Date.now())).toBeLessThan(60_000);
    c.close();
  }
});

test("the welcome's cursor is the newest notification still in the inbox; read ones count as read", async () => {
  const user = uniq('u');
  const token = await h.token({ sub: user });
  const empty = await connect(`${node.url()}?token=${token}`);
  expect(empty.events('welcome')[0]).toMatchObject({ unread_count: 0, cursor: '0' });
  empty.close();

  const [first, second, third] = [await send({ user_id: user }), await send({ user_id: user }), await send({ user_id: user })];
  await waitFor(async () => (await h.request('GET', '/api/v1/notifications/unread-count', { token })).body.unread_count === 3);
  const { body } = await h.request('GET', '/api/v1/notifications?limit=10', { token });
  const cursorOf = (id: string) => body.notifications.find((n: any) => n.id === id).cursor as string;
  expect((await h.request('PUT', `/api/v1/notifications/${first}/read`, { token })).status).toBe(200);
  expect((await h.request('DELETE', `/api/v1/notifications/${third}`, { token })).status).toBe(200);

  const c = await connect(`${node.url()}?token=${token}`);
  // third is deleted, so second is the newest; first is read, so only second is unread
  expect(c.events('welcome')[0]).toMatchObject({ unread_count: 1, cursor: cursorOf(second) });
  c.close();
});

test("text and JSON pings get a JSON pong event; junk gets an error event; every frame parses as JSON (the 智链OS API's snippet JSON.parses them all)", async () => {
  const c = await connect(`${node.url()}?token=${await h.token({ sub: uniq('u') })}`);
  c.send('ping');
  await c.until(() => c.events('pong').length === 1);
  c.send({ type: 'ping' });
  await c.until(() => c.events('pong').length === 2);
  c.send('{not json');
  c.send({ type: 'dance' });
  await c.until(() => c.events('error').length === 2);
  expect(c.events('error').map((e) => e.error)).toEqual(['bad_message', 'unknown_type']);
  for (const text of c.texts) expect(() => JSON.parse(text), text).not.toThrow();
  expect(c.closed).toBeNull();
  c.close();
});

test('reading on one device sends notification.read and unread_count to the other devices', async () => {
  const user = uniq('u');
  const token = await h.token({ sub: user });
  const phone = await connect(`${node.url()}?token=${token}`);
  const laptop = await connect(`${node.url()}?token=${token}`);
  const id = await send({ user_id: user });
  await phone.until(() => phone.events().length);
  await laptop.until(() => laptop.events().length);
  expect((await h.request('PUT', `/api/v1/notifications/${id}/read`, { token })).status).toBe(200);
  for (const c of [phone, laptop]) {
    const read = await c.until(() => c.events('notification.read')[0]);
    expect(read.ids).toEqual([id]);
    const count = await c.until(() => c.events('unread_count')[0]);
    expect(count.unread_count).toBe(0);
  }
  phone.close();
  laptop.close();
});

test('notification.recalled published to the audience topic is relayed to its sockets only', async () => {
  const member = await connect(`${node.url()}?token=${await h.token({ sub: uniq('u'), roles: ['chef'] })}`);
  const other = await connect(`${node.url()}?token=${await h.token({ sub: uniq('u'), roles: ['waiter'] })}`);
  const id = await send({ role: 'chef' });
  await member.until(() => member.events().length);
  await publishEvents(h.redis, h.prefix, [{ tenant: h.tenant, audience: 'r:chef', frame: { event: 'notification.recalled', id } }]);
  const recalled = await member.until(() => member.events('notification.recalled')[0]);
  expect(recalled.id).toBe(id);
  // a personal frame to the other socket after the recall: it arrives, the recall never did
  await publishEvents(h.redis, h.prefix, [{ tenant: h.tenant, audience: `u:${(other.frames[0] as any).user_id}`, frame: { event: 'unread_count', unread_count: 0 } }]);
  await other.until(() => other.events('unread_count').length);
  expect(other.events('notification.recalled')).toEqual([]);
  member.close();
  other.close();
});

test('DELETE /notifications/:id/recall reaches the open sockets of its audience as notification.recalled', async () => {
  const store = uniq('store');
  const member = await connect(`${node.url()}?token=${await h.token({ sub: uniq('u'), stores: [store] })}`);
  const svc = await h.serviceToken();
  const sent = await h.request('POST', '/api/v1/notifications', { token: svc, body: { title: 'oops', message: 'wrong price', store_id: store } });
  expect(sent.status).toBe(202);
  await member.until(() => member.events().some((f) => f.id === sent.body.id));
  const recalled = await h.request('DELETE', `/api/v1/notifications/${sent.body.id}/recall`, { token: svc });
  expect(recalled.status).toBeLessThan(300);
  const frame = await member.until(() => member.events('notification.recalled')[0]);
  expect(frame.id).toBe(sent.body.id);
  member.close();
});

test('{"type":"ack","id"} is recorded once per user and notification; ids outside the inbox are ignored', async () => {
  const user = uniq('u');
  const token = await h.token({ sub: user });
  const c = await connect(`${node.url()}?token=${token}`);
  const mine = await send({ user_id: user });
  const theirs = await send({ user_id: uniq('someone-else') });
  await c.until(() => c.events().length);
  c.send({ type: 'ack', id: mine });
  c.send({ type: 'ack', id: mine });
  c.send({ type: 'ack', ids: [theirs, '00000000-0000-4000-8000-000000000000'] });
  c.send({ type: 'ack' });
  await c.until(() => c.events('error').length);
  expect(c.events('error')[0].error).toBe('bad_ack');
  const rows = await waitFor(async () => {
    const r = await h.orm.em.fork().execute(`select notification_id, acks from notification_acks where tenant = ? and user_id = ?`, [h.tenant, user]);
    return r.length && r[0].acks === 2 ? r : null;
  });
  expect(rows).toEqual([{ notification_id: mine, acks: 2 }]);
  c.close();
});

test('the node answers /health, /ready (PostgreSQL and Redis), 426 on a plain GET of the socket path, 404 elsewhere', async () => {
  const base = `http://127.0.0.1:${node.port}`;
  const health = await fetch(`${base}/health`);
  expect(health.status).toBe(200);
  expect(await health.json()).toMatchObject({ status: 'ok', service: 'herald-realtime', node: node.nodeId });
  const ready = await fetch(`${base}/ready`);
  expect(ready.status).toBe(200);
  expect(await ready.json()).toEqual({ status: 'ready', checks: { postgres: 'ok', migrations: 'ok', redis: 'ok' } });
  expect((await fetch(`${base}/api/v1/ws`)).status).toBe(426);
  const missing = await fetch(`${base}/nope`);
  expect(missing.status).toBe(404);
  expect(missing.headers.get('content-type')).toBe('application/problem+json');
});

test('/ready answers 503 naming Redis when the node loses its Redis connection', async () => {
  const redis = producerConnection(h.config.REDIS_URL);
  redis.on('error', () => undefined);
  const subscriber = workerConnection(h.config.REDIS_URL);
  subscriber.on('error', () => undefined);
  const own = await startRealtimeNode(
    { logger: h.deps.logger, orm: h.orm, redis, subscriber, verifier: createVerifier({ secret: TEST_JWT_SECRET }) },
    { port: 0, prefix: h.prefix },
  );
  try {
    expect((await fetch(`http://127.0.0.1:${own.port}/ready`)).status).toBe(200);
    redis.disconnect();
    const res = await fetch(`http://127.0.0.1:${own.port}/ready`);
    expect(res.status).toBe(503);
    const body = (await res.json()) as { checks: Record<string, string> };
    expect(body.checks.redis).toMatch(/^down: /);
    expect(body.checks.postgres).toBe('ok');
  } finally {
    await own.close();
    await subscriber.quit();
  }
});
