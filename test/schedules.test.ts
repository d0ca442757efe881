import { Queue, type Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { workerConnection } from '../queues/connection.js';
import { schedulerId } from '../queues/job-ids.js';
import type { RecurringJob } from '../queues/jobs.js';
import { QUEUE } from '../queues/names.js';
import { wallClockAt } from '../src/domain/time/zoned-time.js';
import { reconcileRecurring } from '../workers/processors/reconcile.js';
import { createRecurringWorker } from '../workers/scheduler-worker.js';
import { createHarness, waitFor, type Harness } from './helpers/harness.js';

let h: Harness;
let svc: string;
let recurring: Queue<RecurringJob>;
const workers: Worker[] = [];

/** A scheduler process's worker, with its own blocking connection. */
async function startScheduler() {
  const connection = workerConnection(h.config.REDIS_URL);
  const worker = createRecurringWorker({
    orm: h.orm,
    redis: h.redis,
    prefix: h.prefix,
    logger: h.deps.logger,
    queues: h.deps.queues,
    connection,
  });
  h.life.add('recurring worker', async () => {
    await worker.close();
    await connection.quit();
  });
  await worker.waitUntilReady();
  workers.push(worker);
}

beforeAll(async () => {
  // tests poll inboxes; the per-user rate limit is not what they are about
  h = await createHarness({ RATE_LIMIT_USER_PER_MIN: '1000000' });
  svc = await h.serviceToken();
  recurring = new Queue<RecurringJob>(QUEUE.recurring, { connection: h.redis, prefix: h.prefix });
  h.life.add('recurring queue', async () => {
    await recurring.obliterate({ force: true }).catch(() => undefined);
    await recurring.close();
  });
  await h.startIngest();
});
afterAll(() => h.close());

const inbox = async (user: string) => {
  const token = await h.token({ sub: user });
  return (await h.request('GET', '/api/v1/notifications?limit=100', { token })).body.notifications as any[];
};
const create = (body: unknown, token = svc) => h.request('POST', '/api/v1/schedules', { token, body });

describe('validation', () => {
  test('a bad cron, time zone or notification is a 400 naming the field; sending scope is required', async () => {
    const ok = { title: 't', content: 'c', user_id: 'u' };
    const cases: Array<[unknown, string]> = [
      [{ cron: 'every day at nine', notification: ok }, 'cron'],
      [{ cron: '0 9 * * *', timezone: 'Mars/Olympus', notification: ok }, 'timezone'],
      [{ cron: '0 9 * * *', notification: { title: 't', content: 'c' } }, 'notification.user_id'],
      [{ cron: '0 9 * * *', notification: { ...ok, schedule_at: '2030-01-01T00:00:00Z' } }, 'notification.schedule_at'],
      [{ cron: '0 9 * * *', notification: { template_name: 'order_ready', colour: 'red' } }, 'notification.colour'],
      [{ cron: '0 9 * * *', notification: ok, every: 5 }, 'every'],
    ];
    for (const [body, path] of cases) {
      const r = await create(body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.errors.map((e: any) => e.path)).toContain(path);
    }
    const user = await h.token({ sub: 'u' });
    expect((await create({ cron: '0 9 * * *', notification: ok }, user)).status).toBe(403);
    expect((await h.request('GET', '/api/v1/schedules', { token: user })).status).toBe(403);
  });
});

describe('a recurring schedule', () => {
  test('fires on its seconds-level cron in its time zone, once per occurrence with two scheduler processes', async () => {
    // Asia/Kolkata is UTC+5:30: its hour is never UTC's, so a pattern pinned to the current Kolkata hour fires
    // now only if the time zone is honoured (the same pattern in UTC is hours away)
    let local = wallClockAt(new Date(), 'Asia/Kolkata');
    if (local.minute === 59 && local.second > 40) {
      await new Promise((r) => setTimeout(r, (61 - local.second) * 1000));
      local = wallClockAt(new Date(), 'Asia/Kolkata');
    }
    const cron = `*/2 * ${local.hour} * * *`;
    const control = await create({ cron, timezone: 'UTC', notification: { title: 'utc', content: 'c', user_id: 'nobody' } });
    expect(control.status).toBe(201);
    expect(Date.parse(control.body.next_run_at) - Date.now()).toBeGreaterThan(3600_000);
    await h.request('DELETE', `/api/v1/schedules/${control.body.id}`, { token: svc });

    const r = await create({ name: '巡检', cron, timezone: 'Asia/Kolkata', notification: { title: '巡检提醒', content: '请巡检', user_id: 'patrol', group_key: 'patrol' } });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ name: '巡检', cron, timezone: 'Asia/Kolkata', is_active: true, run_count: 0 });
    expect(Date.parse(r.body.next_run_at) - Date.now()).toBeLessThanOrEqual(2000);

    await startScheduler();
    await startScheduler();
    const got = await waitFor(async () => {
      const list = await inbox('patrol');
      return list.length >= 3 ? list : null;
    }, 15_000);
    const occurrences = got.map((n) => n.metadata.schedule_occurrence);
    expect(new Set(occurrences).size).toBe(occurrences.length);
    for (const o of occurrences) {
      expect(new Date(o).getUTCSeconds() % 2).toBe(0);
      expect(wallClockAt(new Date(o), 'Asia/Kolkata').hour).toBe(local.hour);
    }
    expect(got[0]).toMatchObject({ title: '巡检提醒', metadata: { schedule_id: r.body.id } });

    const del = await h.request('DELETE', `/api/v1/schedules/${r.body.id}`, { token: svc });
    expect(del.status).toBe(200);
    expect(await recurring.getJobScheduler(schedulerId(r.body.id))).toBeUndefined();
    const after = (await inbox('patrol')).length;
    await new Promise((res) => setTimeout(res, 2500));
    // at most one occurrence already in flight when it was deleted
    expect((await inbox('patrol')).length).toBeLessThanOrEqual(after + 1);
    const listed = await h.request('GET', '/api/v1/schedules', { token: svc });
    expect(listed.body.schedules.map((s: any) => s.id)).not.toContain(r.body.id);
  });

  test('a template schedule renders at each occurrence', async () => {
    const r = await create({
      cron: '* * * * * *',
      timezone: 'Asia/Shanghai',
      notification: { template_name: 'staff_schedule', user_id: 'staff-1', channels: ['app'], template_vars: { schedule_date: '周一', shift_time: '早班', store_name: '一店' } },
    });
    expect(r.status).toBe(201);
    if (!workers.length) await startScheduler();
    const [n] = await waitFor(async () => {
      const list = await inbox('staff-1');
      return list.length ? list : null;
    }, 10_000);
    expect(n).toMatchObject({ title: '排班通知', content: '您的排班已更新: 周一 早班，门店: 一店，请准时到岗。', metadata: { template_name: 'staff_schedule' } });
    await h.request('DELETE', `/api/v1/schedules/${r.body.id}`, { token: svc });
  });

  test('is its creator’s: another service gets 404, an admin of the tenant sees it', async () => {
    const r = await create({ cron: '0 9 * * 1', timezone: 'Asia/Shanghai', notification: { title: '周会', content: '九点', role: 'manager' } });
    expect(r.status).toBe(201);
    expect(new Date(r.body.next_run_at).getUTCHours()).toBe(1);
    const other = await h.serviceToken();
    expect((await h.request('GET', `/api/v1/schedules/${r.body.id}`, { token: other })).status).toBe(404);
    expect((await h.request('DELETE', `/api/v1/schedules/${r.body.id}`, { token: other })).status).toBe(404);
    const admin = await h.serviceToken('admin');
    expect((await h.request('GET', `/api/v1/schedules/${r.body.id}`, { token: admin })).body.id).toBe(r.body.id);
    const mine = await h.request('GET', `/api/v1/schedules/${r.body.id}`, { token: svc });
    expect(mine.body).toMatchObject({ id: r.body.id, cron: '0 9 * * 1', notification: { title: '周会' } });
  });

  test('a job scheduler lost from Redis is restored from PostgreSQL; one without a schedule is removed', async () => {
    const r = await create({ cron: '0 9 * * *', timezone: 'Europe/Paris', notification: { title: 't', content: 'c', user_id: 'u' } });
    await recurring.removeJobScheduler(schedulerId(r.body.id));
    await recurring.upsertJobScheduler('schedule-00000000-0000-7000-8000-000000000000', { pattern: '0 9 * * *' }, { name: 'recurring', data: { schedule_id: '00000000-0000-7000-8000-000000000000', tenant: h.tenant } });
    const result = await reconcileRecurring({ orm: h.orm, logger: h.deps.logger, queues: h.deps.queues }, { tenant: h.tenant });
    expect(result).toEqual({ restored: 1, removed: 1 });
    const restored = await recurring.getJobScheduler(schedulerId(r.body.id));
    expect(restored).toMatchObject({ pattern: '0 9 * * *', tz: 'Europe/Paris' });
  });
});
