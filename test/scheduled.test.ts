import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { workerConnection } from '../queues/connection.js';
import { fireJobId } from '../queues/job-ids.js';
import { QUEUE } from '../queues/names.js';
import { reconcileScheduledSends } from '../workers/processors/reconcile.js';
import { createHarness, uniq, waitFor, type Harness } from './helpers/harness.js';

let h: Harness;
let svc: string;
beforeAll(async () => {
  // tests poll inboxes; the per-user rate limit is not what they are about
  h = await createHarness({ RATE_LIMIT_USER_PER_MIN: '1000000' });
  svc = await h.serviceToken();
});
afterAll(() => h.close());

const inSeconds = (s: number) => new Date(Date.now() + s * 1000).toISOString();
const inbox = async (user: string) => {
  const token = await h.token({ sub: user });
  return (await h.request('GET', '/api/v1/notifications', { token })).body.notifications as any[];
};
const asSender = async (id: string) => (await h.request('GET', `/api/v1/notifications/${id}`, { token: svc })).body;
const schedule = async (user: string, at: string, extra: Record<string, unknown> = {}) => {
  const r = await h.request('POST', '/api/v1/notifications', { token: svc, body: { title: '定时', content: `for ${user}`, user_id: user, schedule_at: at, ...extra } });
  expect(r.status).toBe(202);
  return r.body;
};
const stored = (id: string) => waitFor(async () => (await asSender(id)).id === id, 10_000, 'the scheduled notification to be stored');

describe('schedule_at', () => {
  test('is stored at once as scheduled, seen by its sender only, and fires at its time into the inbox', async () => {
    const worker = await h.startIngest();
    const at = inSeconds(1.5);
    const sent = await schedule('early-bird', at);
    expect(sent).toMatchObject({ status: 'scheduled', schedule_at: at, cursor: null });
    await stored(sent.id);
    const before = await asSender(sent.id);
    expect(before).toMatchObject({ status: 'scheduled', cursor: null });
    expect(await inbox('early-bird')).toEqual([]);
    const user = await h.token({ sub: 'early-bird' });
    expect((await h.request('GET', `/api/v1/notifications/${sent.id}`, { token: user })).status).toBe(404);
    expect((await h.request('GET', '/api/v1/notifications/unread-count', { token: user })).body.unread_count).toBe(0);

    const [n] = await waitFor(async () => {
      const list = await inbox('early-bird');
      return list.length ? list : null;
    });
    expect(n).toMatchObject({ id: sent.id, status: 'sent', is_read: false });
    expect(n.cursor).not.toBeNull();
    // never early
    expect(Date.parse(n.sent_at)).toBeGreaterThanOrEqual(Date.parse(at) - 5);
    await worker.close();
  });

  test('survives the workers and queue objects being closed and re-created before it fires', async () => {
    const first = await h.startIngest();
    const sent = await schedule('restart', inSeconds(1.5));
    await stored(sent.id);
    await first.close();
    // a "new process": its own connection and Queue object; nothing of the old one is reused
    const connection = workerConnection(h.config.REDIS_URL);
    const queue = new Queue(QUEUE.ingest, { connection, prefix: h.prefix });
    expect(await queue.getJobState(fireJobId(sent.id))).toBe('delayed');
    await new Promise((r) => setTimeout(r, 1600));
    expect(await inbox('restart')).toEqual([]);
    await queue.close();
    await connection.quit();
    const second = await h.startIngest();
    const [n] = await waitFor(async () => {
      const list = await inbox('restart');
      return list.length ? list : null;
    });
    expect(n).toMatchObject({ id: sent.id, status: 'sent' });
    await second.close();
  });

  test('a scheduled send whose delayed job went missing is re-created from PostgreSQL', async () => {
    const worker = await h.startIngest();
    const sent = await schedule('lost-job', inSeconds(1));
    await stored(sent.id);
    expect(await h.deps.queues.ingest.remove(fireJobId(sent.id))).toBe(1);
    await new Promise((r) => setTimeout(r, 1200));
    expect(await inbox('lost-job')).toEqual([]);

    const recreated = await reconcileScheduledSends({ orm: h.orm, logger: h.deps.logger, queues: h.deps.queues }, { tenant: h.tenant });
    expect(recreated).toBe(1);
    const [n] = await waitFor(async () => {
      const list = await inbox('lost-job');
      return list.length ? list : null;
    });
    expect(n.id).toBe(sent.id);
    // nothing is missing any more: a second pass re-creates nothing of ours
    expect(await h.deps.queues.ingest.getJobState(fireJobId(sent.id))).not.toBe('delayed');
    await worker.close();
  });

  test('a past or malformed schedule_at is a 400 naming it', async () => {
    for (const bad of [new Date(Date.now() - 60_000).toISOString(), '2026-13-01T09:00:00Z', '2026-12-01 09:00', '2026-12-01T09:00']) {
      const r = await h.request('POST', '/api/v1/notifications', { token: svc, body: { title: 't', content: 'c', user_id: 'u', schedule_at: bad } });
      expect(r.status).toBe(400);
      expect(r.body.errors.map((e: any) => e.path)).toContain('schedule_at');
    }
  });
});

