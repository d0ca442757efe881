import { afterAll, beforeAll, expect, test } from 'vitest';
import { publishEvents } from '../src/feed/publish.js';
import { createHarness, uniq, waitFor, type Harness } from './helpers/harness.js';
import { connect, startNode } from './helpers/ws-node.js';

/** Heartbeat and idle close, the per-user connection limit, slow consumers, graceful shutdown. */
let h: Harness;

beforeAll(async () => {
  h = await createHarness();
});
afterAll(() => h?.close());

test('a silent socket is pinged, then closed with 4008; one that answers pings or sends ping text stays open', async () => {
  const node = await startNode(h, { pingIntervalMs: 300, idleTimeoutMs: 900 });
  const url = async () => `${node.url()}?token=${await h.token({ sub: uniq('u') })}`;
  const silent = await connect(await url(), { autoPong: false });
  const ponging = await connect(await url()); // ws answers pings itself, like browsers
  const chatty = await connect(await url(), { autoPong: false });
  const timer = setInterval(() => chatty.send('ping'), 150);
  let silentPings = 0;
  let pongingPings = 0;
  silent.ws.on('ping', () => silentPings++);
  ponging.ws.on('ping', () => pongingPings++);
  try {
    const closed = await silent.untilClosed();
    expect(closed.code).toBe(4008);
    expect(silentPings).toBeGreaterThan(0);
    // several ping rounds later (each 300 ms of quiet), the others are still there
    await ponging.until(() => pongingPings >= 6, 20_000, 'server pings');
    expect(ponging.closed).toBeNull();
    expect(chatty.closed).toBeNull();
    expect(chatty.events('pong').length).toBeGreaterThan(3);
  } finally {
    clearInterval(timer);
    ponging.close();
    chatty.close();
  }
});

test('past MAX_CONNECTIONS_PER_USER the oldest socket is closed with 4001, across nodes', async () => {
  const one = await startNode(h, { maxConnectionsPerUser: 2 });
  const two = await startNode(h, { maxConnectionsPerUser: 2 });
  const user = uniq('u');
  const token = await h.token({ sub: user });
  const bystander = await connect(`${one.url()}?token=${await h.token({ sub: uniq('u') })}`);
  const first = await connect(`${one.url()}?token=${token}`);
  const second = await connect(`${one.url()}?token=${token}`);
  const third = await connect(`${one.url()}?token=${token}`);
  expect((await first.untilClosed()).code).toBe(4001);
  // the fourth opens on the other node: the oldest left (second, on node one) goes
  const fourth = await connect(`${two.url()}?token=${token}`);
  expect((await second.untilClosed()).code).toBe(4001);
  // the survivors still get their frames
  await publishEvents(h.redis, h.prefix, [{ tenant: h.tenant, audience: `u:${user}`, frame: { event: 'unread_count', unread_count: 7 } }]);
  await third.until(() => third.events('unread_count').length);
  await fourth.until(() => fourth.events('unread_count').length);
  expect(third.closed).toBeNull();
  expect(fourth.closed).toBeNull();
  expect(bystander.closed).toBeNull();
  for (const c of [third, fourth, bystander]) c.close();
});

test('a consumer that stops reading is closed with 1013 while others on the same topic get every frame', async () => {
  const node = await startNode(h, { maxBackpressure: 256 * 1024 });
  const role = uniq('role');
  const slow = await connect(`${node.url()}?token=${await h.token({ sub: uniq('slow'), roles: [role] })}`);
  const fast = await connect(`${node.url()}?token=${await h.token({ sub: uniq('fast'), roles: [role] })}`);
  (slow.ws as any)._socket.pause();
  const filler = 'x'.repeat(8 * 1024);
  const total = 4000; // ~32 MB: more than the kernel buffers of a paused loopback connection hold
  for (let i = 0; i < total; i += 20) {
    await publishEvents(
      h.redis,
      h.prefix,
      Array.from({ length: 20 }, (_, k) => ({ tenant: h.tenant, audience: `r:${role}`, frame: { event: 'bulk', n: i + k, filler } })),
    );
  }
  // the node gives up on the slow socket (its close frame waits behind the backlog): let the client read again
  await waitFor(() => node.connections() === 1, 20_000, 'the node to drop the slow socket');
  (slow.ws as any)._socket.resume();
  const closed = await slow.untilClosed(20_000);
  expect(closed.code).toBe(1013);
  expect(slow.events('bulk').length).toBeLessThan(total);
  await fast.until(() => fast.events('bulk').length === total || fast.closed, 20_000, 'every frame on the fast socket');
  expect(fast.closed).toBeNull();
  expect(fast.events('bulk').map((f) => f.n)).toEqual(Array.from({ length: total }, (_, i) => i));
  fast.close();
});

test('shutdown closes every socket with 1001 so clients reconnect elsewhere', async () => {
  const node = await startNode(h);
  const a = await connect(`${node.url()}?token=${await h.token({ sub: uniq('u') })}`);
  const b = await connect(`${node.url()}?token=${await h.token({ sub: uniq('u') })}`);
  await node.close();
  expect((await a.untilClosed()).code).toBe(1001);
  expect((await b.untilClosed()).code).toBe(1001);
});
