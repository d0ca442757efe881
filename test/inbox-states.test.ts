/**
 * Inbox states per user beside read/unread: seen, archived, snoozed. Each
 * route changes the caller's own receipt (also for a store-wide notification
 * that has no receipt yet), another user's notification is 404, lists and
 * counts leave out the archive and what is snoozed, every change reaches
 * the user's other sockets, and a snooze ends with a delayed ingest job that
 * puts the notification back unread with a `notification.unsnoozed` frame.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { wakeJobId } from '../queues/job-ids.js';
import { createHarness, uniq, waitFor, type Harness } from './helpers/harness.js';
import { connect, startNode } from './helpers/ws-node.js';

let h: Harness;
let svc: string;
let wsUrl: string;
beforeAll(async () => {
  h = await createHarness({ RATE_LIMIT_USER_PER_MIN: '1000000' });
  await h.startIngest();
  wsUrl = (await startNode(h)).url();
  svc = await h.serviceToken();
});
afterAll(() => h?.close());

/** A user of this file's tenant with a store of its own (for store-wide notifications, which have no receipt until acted on). */
async function newUser(label: string) {
  const user = { sub: uniq(label), stores: [uniq('store')] };
  return { ...user, token: await h.token(user) };
}
type User = Awaited<ReturnType<typeof newUser>>;

/** Sends one notification and waits until it is in the inbox of `reader`. */
async function deliver(reader: User, target: Record<string, unknown> = { user_id: reader.sub }, title = 'T'): Promise<string> {
  const r = await h.request('POST', '/api/v1/notifications', { token: svc, body: { title, content: 'C', ...target } });
  expect(r.status).toBe(202);
  const id: string = r.body.id;
  await waitFor(async () => (await h.request('GET', `/api/v1/notifications/${id}`, { token: reader.token })).status === 200, 10_000, `${id} stored`);
  return id;
}

async function call(u: User, method: string, path: string, body?: unknown) {
  return h.request(method, `/api/v1/notifications${path}`, { token: u.token, body });
}
async function ok(u: User, method: string, path: string, body?: unknown) {
  const r = await call(u, method, path, body);
  expect(r.status, `${method} ${path}: ${JSON.stringify(r.body)}`).toBe(200);
  return r.body;
}
const ids = async (u: User, query = '') => (await ok(u, 'GET', `?limit=100${query}`)).notifications.map((n: any) => n.id).sort();
const counts = async (u: User, filters: unknown[]) => (await ok(u, 'GET', `/count?filters=${encodeURIComponent(JSON.stringify(filters))}`)).counts;
const sorted = (list: string[]) => [...list].sort();
const inSeconds = (s: number) => new Date(Date.now() + s * 1000).toISOString();

