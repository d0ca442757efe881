import { afterAll, beforeAll, expect, test } from 'vitest';
import { workerConnection } from '../queues/connection.js';
import { createVerifier } from '../src/auth/jwt.js';
import { orderChannel, topicChannel } from '../src/feed/channels.js';
import { publishEvents } from '../src/feed/publish.js';
import { topicOf } from '../src/feed/topics.js';
import { startRealtimeNode } from '../src/realtime/node.js';
import { TEST_JWT_SECRET } from './helpers/env.js';
import { createHarness, uniq, waitFor, type Harness } from './helpers/harness.js';
import { connect, startNode, type Client } from './helpers/ws-node.js';

/**
 * Fan-out that grows with the nodes: a node subscribes to the topics its
 * sockets hold, so it receives its own users' records and not the
 * platform's. On one Redis (these tests) there are no order channels:
 * publishers send each tenant's batches in cursor order
 * (src/feed/in-order.ts); redis-cluster.test.ts covers the order channels.
 */
let h: Harness;
let one: Awaited<ReturnType<typeof startNode>>;
let two: Awaited<ReturnType<typeof startNode>>;
const REORDER_WAIT_MS = 3000;

beforeAll(async () => {
  h = await createHarness();
  await h.startIngest();
  one = await startNode(h, { reorderWaitMs: REORDER_WAIT_MS });
  two = await startNode(h, { reorderWaitMs: REORDER_WAIT_MS });
});
afterAll(() => h?.close());

type Node = typeof one;
const userToken = (tenant: string, sub: string, roles: string[] = []) => h.token({ sub, tenant, roles });
const open = async (node: Node, tenant: string, sub: string, roles: string[] = [], since?: string) =>
  connect(`${node.url()}?token=${await userToken(tenant, sub, roles)}${since ? `&since=${since}` : ''}`);

async function send(tenant: string, body: Record<string, unknown>): Promise<{ id?: string; ids?: string[] }> {
  const token = await h.token({ sub: uniq('svc'), tenant, scope: 'notify:send' });
  const res = await h.request('POST', '/api/v1/notifications', { token, body: { title: 't', message: 'm', ...body } });
  expect(res.status).toBe(202);
  return res.body;
}

/** Subscribers of each channel, as Redis counts them. */
async function numsub(...channels: string[]): Promise<number[]> {
  const reply = (await h.redis.call('PUBSUB', 'NUMSUB', ...channels)) as Array<string | number>;
  return channels.map((_, i) => Number(reply[i * 2 + 1]));
}

/** The channels a node's subscriber connection holds, as Redis counts them (CLIENT LIST `sub=`). */
async function subscribedOn(node: Node): Promise<number> {
  const line = ((await h.redis.client('LIST')) as string).split('\n').find((l) => l.includes(`name=${node.subscriberName}`))!;
  return Number(/\bsub=(\d+)/.exec(line)![1]);
}

const feedOf = (node: Node) => node.feed();
const delta = (after: ReturnType<Node['feed']>, before: ReturnType<Node['feed']>) => ({
  messages: after.messages - before.messages,
  bytes: after.bytes - before.bytes,
  orderMessages: after.orderMessages - before.orderMessages,
});
const has = (c: Client, ids: string[]) => ids.every((id) => c.events().some((f) => f.id === id));

