import { afterAll, beforeAll, expect, test } from 'vitest';
import { createHarness, uniq, waitFor, type Harness } from './helpers/harness.js';
import { connect, startNode, type Client } from './helpers/ws-node.js';

/**
 * Nothing missed across a reconnect: ?since=<last cursor> first replays from
 * PostgreSQL, then goes live, with no gap and no duplicate at the seam, while
 * notifications keep arriving during the replay.
 */
let h: Harness;
let node: Awaited<ReturnType<typeof startNode>>;

beforeAll(async () => {
  h = await createHarness();
  await h.startIngest();
  // small pages so the replay spans several queries while live frames arrive
  node = await startNode(h, { replayPage: 3 });
});
afterAll(() => h?.close());

const isAscending = (cursors: string[]) => cursors.every((c, i) => i === 0 || BigInt(c) > BigInt(cursors[i - 1]));

async function sendMany(svc: string, bodies: Array<Record<string, unknown>>): Promise<string[]> {
  const ids: string[] = [];
  for (const body of bodies) {
    const res = await h.request('POST', '/api/v1/notifications', { token: svc, body: { message: 'm', ...body } });
    expect(res.status).toBe(202);
    ids.push(res.body.id);
  }
  return ids;
}

test('reconnecting with ?since= replays what was missed, then live frames: every notification exactly once, in order', async () => {
  const user = uniq('u');
  const role = uniq('role');
  const token = await h.token({ sub: user, roles: [role] });
  const svc = await h.serviceToken();
  const kinds = (n: number, tag: string) =>
    Array.from({ length: n }, (_, i) =>
      i % 3 === 0 ? { title: `${tag}-${i}`, user_id: user } : i % 3 === 1 ? { title: `${tag}-${i}`, role } : { title: `${tag}-${i}`, broadcast: true },
    );

  const first = await connect(`${node.url()}?token=${token}`);
  const before = await sendMany(svc, kinds(4, 'before'));
  await first.until(() => first.events().length === 4);
  const last = first.events().at(-1)!.cursor as string;
  first.close();
  await first.untilClosed();

  const away = await sendMany(svc, kinds(10, 'away'));
  // wait until they are stored, so they can only come from the replay
  await waitFor(async () => (await h.request('GET', `/api/v1/notifications?since=${last}&limit=100`, { token })).body.notifications.length === 10);

  // reconnect while more are being sent
  const during = sendMany(svc, kinds(30, 'during'));
  const second: Client = await connect(`${node.url()}?token=${token}&since=${last}`);
  const live = await during;
  const after = await sendMany(svc, kinds(3, 'after'));

  const expected = [...away, ...live, ...after];
  await second.until(() => expected.every((id) => second.events().some((f) => f.id === id)), 20_000, 'every notification');
  const got = second.events();
  // nothing from before the cursor, nothing twice, nothing missing
  expect(got.map((f) => f.id).filter((id) => before.includes(id))).toEqual([]);
  expect(new Set(got.map((f) => f.id)).size).toBe(got.length);
  expect(got.map((f) => f.id).sort()).toEqual([...expected].sort());
  expect(isAscending(got.map((f) => f.cursor))).toBe(true);
  // welcome came first and named the cursor the client asked for
  expect(second.frames[0]).toMatchObject({ event: 'welcome', since: last });
  // the away ones came from the replay, before any of the later ones (the queue may store them in any order)
  expect(got.slice(0, 10).map((f) => f.id).sort()).toEqual([...away].sort());
  second.close();

  // GET /notifications?since= gives a polling client the same, page by page
  const polled: Array<{ id: string; cursor: string }> = [];
  let cursor = last;
  for (;;) {
    const res = await h.request('GET', `/api/v1/notifications?since=${cursor}&limit=7`, { token });
    expect(res.status).toBe(200);
    polled.push(...res.body.notifications);
    if (res.body.notifications.length < 7) break;
    cursor = res.body.next_cursor;
  }
  expect(polled.map((n) => n.id)).toEqual(got.map((f) => f.id));
});

test('a replay carries this user\'s read state and leaves out what the user deleted', async () => {
  const user = uniq('u');
  const token = await h.token({ sub: user });
  const svc = await h.serviceToken();
  const c = await connect(`${node.url()}?token=${token}`);
  const [a] = await sendMany(svc, [{ title: 'a', user_id: user }]);
  await c.until(() => c.events().length === 1);
  const since = c.events()[0].cursor as string;
  c.close();
  const [read, gone, plain] = await sendMany(svc, [
    { title: 'read', user_id: user },
    { title: 'gone', user_id: user },
    { title: 'plain', user_id: user },
  ]);
  await waitFor(async () => (await h.request('GET', `/api/v1/notifications?since=${since}`, { token })).body.notifications.length === 3);
  expect((await h.request('PUT', `/api/v1/notifications/${read}/read`, { token })).status).toBe(200);
  expect((await h.request('DELETE', `/api/v1/notifications/${gone}`, { token })).status).toBe(200);
  const again = await connect(`${node.url()}?token=${token}&since=${since}`);
  // a live sentinel marks the end of the replay
  const [sentinel] = await sendMany(svc, [{ title: 'sentinel', user_id: user }]);
  await again.until(() => again.events().some((f) => f.id === sentinel));
  expect(again.events().map((f) => [f.title, f.is_read])).toEqual([
    ['read', true],
    ['plain', false],
    ['sentinel', false],
  ]);
  expect(again.events().some((f) => f.id === a || f.id === gone)).toBe(false);
  // broadcasts of the other tests count too; the sentinel came after the welcome
  const unread = (await h.request('GET', '/api/v1/notifications/unread-count', { token })).body.unread_count;
  expect(again.events('welcome')[0].unread_count).toBe(unread - 1);
  again.close();
});

test('when the Redis feed drops, sockets are closed with 1012 so clients catch up with ?since=', async () => {
  const own = await startNode(h);
  const c = await connect(`${own.url()}?token=${await h.token({ sub: uniq('u') })}`);
  const clients = (await h.redis.client('LIST')) as string;
  const line = clients.split('\n').find((l) => l.includes(`name=${own.subscriberName}`))!;
  const id = /\bid=(\d+)/.exec(line)![1];
  await h.redis.client('KILL', 'ID', id);
  expect((await c.untilClosed()).code).toBe(1012);
  // the node is back on the feed: a new socket gets frames
  const again = await connect(`${own.url()}?token=${await h.token({ sub: 'back' })}`);
  const [sent] = await sendMany(await h.serviceToken(), [{ title: 'back', user_id: 'back' }]);
  await again.until(() => again.events().some((f) => f.id === sent));
  again.close();
});
