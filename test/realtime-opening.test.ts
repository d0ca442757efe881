import { afterAll, beforeAll, expect, test } from 'vitest';
import WebSocket from 'ws';
import { publishEvents } from '../src/feed/publish.js';
import { createHarness, uniq, waitFor, type Harness } from './helpers/harness.js';
import { Client, connect, startNode } from './helpers/ws-node.js';

/**
 * Sockets opened together are handled together (src/realtime/opening.ts):
 * one Redis round trip for their limits, one statement for their welcomes.
 * Each must still get exactly what it would get alone.
 */
let h: Harness;

beforeAll(async () => {
  h = await createHarness();
  await h.startIngest();
});
afterAll(() => h?.close());

/** A socket once it has its welcome or was closed (a socket past its user's limit may be closed before its welcome). */
async function settled(url: string): Promise<Client> {
  const client = new Client(new WebSocket(url));
  await client.until(() => client.events('welcome').length > 0 || client.closed, 10_000, 'welcome or close');
  return client;
}

async function send(svc: string, body: Record<string, unknown>): Promise<string> {
  const res = await h.request('POST', '/api/v1/notifications', { token: svc, body: { title: 't', message: 'm', ...body } });
  expect(res.status).toBe(202);
  return res.body.id;
}

test('many users connecting at once each get their own unread count and cursor in their welcome', async () => {
  const node = await startNode(h);
  const svc = await h.serviceToken();
  const role = uniq('role');
  const users = Array.from({ length: 40 }, (_, i) => ({ sub: uniq(`u${i}`), roles: i % 2 ? [role] : [], stores: [] as string[] }));
  // inboxes of different sizes: 0-3 personal notifications each, a role's for half of them, some read
  const ids = new Map<string, string[]>();
  for (const [i, u] of users.entries()) {
    const mine: string[] = [];
    for (let k = 0; k < i % 4; k++) mine.push(await send(svc, { user_id: u.sub }));
    ids.set(u.sub, mine);
  }
  await send(svc, { role });
  const total = users.reduce((n, u, i) => n + (i % 4) + (u.roles.length ? 1 : 0), 0);
  const tokens = await Promise.all(users.map((u) => h.token(u)));
  await waitFor(async () => {
    let stored = 0;
    for (const t of tokens) stored += (await h.request('GET', '/api/v1/notifications?limit=10', { token: t })).body.total;
    return stored === total;
  }, 20_000, 'every notification stored');
  for (const [i, u] of users.entries()) {
    if (i % 3 === 0 && ids.get(u.sub)!.length) {
      expect((await h.request('PUT', `/api/v1/notifications/${ids.get(u.sub)![0]}/read`, { token: tokens[i] })).status).toBe(200);
    }
  }
  // what the http api says of each inbox: its unread count and its newest notification's cursor
  const expected = await Promise.all(
    tokens.map(async (t) => ({
      unread: (await h.request('GET', '/api/v1/notifications/unread-count', { token: t })).body.unread_count,
      cursor: (await h.request('GET', '/api/v1/notifications?limit=1', { token: t })).body.notifications[0]?.cursor ?? '0',
    })),
  );
  expect(new Set(expected.map((e) => e.cursor)).size).toBeGreaterThan(10);

  const clients = await Promise.all(tokens.map((t) => connect(`${node.url()}?token=${t}`)));
  clients.forEach((c, i) => {
    expect(c.frames[0]).toMatchObject({ event: 'welcome', user_id: users[i].sub, unread_count: expected[i].unread, cursor: expected[i].cursor });
  });
  for (const c of clients) c.close();
});

test('past the per-user limit, sockets of one user opened at once close exactly one each: the oldest', async () => {
  const node = await startNode(h, { maxConnectionsPerUser: 3 });
  const user = uniq('u');
  const token = await h.token({ sub: user });
  const burst = await Promise.all(Array.from({ length: 4 }, () => settled(`${node.url()}?token=${token}`)));
  await waitFor(() => burst.filter((c) => c.closed).length >= 1, 10_000, 'a socket closed');
  // one more frame round trip, so a second wrong close would have arrived
  await publishEvents(h.redis, h.prefix, [{ tenant: h.tenant, audience: `u:${user}`, frame: { event: 'unread_count', unread_count: 1 } }]);
  const open = burst.filter((c) => !c.closed);
  await Promise.all(open.map((c) => c.until(() => c.events('unread_count').length)));
  expect(burst.filter((c) => c.closed).map((c) => c.closed!.code)).toEqual([4001]);
  expect(open).toHaveLength(3);
  for (const c of open) c.close();

  // the oldest: two sockets opened one after the other, then two at once
  const other = uniq('u');
  const t2 = await h.token({ sub: other });
  const first = await connect(`${node.url()}?token=${t2}`);
  const second = await connect(`${node.url()}?token=${t2}`);
  const pair = await Promise.all([settled(`${node.url()}?token=${t2}`), settled(`${node.url()}?token=${t2}`)]);
  expect((await first.untilClosed()).code).toBe(4001);
  await publishEvents(h.redis, h.prefix, [{ tenant: h.tenant, audience: `u:${other}`, frame: { event: 'unread_count', unread_count: 2 } }]);
  for (const c of [second, ...pair]) await c.until(() => c.events('unread_count').length);
  expect([second, ...pair].map((c) => c.closed)).toEqual([null, null, null]);
  for (const c of [second, ...pair]) c.close();
});

test('a reconnect at the newest cursor gets nothing twice and nothing missed, also while notifications keep coming', async () => {
  const node = await startNode(h);
  const svc = await h.serviceToken();
  const user = uniq('u');
  const token = await h.token({ sub: user });
  const first = await connect(`${node.url()}?token=${token}`);
  const before = [await send(svc, { user_id: user }), await send(svc, { user_id: user })];
  await first.until(() => first.events().length === 2);
  const last = first.events().at(-1)!.cursor as string;
  first.close();
  await first.untilClosed();

  // nothing stored since `last`: the welcome's cursor is `last` itself, and live frames follow
  const during = Promise.all(Array.from({ length: 10 }, () => send(svc, { user_id: user })));
  const again = await connect(`${node.url()}?token=${token}&since=${last}`);
  const sent = await during;
  await again.until(() => sent.every((id) => again.events().some((f) => f.id === id)), 20_000, 'every notification');
  const got = again.events().map((f) => f.id);
  expect(new Set(got).size).toBe(got.length);
  expect(got.filter((id) => before.includes(id))).toEqual([]);
  expect([...got].sort()).toEqual([...sent].sort());
  again.close();
});