describe('the routes', () => {
  test('seen, archive and unarchive change only the caller\'s state, also of a store-wide notification', async () => {
    const ann = await newUser('ann');
    const colleague = { sub: uniq('colleague'), stores: ann.stores };
    const colleagueUser = { ...colleague, token: await h.token(colleague) };
    const mine = await deliver(ann);
    const storeWide = await deliver(ann, { store_id: ann.stores[0] });

    expect(await ok(ann, 'PUT', `/${storeWide}/seen`)).toEqual({ success: true, message: '已标记为已查看' });
    const seen = await ok(ann, 'GET', `/${storeWide}`);
    expect(seen).toMatchObject({ is_seen: true, is_read: false, is_archived: false, archived_at: null, snoozed_until: null });
    expect(Date.parse(seen.seen_at)).toBeGreaterThan(Date.now() - 60_000);
    // the colleague's receipt is untouched
    expect(await ok(colleagueUser, 'GET', `/${storeWide}`)).toMatchObject({ is_seen: false, seen_at: null });

    expect(await ok(ann, 'PUT', `/${mine}/archive`)).toEqual({ success: true, message: '已归档' });
    expect(await ok(ann, 'PUT', `/${storeWide}/archive`)).toMatchObject({ success: true });
    expect(await ids(ann)).toEqual([]);
    expect(await ids(ann, '&archived=true')).toEqual(sorted([mine, storeWide]));
    expect((await ok(ann, 'GET', `/${mine}`)).is_archived).toBe(true);
    expect(await ids(colleagueUser)).toEqual([storeWide]);

    expect(await ok(ann, 'PUT', `/${mine}/unarchive`)).toEqual({ success: true, message: '已取消归档' });
    expect(await ids(ann)).toEqual([mine]);
    expect(await ok(ann, 'GET', `/${mine}`)).toMatchObject({ is_archived: false, archived_at: null });
    // doing it twice is fine
    await ok(ann, 'PUT', `/${mine}/unarchive`);
    await ok(ann, 'PUT', `/${storeWide}/seen`);
  });

  test("another user's notification (or no notification) is 404 on every route", async () => {
    const ann = await newUser('ann');
    const bob = await newUser('bob');
    const bobs = await deliver(bob);
    for (const [method, path, body] of [
      ['PUT', `/${bobs}/seen`],
      ['PUT', `/${bobs}/archive`],
      ['PUT', `/${bobs}/unarchive`],
      ['PUT', `/${bobs}/snooze`, { until: inSeconds(600) }],
      ['PUT', `/${bobs}/unsnooze`],
      ['PUT', '/not-an-id/seen'],
      ['PUT', '/0192f3a4-5b6c-7d8e-9f01-23456789abcd/archive'],
    ] as const) {
      const r = await call(ann, method, path, body);
      expect(r.status, `${method} ${path}`).toBe(404);
      expect(r.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    }
    // and bob's notification is as it was
    expect(await ok(bob, 'GET', `/${bobs}`)).toMatchObject({ is_seen: false, is_archived: false, snoozed_until: null });
  });

  test('seen-all, archive-read and archive-all act on the inbox proper', async () => {
    const ann = await newUser('ann');
    const [a, b, c] = [await deliver(ann), await deliver(ann), await deliver(ann, { store_id: ann.stores[0] })];
    const snoozed = await deliver(ann);
    await ok(ann, 'PUT', `/${snoozed}/snooze`, { until: inSeconds(600) });

    expect(await ok(ann, 'POST', '/seen-all')).toEqual({ success: true, message: '已标记3条通知为已查看', count: 3 });
    expect(await ok(ann, 'POST', '/seen-all')).toMatchObject({ count: 0 });
    expect(await ids(ann, '&seen=true')).toEqual(sorted([a, b, c]));
    expect(await ids(ann, '&seen=true&snoozed=true')).toEqual([]);

    await ok(ann, 'PUT', `/${a}/read`);
    expect(await ok(ann, 'POST', '/archive-read')).toEqual({ success: true, message: '已归档1条已读通知', count: 1 });
    expect(await ids(ann, '&archived=true')).toEqual([a]);
    expect(await ok(ann, 'POST', '/archive-all')).toEqual({ success: true, message: '已归档2条通知', count: 2 });
    expect(await ids(ann)).toEqual([]);
    expect(await ids(ann, '&archived=true')).toEqual(sorted([a, b, c]));
    // what is snoozed stays snoozed
    expect(await ids(ann, '&snoozed=true')).toEqual([snoozed]);
  });

  test('reading marks seen too; seen=false lists the unseen', async () => {
    const ann = await newUser('ann');
    const [a, b] = [await deliver(ann), await deliver(ann, { store_id: ann.stores[0] })];
    await ok(ann, 'PUT', `/${b}/read`);
    expect(await ok(ann, 'GET', `/${b}`)).toMatchObject({ is_read: true, is_seen: true });
    expect(await ids(ann, '&seen=false')).toEqual([a]);
    expect(await ids(ann, '&seen=true')).toEqual([b]);
    expect(await counts(ann, [{ seen: false }, { read: false }])).toEqual([1, 1]);
  });
});

describe('counts', () => {
  test('GET /notifications/count answers several counts in one call; the archive and the snoozed are out of the inbox counts', async () => {
    const ann = await newUser('ann');
    const [a, b, c, d] = [await deliver(ann), await deliver(ann), await deliver(ann), await deliver(ann, { store_id: ann.stores[0] }, 'warn')];
    await ok(ann, 'PUT', `/${a}/read`);
    await ok(ann, 'PUT', `/${b}/seen`);
    await ok(ann, 'PUT', `/${c}/archive`);
    await ok(ann, 'PUT', `/${d}/snooze`, { until: inSeconds(600) });

    // a read and seen; b unread, seen; c archived (unread); d snoozed (unread)
    expect(await counts(ann, [{ read: false }, { seen: false }, { archived: true }, { snoozed: true }, {}])).toEqual([1, 0, 1, 1, 2]);
    expect((await ok(ann, 'GET', '/unread-count')).unread_count).toBe(1);
    expect(await counts(ann, [{ archived: true, read: false }, { type: 'info' }, { type: ['info', 'warning'], priority: 'normal' }])).toEqual([1, 2, 2]);

    // repeated parameters, each an object or an array
    const repeated = await ok(ann, 'GET', `/count?filters=${encodeURIComponent('{"read":false}')}&filters=${encodeURIComponent('[{"archived":true},{}]')}`);
    expect(repeated).toEqual({ counts: [1, 1, 2] });
  });

  test("a socket's welcome counts unread as the inbox does: not what is archived or snoozed", async () => {
    const ann = await newUser('ann');
    const archived = await deliver(ann);
    const snoozed = await deliver(ann, { store_id: ann.stores[0] });
    await deliver(ann);
    await ok(ann, 'PUT', `/${archived}/archive`);
    await ok(ann, 'PUT', `/${snoozed}/snooze`, { until: inSeconds(3600) });
    expect((await ok(ann, 'GET', '/unread-count')).unread_count).toBe(1);
    const socket = await connect(`${wsUrl}?token=${ann.token}`);
    expect(socket.events('welcome')[0].unread_count).toBe(1);
    socket.close();
  });

  test('bad count filters are 400 naming the filter and field', async () => {
    const ann = await newUser('ann');
    for (const [query, path] of [
      ['', 'filters'],
      ['filters=nope', 'filters'],
      ['filters=[]', 'filters'],
      [`filters=${encodeURIComponent('[{"read":"no"}]')}`, 'filters.0.read'],
      [`filters=${encodeURIComponent('[{},{"colour":"red"}]')}`, 'filters.1.colour'],
      [`filters=${encodeURIComponent('[{"type":"shout"}]')}`, 'filters.0.type'],
      [`filters=${encodeURIComponent(JSON.stringify(new Array(11).fill({})))}`, 'filters'],
    ]) {
      const r = await call(ann, 'GET', `/count?${query}`);
      expect(r.status, query).toBe(400);
      expect(r.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(r.body.errors.map((e: any) => e.path), query).toContain(path);
    }
  });

  test('bad list filters are 400 naming them', async () => {
    const ann = await newUser('ann');
    for (const q of ['seen', 'archived', 'snoozed']) {
      const r = await call(ann, 'GET', `?${q}=maybe`);
      expect(r.status).toBe(400);
      expect(r.body.errors.map((e: any) => e.path)).toContain(q);
    }
  });
});

describe('snooze', () => {
  test('a bad until is 400 naming it', async () => {
    const ann = await newUser('ann');
    const id = await deliver(ann);
    for (const [body, message] of [
      [{ until: inSeconds(-5) }, 'must be in the future'],
      [{ until: inSeconds(367 * 24 * 3600) }, 'must be at most 366 days ahead'],
      [{ until: 'tomorrow' }, 'must be an RFC 3339 time with an offset'],
      [{ until: '2030-01-01T09:00:00' }, 'must be an RFC 3339 time with an offset'],
      [{}, expect.any(String)],
    ] as const) {
      const r = await call(ann, 'PUT', `/${id}/snooze`, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(r.body.errors).toEqual([{ path: 'until', message }]);
    }
    const extra = await call(ann, 'PUT', `/${id}/snooze`, { until: inSeconds(60), reason: 'later' });
    expect(extra.status).toBe(400);
    expect(extra.body.errors).toEqual([{ path: 'reason', message: 'unknown field' }]);
    expect(await ok(ann, 'GET', `/${id}`)).toMatchObject({ snoozed_until: null });
  });

  test('a snoozed notification leaves the list and the counts, then wakes unread with a frame to every socket of the user', async () => {
    const ann = await newUser('ann');
    const id = await deliver(ann, { store_id: ann.stores[0] });
    const other = await deliver(ann);
    await ok(ann, 'PUT', `/${id}/read`);
    const phone = await connect(`${wsUrl}?token=${ann.token}`);
    const laptop = await connect(`${wsUrl}?token=${ann.token}`);

    const until = new Date(Date.now() + 2000).toISOString();
    expect(await ok(ann, 'PUT', `/${id}/snooze`, { until })).toEqual({ success: true, message: '已设置稍后提醒', snoozed_until: until });
    expect(await ids(ann)).toEqual([other]);
    expect(await ids(ann, '&snoozed=true')).toEqual([id]);
    expect(await counts(ann, [{}, { read: false }, { seen: false }])).toEqual([1, 1, 1]);
    expect(await ok(ann, 'GET', `/${id}`)).toMatchObject({ snoozed_until: until, is_read: true });

    for (const socket of [phone, laptop]) {
      await socket.until(() => socket.events('notification.unsnoozed').length, 10_000, 'the wake frame');
      expect(socket.events('notification.snoozed')).toEqual([{ event: 'notification.snoozed', ids: [id], snoozed_until: until }]);
      const [woke] = socket.events('notification.unsnoozed');
      expect(woke.ids).toEqual([id]);
      expect(woke.notification).toMatchObject({ id, is_read: false, is_seen: false, snoozed_until: null, store_id: ann.stores[0] });
      // after the wake frame, the unread count with the woken notification in it
      await socket.until(() => socket.frames.findLast((f) => f.event === 'unread_count')?.unread_count === 2, 10_000, 'the unread count');
      const order = socket.frames.map((f) => f.event).filter((e) => e === 'notification.unsnoozed' || e === 'unread_count');
      expect(order.slice(-2)).toEqual(['notification.unsnoozed', 'unread_count']);
    }
    expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(until));
    expect(await ids(ann)).toEqual(sorted([id, other]));
    expect(await counts(ann, [{ read: false }, { snoozed: true }])).toEqual([2, 0]);
    expect(await ok(ann, 'GET', `/${id}`)).toMatchObject({ is_read: false, snoozed_until: null });
    phone.close();
    laptop.close();
  });

  test('snoozing again replaces the wake job; unsnooze brings it back at once and removes the job', async () => {
    const ann = await newUser('ann');
    const id = await deliver(ann);
    const socket = await connect(`${wsUrl}?token=${ann.token}`);
    const jobOf = (until: string) => h.deps.queues.ingest.getJob(wakeJobId(h.tenant, ann.sub, id, until));

    const first = inSeconds(1.5);
    await ok(ann, 'PUT', `/${id}/snooze`, { until: first });
    expect(await jobOf(first)).toBeTruthy();
    const second = inSeconds(600);
    await ok(ann, 'PUT', `/${id}/snooze`, { until: second });
    expect(await jobOf(first)).toBeFalsy();
    expect(await (await jobOf(second))!.isDelayed()).toBe(true);

    // past the first time: still snoozed, no wake
    await new Promise((r) => setTimeout(r, 2500));
    expect(await ids(ann)).toEqual([]);
    expect(await ok(ann, 'GET', `/${id}`)).toMatchObject({ snoozed_until: second });
    expect(socket.events('notification.unsnoozed')).toEqual([]);

    expect(await ok(ann, 'PUT', `/${id}/unsnooze`)).toEqual({ success: true, message: '已取消稍后提醒' });
    expect(await jobOf(second)).toBeFalsy();
    expect(await ids(ann)).toEqual([id]);
    await socket.until(() => socket.events('notification.unsnoozed').length, 10_000, 'the unsnooze frame');
    expect(socket.events('notification.unsnoozed')[0]).toMatchObject({ ids: [id], notification: { id, snoozed_until: null } });
    // not snoozed any more: unsnoozing again changes nothing and says nothing
    await ok(ann, 'PUT', `/${id}/unsnooze`);
    socket.close();
  });

  test('archiving a snoozed notification ends the snooze; snoozing an archived one takes it out of the archive', async () => {
    const ann = await newUser('ann');
    const id = await deliver(ann);
    await ok(ann, 'PUT', `/${id}/snooze`, { until: inSeconds(600) });
    await ok(ann, 'PUT', `/${id}/archive`);
    expect(await ok(ann, 'GET', `/${id}`)).toMatchObject({ is_archived: true, snoozed_until: null });
    const until = inSeconds(600);
    await ok(ann, 'PUT', `/${id}/snooze`, { until });
    expect(await ok(ann, 'GET', `/${id}`)).toMatchObject({ is_archived: false, snoozed_until: until });
    expect(await ids(ann, '&archived=true')).toEqual([]);
    expect(await ids(ann, '&snoozed=true')).toEqual([id]);
  });
});

describe('events', () => {
  test("every change reaches the user's other sockets and no colleague's", async () => {
    const ann = await newUser('ann');
    const colleague = { sub: uniq('colleague'), stores: ann.stores };
    const colleagueToken = await h.token(colleague);
    const [a, b, c] = [await deliver(ann), await deliver(ann), await deliver(ann, { store_id: ann.stores[0] })];
    const phone = await connect(`${wsUrl}?token=${ann.token}`);
    const laptop = await connect(`${wsUrl}?token=${ann.token}`);
    const theirs = await connect(`${wsUrl}?token=${colleagueToken}`);

    const until = inSeconds(600);
    await ok(ann, 'PUT', `/${a}/seen`);
    await ok(ann, 'PUT', `/${a}/archive`);
    await ok(ann, 'PUT', `/${a}/unarchive`);
    await ok(ann, 'PUT', `/${b}/snooze`, { until });
    await ok(ann, 'PUT', `/${b}/unsnooze`);
    await ok(ann, 'POST', '/seen-all');
    await ok(ann, 'PUT', `/${c}/read`);
    await ok(ann, 'POST', '/archive-read');
    await ok(ann, 'POST', '/archive-all');

    const STATE_EVENTS = ['notification.seen', 'notification.archived', 'notification.unarchived', 'notification.snoozed', 'notification.unsnoozed', 'notification.read', 'unread_count'];
    const expected = [
      { event: 'notification.seen', ids: [a] },
      { event: 'notification.archived', ids: [a] },
      { event: 'unread_count', unread_count: 2 },
      { event: 'notification.unarchived', ids: [a], notification: expect.objectContaining({ id: a, is_archived: false, is_seen: true }) },
      { event: 'unread_count', unread_count: 3 },
      { event: 'notification.snoozed', ids: [b], snoozed_until: until },
      { event: 'unread_count', unread_count: 2 },
      { event: 'notification.unsnoozed', ids: [b], notification: expect.objectContaining({ id: b, snoozed_until: null }) },
      { event: 'unread_count', unread_count: 3 },
      { event: 'notification.seen', ids: expect.toSatisfy((got: string[]) => sorted(got).join() === sorted([b, c]).join()) },
      { event: 'notification.read', ids: [c] },
      { event: 'unread_count', unread_count: 2 },
      { event: 'notification.archived', ids: [c] },
      { event: 'notification.archived', ids: expect.toSatisfy((got: string[]) => sorted(got).join() === sorted([a, b]).join()) },
      { event: 'unread_count', unread_count: 0 },
    ];
    for (const socket of [phone, laptop]) {
      const mine = () => socket.frames.filter((f) => STATE_EVENTS.includes(f.event ?? ''));
      await socket.until(() => mine().length >= expected.length, 10_000, "ann's events");
      expect(mine()).toEqual(expected);
    }

    // a sentinel for the colleague, published after all of ann's events: anything of ann's would have arrived before it
    const sentinel = await deliver({ ...colleague, token: colleagueToken }, { user_id: colleague.sub });
    await theirs.until(() => theirs.events('notification').some((n) => n.id === sentinel), 10_000, "the colleague's own notification");
    expect(theirs.frames.filter((f) => STATE_EVENTS.includes(f.event ?? ''))).toEqual([]);
    for (const s of [phone, laptop, theirs]) s.close();
  });
});
