/**
 * What a user does to the inbox (read, unread, delete, batch-mark, read-all)
 * is told to that user's other devices and to nobody else: a colleague in
 * the same tenant, with the same role and store, connected to the same
 * realtime node, gets none of those frames (neither the ids nor the unread
 * count of someone else's inbox).
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createHarness, uniq, waitFor, type Harness } from './helpers/harness.js';
import { connect, startNode, type Client, type Frame } from './helpers/ws-node.js';

let h: Harness;
let url: (path?: string) => string;

beforeAll(async () => {
  h = await createHarness({ RATE_LIMIT_USER_PER_MIN: '1000000' });
  await h.startIngest();
  url = (await startNode(h)).url;
});
afterAll(() => h?.close());

const INBOX_EVENTS = ['notification.read', 'notification.unread', 'notification.deleted', 'unread_count'];
const inboxFrames = (c: Client): Frame[] => c.frames.filter((f) => INBOX_EVENTS.includes(f.event ?? ''));

test("a user's inbox changes reach that user's sockets and no colleague's", async () => {
  const role = uniq('cashier');
  const store = uniq('store');
  const alice = { sub: uniq('alice'), roles: [role], stores: [store] };
  const bob = { sub: uniq('bob'), roles: [role], stores: [store] };
  const aliceToken = await h.token(alice);
  const bobToken = await h.token(bob);
  const svc = await h.serviceToken();

  const send = async (target: Record<string, unknown>) => {
    const r = await h.request('POST', '/api/v1/notifications', { token: svc, body: { title: 'shift', content: 'rota', ...target } });
    expect(r.status).toBe(202);
    return r.body.id as string;
  };
  const [a1, a2, a3, a4] = [await send({ user_id: alice.sub }), await send({ user_id: alice.sub }), await send({ user_id: alice.sub }), await send({ user_id: alice.sub })];
  const storeWide = await send({ store_id: store });
  const forBob = await send({ user_id: bob.sub });
  for (const [token, id] of [...[a1, a2, a3, a4, storeWide].map((id) => [aliceToken, id]), [bobToken, forBob]])
    await waitFor(async () => (await h.request('GET', `/api/v1/notifications/${id}`, { token })).status === 200, 10_000, `${id} stored`);

  // every notification is stored before the sockets open: the only frames after the welcome are inbox events
  const alicePhone = await connect(`${url()}?token=${aliceToken}`);
  const aliceLaptop = await connect(`${url()}?token=${aliceToken}`);
  const bobPhone = await connect(`${url()}?token=${bobToken}`);

  const ok = async (method: string, path: string, body?: unknown) => {
    const r = await h.request(method, `/api/v1/notifications${path}`, { token: aliceToken, body });
    expect(r.status, `${method} ${path}`).toBe(200);
  };
  await ok('PUT', `/${a1}/read`);
  await ok('PUT', `/${a1}/unread`);
  await ok('DELETE', `/${a2}`);
  await ok('PUT', `/${storeWide}/read`);
  await ok('POST', '/batch-mark', { ids: [a3], action: 'read' });
  await ok('PUT', '/read-all');

  const expected = [
    { event: 'notification.read', ids: [a1] },
    { event: 'notification.unread', ids: [a1] },
    { event: 'notification.deleted', ids: [a2] },
    { event: 'notification.read', ids: [storeWide] },
    { event: 'notification.read', ids: [a3] },
    { event: 'notification.read', ids: expect.arrayContaining([a1, a4]) },
  ];
  for (const socket of [alicePhone, aliceLaptop]) {
    await socket.until(() => inboxFrames(socket).filter((f) => f.event !== 'unread_count').length >= expected.length, 10_000, "alice's events");
    expect(inboxFrames(socket).filter((f) => f.event !== 'unread_count')).toEqual(expected);
    await socket.until(() => inboxFrames(socket).filter((f) => f.event === 'unread_count').length >= expected.length, 10_000, "alice's counts");
    expect(inboxFrames(socket).filter((f) => f.event === 'unread_count').at(-1)).toMatchObject({ unread_count: 0 });
  }

  // a sentinel for bob, published after all of alice's events: once it arrives, anything of alice's would have too
  const r = await h.request('PUT', `/api/v1/notifications/${forBob}/read`, { token: bobToken });
  expect(r.status).toBe(200);
  await bobPhone.until(() => inboxFrames(bobPhone).some((f) => f.event === 'unread_count'), 10_000, "bob's own count");
  // bob's own read, and his own count (the store-wide one alice read is still unread for him)
  expect(inboxFrames(bobPhone)).toEqual([
    { event: 'notification.read', ids: [forBob] },
    { event: 'unread_count', unread_count: 1 },
  ]);
  for (const c of [alicePhone, aliceLaptop, bobPhone]) c.close();
});