test("each node receives its own users' records only; a role send reaches both", async () => {
  const tenant = uniq('tenant');
  const role = uniq('role');
  const onOne = ['a1', 'a2', 'a3'].map((u) => uniq(u));
  const onTwo = ['b1', 'b2', 'b3'].map((u) => uniq(u));
  const clientsOne = await Promise.all(onOne.map((u) => open(one, tenant, u, [role])));
  const clientsTwo = await Promise.all(onTwo.map((u) => open(two, tenant, u, [role])));
  // each user topic is held by one node only
  expect(await numsub(...onOne.map((u) => topicChannel(h.prefix, topicOf(tenant, `u:${u}`))))).toEqual([1, 1, 1]);
  expect(await numsub(topicChannel(h.prefix, topicOf(tenant, `r:${role}`)), orderChannel(h.prefix, tenant))).toEqual([2, 0]);
  // a node's subscriber holds its sockets' topics (3 users, the role, the tenant) and the control channel
  expect(await subscribedOn(one)).toBeGreaterThanOrEqual(6);

  const before = [feedOf(one), feedOf(two)];
  // one send to the six users: one batch
  const { ids } = await send(tenant, { user_ids: [...onOne, ...onTwo] });
  await Promise.all([...clientsOne, ...clientsTwo].map((c) => c.until(() => c.events().length === 1)));
  const [dOne, dTwo] = [delta(feedOf(one), before[0]), delta(feedOf(two), before[1])];
  // three topic records each, not the other node's three, and no order record
  expect(dOne).toMatchObject({ messages: 3, orderMessages: 0 });
  expect(dTwo).toMatchObject({ messages: 3, orderMessages: 0 });
  // each socket got one notification of the send, each a different one
  const got = [...clientsOne, ...clientsTwo].map((c) => c.events()[0].id as string);
  expect(new Set(got).size).toBe(6);
  expect([...got].sort()).toEqual([...ids!].sort());

  // a role send and a broadcast reach the sockets on both nodes, one record each per node
  const mid = [feedOf(one), feedOf(two)];
  const forRole = (await send(tenant, { role })).id!;
  const everyone = (await send(tenant, { broadcast: true })).id!;
  await Promise.all([...clientsOne, ...clientsTwo].map((c) => c.until(() => has(c, [forRole, everyone]))));
  for (const [node, was] of [
    [one, mid[0]],
    [two, mid[1]],
  ] as const) {
    const d = delta(feedOf(node), was);
    expect(d).toMatchObject({ messages: 2, orderMessages: 0 });
  }
  for (const c of [...clientsOne, ...clientsTwo]) c.close();
});

test("a topic's last socket gone: the node unsubscribes; taken again: subscribed again", async () => {
  const tenant = uniq('tenant');
  const user = uniq('u');
  const channel = topicChannel(h.prefix, topicOf(tenant, `u:${user}`));
  const first = await open(one, tenant, user);
  const second = await open(one, tenant, user);
  expect(await numsub(channel)).toEqual([1]);
  first.close();
  await first.untilClosed();
  await new Promise((r) => setTimeout(r, 50));
  expect(await numsub(channel)).toEqual([1]);
  second.close();
  await waitFor(async () => (await numsub(channel)).every((n) => n === 0), 5000, 'unsubscribed');
  const third = await open(one, tenant, user);
  expect(await numsub(channel)).toEqual([1]);
  const { id } = await send(tenant, { user_id: user });
  await third.until(() => has(third, [id!]));
  third.close();
});

test('a connect storm of 500 sockets costs a few SUBSCRIBE commands', async () => {
  const tenant = uniq('tenant');
  const node = await startNode(h);
  const before = node.feed();
  const tokens = await Promise.all(Array.from({ length: 500 }, (_, i) => userToken(tenant, `storm-${i}`)));
  const clients = await Promise.all(tokens.map((t) => connect(`${node.url()}?token=${t}`)));
  const after = node.feed();
  const commands = after.subscribeCommands - before.subscribeCommands;
  // 500 user topics and the tenant's topic
  expect(after.channels).toBe(501);
  expect(await subscribedOn(node)).toBe(502);
  expect(commands).toBeGreaterThan(0);
  expect(commands).toBeLessThanOrEqual(25);
  for (const c of clients) c.close();
  await waitFor(() => node.feed().channels === 0, 10_000, 'every channel let go');
  expect(node.feed().unsubscribeCommands - before.unsubscribeCommands).toBeLessThanOrEqual(25);
  // only the control channel is left
  await waitFor(async () => (await subscribedOn(node)) === 1, 5000, 'Redis to drop the channels');
}, 60_000);

/** A node whose SUBSCRIBE commands take `delayMs` longer: the time a busy Redis or a far one would take to confirm them. */
async function startSlowSubscribeNode(delayMs: number): Promise<{ url: () => string }> {
  const subscriber = workerConnection(h.config.REDIS_URL);
  subscriber.on('error', () => undefined);
  const subscribe = subscriber.subscribe.bind(subscriber) as (...channels: string[]) => Promise<unknown>;
  Object.assign(subscriber, { subscribe: (...channels: string[]) => new Promise((r) => setTimeout(r, delayMs)).then(() => subscribe(...channels)) });
  const node = await startRealtimeNode(
    { logger: h.deps.logger, orm: h.orm, redis: h.redis, subscriber, verifier: createVerifier({ secret: TEST_JWT_SECRET }) },
    { port: 0, prefix: h.prefix },
  );
  h.life.add('slow realtime node', async () => {
    await node.close();
    await subscriber.quit().catch(() => undefined);
  });
  return { url: () => `ws://127.0.0.1:${node.port}/api/v1/ws` };
}

