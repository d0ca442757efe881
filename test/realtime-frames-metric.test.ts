import { afterAll, beforeAll, expect, test } from 'vitest';
import { publishEvents } from '../src/feed/publish.js';
import { framesSent } from '../src/metrics/metrics.js';
import { createHarness, type Harness } from './helpers/harness.js';
import { connect, startNode, type Client } from './helpers/ws-node.js';

/**
 * realtime_frames_sent_total counts exactly the text frames the node's
 * sockets receive, per kind: one topic publish counts once per subscribed
 * socket, a frame that skips a user counts the sockets it went to, the
 * welcome and a `?since=` replay are `sync`, answers to pings and bad
 * messages are `reply`.
 */
let h: Harness;
let url: string;

beforeAll(async () => {
  h = await createHarness();
  await h.startIngest();
  url = (await startNode(h)).url();
});
afterAll(() => h?.close());

async function counted(): Promise<Record<string, number>> {
  const out: Record<string, number> = { feed: 0, sync: 0, reply: 0 };
  for (const v of (await framesSent.get()).values) out[v.labels.kind as string] = v.value;
  return out;
}
const diff = (a: Record<string, number>, b: Record<string, number>) => Object.fromEntries(Object.keys(a).map((k) => [k, a[k] - b[k]]));

async function send(body: Record<string, unknown>): Promise<void> {
  const res = await h.request('POST', '/api/v1/notifications', { token: await h.serviceToken(), body: { message: 'm', ...body } });
  expect(res.status).toBe(202);
}

const open = async (sub: string, query = '') => connect(`${url}?token=${await h.token({ sub, roles: ['clerk'] })}${query}`);
const kindOf = (text: string) => {
  const event = JSON.parse(text).event;
  return event === 'welcome' ? 'sync' : event === 'pong' || event === 'error' ? 'reply' : 'feed';
};
function received(clients: Client[]): Record<string, number> {
  const out: Record<string, number> = { feed: 0, sync: 0, reply: 0 };
  for (const c of clients) for (const t of c.texts) out[kindOf(t)]++;
  return out;
}

test('every frame a socket receives is counted once, under its kind', async () => {
  const before = await counted();
  const alice1 = await open('alice');
  const alice2 = await open('alice');
  const bob = await open('bob');
  const clients = [alice1, alice2, bob];

  await send({ title: 'everyone', broadcast: true }); // one publish, three sockets
  await send({ title: 'alice', user_id: 'alice' }); // one publish, two sockets
  await send({ title: 'clerks', role: 'clerk' }); // one publish, three sockets
  // a frame that skips bob goes socket by socket: alice's two
  await publishEvents(h.redis, h.prefix, [{ tenant: h.tenant, audience: '*', frame: { event: 'notification.recalled', id: 'x' }, except: ['bob'] }]);
  await alice1.until(() => alice1.frames.filter((f) => f.event?.startsWith('notification')).length === 4, 10_000, 'alice1 frames');
  await alice2.until(() => alice2.frames.filter((f) => f.event?.startsWith('notification')).length === 4, 10_000, 'alice2 frames');
  await bob.until(() => bob.events().length === 2, 10_000, 'bob frames');
  bob.send('ping');
  bob.send('not json');
  await bob.until(() => bob.events('pong').length === 1 && bob.events('error').length === 1, 10_000, 'answers');

  expect(received(clients)).toEqual({ feed: 4 + 4 + 2, sync: 3, reply: 2 });
  expect(diff(await counted(), before)).toEqual(received(clients));

  // a reconnect with ?since=0 replays bob's two notifications: the welcome and both are sync frames
  const bobAgain = await open('bob', '&since=0');
  await bobAgain.until(() => bobAgain.events().length === 2, 10_000, 'replay');
  expect(bobAgain.texts).toHaveLength(3);
  const expected = received(clients);
  expect(diff(await counted(), before)).toEqual({ ...expected, sync: expected.sync + 3 });
  for (const c of [...clients, bobAgain]) c.close();
});
