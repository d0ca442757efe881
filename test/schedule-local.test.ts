import { afterAll, beforeAll, expect, test } from 'vitest';
import { MAX_LOCAL_MEMBERS } from '../src/domain/sending/schedule-local.js';
import { createHarness, waitFor, type Harness } from './helpers/harness.js';
import { connect, startNode } from './helpers/ws-node.js';

/**
 * schedule_local to a role: the same wall-clock time in each member's own
 * zone, while the role's notification is still stored once for everyone in
 * the request's zone (including members known only from their tokens).
 */
let h: Harness;
let node: Awaited<ReturnType<typeof startNode>>;
let svc: string;
beforeAll(async () => {
  h = await createHarness({ RATE_LIMIT_USER_PER_MIN: '1000000' });
  await h.startIngest();
  node = await startNode(h);
  svc = await h.serviceToken();
});
afterAll(() => h?.close());

const cashier = { roles: ['cashier'] };
const directory = async (user: string, body: Record<string, unknown>) =>
  expect((await h.request('PUT', `/api/v1/recipients/${user}`, { token: svc, body: { roles: ['cashier'], email: `${user}@example.com`, ...body } })).status).toBe(200);
const tokenOf = (sub: string) => h.token({ sub, ...cashier });
const inboxIds = async (sub: string) => ((await h.request('GET', '/api/v1/notifications', { token: await tokenOf(sub) })).body.notifications as any[]).map((n) => n.id);
/** `seconds` from now as a wall-clock time in UTC, with no offset */
const utcWallClock = (seconds: number) => new Date(Date.now() + seconds * 1000).toISOString().slice(0, 19);

test("a role's members in other zones get it at their own time, and the role's copy leaves them out everywhere", async () => {
  await directory('tk', { timezone: 'Asia/Tokyo' });
  await directory('ny', { timezone: 'America/New_York' });
  await directory('utc', { timezone: 'UTC' });
  await directory('bare', {});
  const [tkWs, ghostWs, bareWs] = await Promise.all(['tk', 'ghost', 'bare'].map(async (u) => connect(`${node.url()}?token=${await tokenOf(u)}`)));

  // 3 s from now in UTC (the request's zone): long past in Tokyo, hours ahead in New York
  const local = utcWallClock(3);
  const r = await h.request('POST', '/api/v1/notifications', {
    token: svc,
    body: { title: '盘点', content: '营业结束后盘点', role: 'cashier', channels: ['app', 'email'], schedule_local: local },
  });
  expect(r.status).toBe(202);
  const sent = r.body.notifications as any[];
  const shared = sent.find((n) => n.role === 'cashier');
  const own = Object.fromEntries(sent.filter((n) => n.user_id).map((n) => [n.user_id, n]));
  expect(sent).toHaveLength(3);
  expect(Object.keys(own).sort()).toEqual(['ny', 'tk']);
  expect(shared).toMatchObject({ status: 'scheduled', schedule_at: `${local}.000Z`, metadata: { schedule_local: local, schedule_timezone: 'UTC' } });
  expect(own.tk).toMatchObject({ schedule_at: null, metadata: { schedule_timezone: 'Asia/Tokyo' } });
  expect(own.tk.status).not.toBe('scheduled');
  expect(own.ny).toMatchObject({ status: 'scheduled', metadata: { schedule_timezone: 'America/New_York' } });
  expect(Date.parse(own.ny.schedule_at) - Date.parse(shared.schedule_at)).toBeGreaterThanOrEqual(4 * 3600_000);

  // Tokyo's 09:00 has passed: tk's own copy is pushed now
  await tkWs.until(() => tkWs.events('notification').find((f) => f.id === own.tk.id));
  // the role's copy fires at the UTC time, on the sockets of everyone but the members split off
  const fired = await ghostWs.until(() => ghostWs.events('notification').find((f) => f.id === shared.id), 15_000);
  expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(shared.schedule_at));
  expect(fired.cursor).not.toBeNull();
  await bareWs.until(() => bareWs.events('notification').find((f) => f.id === shared.id));
  // a later role send is a marker: frames keep their order, so once tk has it, tk would have had the role's copy
  const marker = (await h.request('POST', '/api/v1/notifications', { token: svc, body: { title: 'm', content: 'm', role: 'cashier' } })).body.id;
  await tkWs.until(() => tkWs.events('notification').find((f) => f.id === marker));
  expect(tkWs.events('notification').map((f) => f.id)).toEqual([own.tk.id, marker]);

  // inboxes and unread counts: tk has its own copy only, ghost (no directory entry) and bare the role's
  expect(await inboxIds('tk')).toEqual([marker, own.tk.id]);
  expect(await inboxIds('ghost')).toEqual([marker, shared.id]);
  expect(await inboxIds('ny')).toEqual([marker]);
  const unread = await h.request('GET', '/api/v1/notifications/unread-count', { token: await tokenOf('tk') });
  expect(unread.body.unread_count).toBe(2);
  expect((await h.request('GET', `/api/v1/notifications/${shared.id}`, { token: await tokenOf('tk') })).status).toBe(404);

  // email: the role's copy goes to the members in the request's zone (or none), tk's own copy to tk, ny's waits
  const recipients = async (id: string) =>
    (await h.orm.em.fork().execute<Array<{ recipient: string }>>(`select recipient from deliveries where notification_id = ? order by recipient`, [id])).map((d) => d.recipient);
  await waitFor(async () => (await recipients(shared.id)).length === 2);
  expect(await recipients(shared.id)).toEqual(['bare', 'utc']);
  expect(await recipients(own.tk.id)).toEqual(['tk']);
  expect(await recipients(own.ny.id)).toEqual([]);
  for (const ws of [tkWs, ghostWs, bareWs]) ws.close();
});