test('sends racing ?since= reconnects: every notification once, in cursor order', async () => {
  // the catch-up starts once Redis confirmed the socket's topics, however long that takes
  const slow = await startSlowSubscribeNode(40);
  const tenant = uniq('tenant');
  const user = uniq('u');
  const svc = await h.token({ sub: uniq('svc'), tenant, scope: 'notify:send' });
  const { id: firstId } = await send(tenant, { user_id: user });
  const token = await userToken(tenant, user);
  const first = await waitFor(async () => (await h.request('GET', '/api/v1/notifications', { token })).body.notifications.find((n: any) => n.id === firstId));
  let since = first.cursor as string;
  const sent: string[] = [];
  const sending = (async () => {
    for (let i = 0; i < 150; i++) {
      const res = await h.request('POST', '/api/v1/notifications', { token: svc, body: { title: `n${i}`, message: 'm', user_id: user } });
      sent.push(res.body.id);
      if (i % 3 === 0) await new Promise((r) => setTimeout(r, 1));
    }
  })();
  // the user's topic is on no node between connections: each reconnect subscribes it anew, while sends go on
  const got: Array<{ id: string; cursor: string }> = [];
  let done = false;
  void sending.then(() => (done = true));
  while (!done) {
    const c = await connect(`${slow.url()}?token=${token}&since=${since}`);
    // longer than the SUBSCRIBE takes: frames published in between must reach this socket
    await new Promise((r) => setTimeout(r, 50 + Math.random() * 40));
    c.close();
    await c.untilClosed();
    for (const f of c.events()) got.push({ id: f.id, cursor: f.cursor });
    if (got.length) since = got[got.length - 1].cursor;
  }
  const last = await connect(`${slow.url()}?token=${token}&since=${since}`);
  await last.until(() => got.length + last.events().length >= sent.length, 15_000, 'every notification');
  for (const f of last.events()) got.push({ id: f.id, cursor: f.cursor });
  last.close();
  expect(got.map((f) => f.id).sort()).toEqual([...sent].sort());
  const cursors = got.map((f) => BigInt(f.cursor));
  expect(cursors.every((x, i) => i === 0 || x > cursors[i - 1])).toBe(true);
}, 60_000);

test('batches published out of cursor order reach sockets in cursor order, across nodes and topics, without waiting', async () => {
  const tenant = uniq('tenant');
  const role = uniq('role');
  const [a, b] = [uniq('a'), uniq('b')];
  const onOne = await open(one, tenant, a, [role]);
  const onTwo = await open(two, tenant, b);
  const base = 7_000_000_000 + Math.floor(Math.random() * 1e6) * 100;
  // the tenant stored nothing: its chain starts at cursor 0
  const event = (audience: string, cursor: number, prev: number) => ({
    tenant,
    audience,
    cursor: String(base + cursor),
    prev: prev ? String(base + prev) : '0',
    frame: { event: 'notification' as const, id: `n${cursor}`, cursor: String(base + cursor) },
  });
  const publish = (events: ReturnType<typeof event>[]) => publishEvents(h.redis, h.prefix, events, { orderWaitMs: REORDER_WAIT_MS });
  await publish([event(`u:${a}`, 1, 0), event(`u:${b}`, 2, 1)]);
  await onOne.until(() => onOne.events().length === 1);
  await onTwo.until(() => onTwo.events().length === 1);
  const started = Date.now();
  // the second batch (cursors 5..7) reaches Redis before the first (3..4): it waits there for the first, which
  // sends it; within a batch the role's record (6) is in another message than the user's (5, 7)
  await publish([event(`u:${a}`, 5, 4), event(`r:${role}`, 6, 5), event(`u:${a}`, 7, 6)]);
  await publish([event(`u:${b}`, 3, 2), event(`u:${a}`, 4, 3)]);
  await onOne.until(() => onOne.events().length === 5);
  await onTwo.until(() => onTwo.events().length === 2);
  // no wait for the order wait: the first batch sent the second as soon as it had gone out
  expect(Date.now() - started).toBeLessThan(REORDER_WAIT_MS / 2);
  expect(onOne.events().map((f) => f.id)).toEqual(['n1', 'n4', 'n5', 'n6', 'n7']);
  expect(onTwo.events().map((f) => f.id)).toEqual(['n2', 'n3']);
  onOne.close();
  onTwo.close();
});
