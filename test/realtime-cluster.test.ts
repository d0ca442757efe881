import { afterAll, beforeAll, expect, test } from 'vitest';
import { websocketConnections } from '../src/metrics/metrics.js';
import { clusterConnections } from '../src/realtime/presence.js';
import { createHarness, uniq, waitFor, type Harness } from './helpers/harness.js';
import { connect, startNode, type Client } from './helpers/ws-node.js';

/** Several realtime nodes side by side on one Redis: every node delivers to its own sockets, counts add up. */
let h: Harness;
let one: Awaited<ReturnType<typeof startNode>>;
let two: Awaited<ReturnType<typeof startNode>>;

beforeAll(async () => {
  h = await createHarness();
  await h.startIngest();
  one = await startNode(h, { presenceIntervalMs: 100 });
  two = await startNode(h, { presenceIntervalMs: 100 });
});
afterAll(() => h?.close());

async function send(body: Record<string, unknown>) {
  const res = await h.request('POST', '/api/v1/notifications', { token: await h.serviceToken(), body: { message: 'm', ...body } });
  expect(res.status).toBe(202);
  return res.body.id as string;
}

test("a notification reaches the user's sockets on every node", async () => {
  const user = uniq('u');
  const role = uniq('role');
  const token = await h.token({ sub: user, roles: [role] });
  const onOne = await connect(`${one.url()}?token=${token}`);
  const onTwo = await connect(`${two.url()}?token=${token}`);
  const colleague = await connect(`${two.url()}?token=${await h.token({ sub: uniq('u'), roles: [role] })}`);
  const personal = await send({ title: 'personal', user_id: user });
  const forRole = await send({ title: 'role', role });
  const everyone = await send({ title: 'all', broadcast: true });
  const has = (c: Client, ids: string[]) => ids.every((id) => c.events().some((f) => f.id === id));
  await onOne.until(() => has(onOne, [personal, forRole, everyone]));
  await onTwo.until(() => has(onTwo, [personal, forRole, everyone]));
  await colleague.until(() => has(colleague, [forRole, everyone]));
  // each socket got each frame once (the other node did not double it)
  for (const c of [onOne, onTwo]) expect(c.events().map((f) => f.title).sort()).toEqual(['all', 'personal', 'role']);
  expect(colleague.events().map((f) => f.title).sort()).toEqual(['all', 'role']);
  for (const c of [onOne, onTwo, colleague]) c.close();
});

test('each node reports its connections; admin stats and the gauge show the cluster total', async () => {
  await waitFor(async () => (await clusterConnections(h.redis, h.prefix)) === 0, 10_000, 'no sockets');
  const base = Number((await websocketConnections.get()).values[0]?.value ?? 0);
  const clients: Client[] = [];
  for (let i = 0; i < 3; i++) clients.push(await connect(`${one.url()}?token=${await h.token({ sub: uniq('u') })}`));
  for (let i = 0; i < 2; i++) clients.push(await connect(`${two.url()}?token=${await h.token({ sub: uniq('u') })}`));
  expect(one.connections()).toBe(3);
  expect(two.connections()).toBe(2);
  await waitFor(async () => (await clusterConnections(h.redis, h.prefix)) === 5, 10_000, 'cluster count 5');
  const admin = await h.token({ sub: uniq('ops'), scope: 'admin' });
  const stats = await h.request('GET', '/api/v1/notifications/stats', { token: admin });
  expect(stats.status).toBe(200);
  expect(stats.body.system.websocket_connections).toBe(5);
  // both nodes live in this process: the gauge adds them up
  expect((await websocketConnections.get()).values[0].value - base).toBe(5);

  clients[0].close();
  clients[4].close();
  await waitFor(async () => (await clusterConnections(h.redis, h.prefix)) === 3, 10_000, 'cluster count 3');
  expect((await websocketConnections.get()).values[0].value - base).toBe(3);
  for (const c of clients) c.close();

  // a node that stops drops out of the count at once
  await two.close();
  await waitFor(async () => (await clusterConnections(h.redis, h.prefix)) === 0, 10_000, 'cluster count 0');
});