test('a user named in the request keeps one copy; the request timezone decides who splits off', async () => {
  await directory('osaka', { roles: ['picker'], timezone: 'Asia/Tokyo' });
  await directory('paris', { roles: ['picker'], timezone: 'Europe/Paris' });
  const r = await h.request('POST', '/api/v1/notifications', {
    token: svc,
    body: { title: 't', content: 'c', role: 'picker', user_id: 'paris', schedule_local: '2030-06-01T09:00', timezone: 'Asia/Tokyo' },
  });
  expect(r.status).toBe(202);
  const at = r.body.notifications.map((n: any) => [n.user_id ?? n.role, n.schedule_at]);
  // osaka shares the request's zone, so stays on the role's copy; paris has its own already and is left out of the role's
  expect(at).toEqual([
    ['paris', '2030-06-01T07:00:00.000Z'],
    ['picker', '2030-06-01T00:00:00.000Z'],
  ]);
  const [, shared] = r.body.notifications;
  await waitFor(async () => (await h.request('GET', `/api/v1/notifications/${shared.id}`, { token: svc })).body.status === 'scheduled');
  const hidden = await h.orm.em.fork().execute(`select user_id from notification_receipts where notification_id = ? and deleted_at is not null`, [shared.id]);
  expect(hidden.map((x: any) => x.user_id)).toEqual(['paris']);
});

test('a shared copy already due is stored scheduled with its exclusions, then goes at once', async () => {
  await directory('dueA', { roles: ['closer'], timezone: 'America/Los_Angeles' });
  // a minute ago in UTC (the request's zone): the shared copy is due; in Los Angeles it is hours ahead
  const local = utcWallClock(-60);
  const r = await h.request('POST', '/api/v1/notifications', { token: svc, body: { title: 't', content: 'c', role: 'closer', schedule_local: local } });
  expect(r.status).toBe(202);
  const [shared, own] = r.body.notifications;
  expect(own).toMatchObject({ user_id: 'dueA', status: 'scheduled' });
  expect(shared).toMatchObject({ role: 'closer', status: 'scheduled' });
  expect(Date.parse(shared.schedule_at)).toBeLessThanOrEqual(Date.now());
  const ghost = await h.token({ sub: 'ghost2', roles: ['closer'] });
  await waitFor(async () => (await h.request('GET', `/api/v1/notifications/${shared.id}`, { token: ghost })).status === 200, 10_000, 'the shared copy to fire');
  expect((await h.request('GET', `/api/v1/notifications/${shared.id}`, { token: await h.token({ sub: 'dueA', roles: ['closer'] }) })).status).toBe(404);
});

test(`more than ${MAX_LOCAL_MEMBERS} members in other zones is a 422 naming schedule_local`, async () => {
  const em = h.orm.em.fork();
  await em.execute(
    `insert into recipients (tenant, user_id, timezone) select ?, 'many-' || i, 'Asia/Kolkata' from generate_series(1, ?) i`,
    [h.tenant, MAX_LOCAL_MEMBERS + 1],
  );
  await em.execute(
    `insert into recipient_audiences (tenant, audience, user_id) select ?, 'r:everyone', 'many-' || i from generate_series(1, ?) i`,
    [h.tenant, MAX_LOCAL_MEMBERS + 1],
  );
  const r = await h.request('POST', '/api/v1/notifications', { token: svc, body: { title: 't', content: 'c', role: 'everyone', schedule_local: '2030-06-01T09:00' } });
  expect(r.status).toBe(422);
  expect(r.body.errors.map((e: any) => e.path)).toEqual(['schedule_local']);
  // in the members' own zone nobody splits off: one notification
  const same = await h.request('POST', '/api/v1/notifications', {
    token: svc,
    body: { title: 't', content: 'c', role: 'everyone', schedule_local: '2030-06-01T09:00', timezone: 'Asia/Kolkata' },
  });
  expect(same.status).toBe(202);
  expect(same.body).toMatchObject({ role: 'everyone', status: 'scheduled', schedule_at: '2030-06-01T03:30:00.000Z' });
  expect(same.body.notifications).toBeUndefined();
});