describe('a bulk send due at one time', () => {
  test('is fired by a job per tenant, time and chunk of 500; a cancelled one is skipped, the rest fire', async () => {
    const at = inSeconds(2);
    const users = Array.from({ length: 600 }, (_, i) => `bulk-${i}`);
    const r = await h.request('POST', '/api/v1/notifications/bulk', {
      token: svc,
      body: { notifications: users.map((u) => ({ title: '整点', content: u, user_id: u, schedule_at: at })) },
    });
    expect(r.status).toBe(202);
    const ids: string[] = r.body.ids;
    const delayed = (await h.deps.queues.ingest.getJobs(['delayed'])).filter((j) => j.name === 'fire' && ids.includes(j.data.fire!.ids[0]));
    expect(delayed.map((j) => j.data.fire!.ids.length).sort()).toEqual([100, 500]);
    const worker = await h.startIngest();
    const cancelled = ids[1];
    expect((await h.request('POST', `/api/v1/notifications/${cancelled}/cancel`, { token: svc })).status).toBe(200);
    const statuses = await waitFor(async () => {
      const rows = await h.orm.em
        .fork()
        .execute<Array<{ status: string; n: string }>>(`select status, count(*)::text as n from notifications where id = any(?::uuid[]) group by 1`, [`{${ids.join(',')}}`]);
      const by = Object.fromEntries(rows.map((x) => [x.status, Number(x.n)]));
      return by.sent === 599 ? by : null;
    }, 15_000);
    expect(statuses).toEqual({ sent: 599, cancelled: 1 });
    await worker.close();
  });
});

test('a lost chunk job: every notification it covered gets its own job back from PostgreSQL', async () => {
  const at = inSeconds(1.5);
  const r = await h.request('POST', '/api/v1/notifications/bulk', {
    token: svc,
    body: { notifications: ['c1', 'c2', 'c3'].map((u) => ({ title: 't', content: 'c', user_id: u, schedule_at: at })) },
  });
  const ids: string[] = r.body.ids;
  const worker = await h.startIngest();
  await waitFor(async () => (await h.orm.em.fork().execute(`select 1 from notifications where id = any(?::uuid[])`, [`{${ids.join(',')}}`])).length === 3);
  expect(await h.deps.queues.ingest.remove(fireJobId(ids[0]))).toBe(1);
  expect(await reconcileScheduledSends({ orm: h.orm, logger: h.deps.logger, queues: h.deps.queues }, { tenant: h.tenant })).toBe(3);
  for (const u of ['c1', 'c2', 'c3']) await waitFor(async () => (await inbox(u)).length === 1);
  await worker.close();
});

describe('cancel', () => {
  test('before firing: it never reaches the inbox; cancelling twice is harmless', async () => {
    const worker = await h.startIngest();
    const sent = await schedule('cancelled', inSeconds(1.5));
    await stored(sent.id);
    const r = await h.request('POST', `/api/v1/notifications/${sent.id}/cancel`, { token: svc });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ success: true, status: 'cancelled' });
    const again = await h.request('POST', `/api/v1/notifications/${sent.id}/cancel`, { token: svc });
    expect(again.status).toBe(200);
    await new Promise((res) => setTimeout(res, 1800));
    expect(await inbox('cancelled')).toEqual([]);
    expect(await asSender(sent.id)).toMatchObject({ status: 'cancelled', cursor: null });
    await worker.close();
  });

  test('right after the send, before the row is stored, it still cancels', async () => {
    // no ingest worker yet: the cancel arrives before the row exists, and the worker starts while it waits
    const sent = await schedule('hasty', inSeconds(30));
    const cancelling = h.request('POST', `/api/v1/notifications/${sent.id}/cancel`, { token: svc });
    await new Promise((res) => setTimeout(res, 200));
    const worker = await h.startIngest();
    const r = await cancelling;
    expect(r.status).toBe(200);
    expect(r.body.status).toBe('cancelled');
    await worker.close();
  });

  test('after firing it is 409; another service gets 404; an immediate send cannot be cancelled', async () => {
    const worker = await h.startIngest();
    const sent = await schedule('fired', inSeconds(0.5));
    await waitFor(async () => (await inbox('fired')).length > 0);
    const late = await h.request('POST', `/api/v1/notifications/${sent.id}/cancel`, { token: svc });
    expect(late.status).toBe(409);
    expect(late.body.detail).toContain('recall');

    const other = await h.serviceToken();
    const stranger = await schedule('strangers', inSeconds(30));
    await stored(stranger.id);
    expect((await h.request('POST', `/api/v1/notifications/${stranger.id}/cancel`, { token: other })).status).toBe(404);
    expect((await h.request('POST', `/api/v1/notifications/${uniq('x')}/cancel`, { token: svc })).status).toBe(404);

    const now = await h.request('POST', '/api/v1/notifications', { token: svc, body: { title: 't', content: 'c', user_id: 'now' } });
    await waitFor(async () => (await inbox('now')).length > 0);
    expect((await h.request('POST', `/api/v1/notifications/${now.body.id}/cancel`, { token: svc })).status).toBe(409);
    await worker.close();
  });
});

describe('schedule_local', () => {
  test("is the same wall-clock time in each recipient's own time zone", async () => {
    await h.orm.em.fork().execute(
      `insert into recipients (tenant, user_id, timezone) values (?, 'sh', 'Asia/Shanghai'), (?, 'ny', 'America/New_York')`,
      [h.tenant, h.tenant],
    );
    const r = await h.request('POST', '/api/v1/notifications', {
      token: svc,
      body: { title: '早安', content: '九点见', user_ids: ['sh', 'ny', 'nozone'], schedule_local: '2030-06-01T09:00' },
    });
    expect(r.status).toBe(202);
    const at = Object.fromEntries(r.body.notifications.map((n: any) => [n.user_id, n.schedule_at]));
    expect(at).toEqual({ sh: '2030-06-01T01:00:00.000Z', ny: '2030-06-01T13:00:00.000Z', nozone: '2030-06-01T09:00:00.000Z' });
    expect(r.body.notifications.every((n: any) => n.status === 'scheduled')).toBe(true);

    const withDefault = await h.request('POST', '/api/v1/notifications', {
      token: svc,
      body: { title: '早安', content: '九点见', user_ids: ['nozone'], role: 'cashier', schedule_local: '2030-06-01T09:00', timezone: 'Asia/Tokyo' },
    });
    expect(withDefault.body.notifications.map((n: any) => n.schedule_at)).toEqual(['2030-06-01T00:00:00.000Z', '2030-06-01T00:00:00.000Z']);
  });

  test('where the time has passed it goes now; passed everywhere is a 400', async () => {
    // a wall-clock time two hours ahead in UTC has already passed in Shanghai (UTC+8)
    const local = new Date(Date.now() + 2 * 3600_000).toISOString().slice(0, 16);
    const r = await h.request('POST', '/api/v1/notifications', { token: svc, body: { title: 't', content: 'c', user_ids: ['sh', 'nozone'], schedule_local: local } });
    expect(r.status).toBe(202);
    const status = Object.fromEntries(r.body.notifications.map((n: any) => [n.user_id, n.status]));
    expect(status).toEqual({ sh: 'queued', nozone: 'scheduled' });

    const past = await h.request('POST', '/api/v1/notifications', { token: svc, body: { title: 't', content: 'c', user_id: 'sh', schedule_local: '2020-01-01T09:00' } });
    expect(past.status).toBe(400);
    expect(past.body.errors[0].path).toBe('schedule_local');
    for (const bad of [{ schedule_local: '2030-02-30T09:00' }, { schedule_local: '2030-06-01T09:00+08:00' }, { schedule_local: '2030-06-01T09:00', timezone: 'Mars/Olympus' }]) {
      const x = await h.request('POST', '/api/v1/notifications', { token: svc, body: { title: 't', content: 'c', user_id: 'sh', ...bad } });
      expect(x.status).toBe(400);
    }
  });
});

test('GET /notifications/scheduled lists the caller’s sends still waiting, soonest first', async () => {
  const mine = await h.serviceToken();
  const send = async (token: string, at: string) =>
    (await h.request('POST', '/api/v1/notifications', { token, body: { title: 't', content: 'c', user_id: 'later', schedule_at: at } })).body.id;
  const worker = await h.startIngest();
  const late = await send(mine, inSeconds(120));
  const soon = await send(mine, inSeconds(60));
  await send(svc, inSeconds(90));
  const list = await waitFor(async () => {
    const r = await h.request('GET', '/api/v1/notifications/scheduled', { token: mine });
    return r.body.count === 2 ? r.body : null;
  });
  expect(list.notifications.map((n: any) => n.id)).toEqual([soon, late]);
  expect(list.notifications[0].status).toBe('scheduled');
  expect((await h.request('GET', '/api/v1/notifications/scheduled', { token: await h.token({ sub: 'later' }) })).status).toBe(403);
  await worker.close();
});
