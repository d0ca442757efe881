import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { QUEUE } from '../queues/names.js';
import { fireJobId } from '../queues/job-ids.js';
import { migrate } from '../src/db/orm.js';
import { newId } from '../src/domain/ids.js';
import { startChannelWorker } from './helpers/channels.js';
import { TEST_DATABASE_URL } from './helpers/env.js';
import { createHarness, waitFor, type Harness } from './helpers/harness.js';
import type { Proc } from './helpers/procs.js';
import { spawnRole } from './helpers/roles.js';

/**
 * The real `scheduler` process (workers/scheduler.ts, the Procfile's line)
 * with its node-cron maintenance running every second. It owns a database
 * of its own: a scheduler reconciles everything in its database, and the
 * shared test database holds other test files' scheduled sends.
 */
const dbName = `herald_sched_${randomBytes(4).toString('hex')}`;
const dbUrl = (() => {
  const u = new URL(TEST_DATABASE_URL);
  u.pathname = `/${dbName}`;
  return u.toString();
})();
const admin = () => {
  const u = new URL(TEST_DATABASE_URL);
  u.pathname = '/postgres';
  return new pg.Client({ connectionString: u.toString() });
};

let h: Harness;
let scheduler: Proc;
let svc: string;

beforeAll(async () => {
  await migrate({ url: dbUrl });
  h = await createHarness({ DATABASE_URL: dbUrl, RATE_LIMIT_USER_PER_MIN: '1000000' });
  await h.startIngest();
  svc = await h.serviceToken();
  scheduler = spawnRole(
    'workers/scheduler.ts',
    {
      harness: h,
      env: {
        RECONCILE_CRON: '* * * * * *',
        RETENTION_CRON: '* * * * * *',
        STUCK_DELIVERY_CRON: '* * * * * *',
        RETENTION_DAYS: '1',
        STUCK_DELIVERY_AFTER_MS: '5000',
      },
    },
    h.life,
  );
  await scheduler.waitForLog((l) => l.msg === 'scheduler started');
}, 60_000);

afterAll(async () => {
  await h?.close();
  const c = admin();
  await c.connect();
  await c.query(`drop database if exists "${dbName}" with (force)`);
  await c.end();
});

const inbox = async (user: string) => {
  const token = await h.token({ sub: user });
  return (await h.request('GET', '/api/v1/notifications?limit=100', { token })).body.notifications as any[];
};
const sql = <T = any>(text: string, params: unknown[] = []) => h.orm.em.fork().execute<T[]>(text, params);

test('runs recurring schedules', async () => {
  const r = await h.request('POST', '/api/v1/schedules', {
    token: svc,
    body: { cron: '* * * * * *', timezone: 'Asia/Shanghai', notification: { title: '每秒', content: 'tick', user_id: 'ticker' } },
  });
  expect(r.status).toBe(201);
  const got = await waitFor(async () => {
    const list = await inbox('ticker');
    return list.length >= 2 ? list : null;
  }, 15_000);
  expect(got[0].metadata.schedule_id).toBe(r.body.id);
  await h.request('DELETE', `/api/v1/schedules/${r.body.id}`, { token: svc });
});

test('re-creates the firing job of a scheduled send that lost it', async () => {
  const r = await h.request('POST', '/api/v1/notifications', {
    token: svc,
    body: { title: '丢了', content: 'job', user_id: 'lost', schedule_at: new Date(Date.now() + 1500).toISOString() },
  });
  await waitFor(async () => (await sql(`select 1 from notifications where id = ?`, [r.body.id])).length > 0);
  expect(await h.deps.queues.ingest.remove(fireJobId(r.body.id))).toBe(1);
  const [n] = await waitFor(async () => {
    const list = await inbox('lost');
    return list.length ? list : null;
  }, 15_000);
  expect(n.id).toBe(r.body.id);
  expect(scheduler.logs().some((l) => l.msg?.includes('re-created'))).toBe(true);
});

test('purges notifications past RETENTION_DAYS, keeping scheduled ones', async () => {
  const old = new Date(Date.now() - 3 * 86_400_000);
  // ids are minted when a notification is accepted: the purge walks the primary key by their time
  const [gone, waiting, recent] = [newId(old.getTime()), newId(old.getTime()), newId()];
  await sql(
    `insert into notifications (id, tenant, seq, audience, user_id, title, content, type, priority, status, channels, sender, created_at, schedule_at)
     values (?, ?, nextval('notification_seq'), 'u:old', 'old', 't', 'c', 'info', 'normal', 'sent', '{app}', 'svc', ?, null),
            (?, ?, null, 'u:old', 'old', 't', 'c', 'info', 'normal', 'scheduled', '{app}', 'svc', ?, now() + interval '30 days'),
            (?, ?, nextval('notification_seq'), 'u:old', 'old', 't', 'c', 'info', 'normal', 'sent', '{app}', 'svc', now(), null)`,
    [gone, h.tenant, old, waiting, h.tenant, old, recent, h.tenant],
  );
  await waitFor(async () => (await sql(`select 1 from notifications where id = ?`, [gone])).length === 0, 10_000, 'the purge');
  const left = (await sql<{ id: string }>(`select id from notifications where id in (?, ?)`, [waiting, recent])).map((x) => x.id).sort();
  expect(left).toEqual([waiting, recent].sort());
});

test('re-enqueues a delivery stuck in sending whose job is gone', async () => {
  const worker = await startChannelWorker(h, 'webhook', { WEBHOOK_SECRET: 'stuck-secret' }, { autorun: false });
  const nid = newId();
  const did = newId();
  await sql(
    `insert into notifications (id, tenant, seq, audience, user_id, title, content, type, priority, status, channels, sender, created_at)
     values (?, ?, nextval('notification_seq'), 'u:stuck', 'stuck', '卡住', 'c', 'info', 'normal', 'processing', '{webhook}', 'svc', now())`,
    [nid, h.tenant],
  );
  await sql(
    `insert into deliveries (id, tenant, notification_id, sender, recipient, channel, address, status, attempts, notification_created_at, started_at, updated_at)
     values (?, ?, ?, 'svc', 'stuck', 'webhook', 'http://127.0.0.1:9/hook', 'sending', 1, now(), now() - interval '1 minute', now() - interval '1 minute')`,
    [did, h.tenant, nid],
  );
  const state = await waitFor(async () => {
    const s = await worker.queues.webhook.getJobState(`d-${did}`);
    return s === 'unknown' ? null : s;
  }, 10_000, 'the stuck delivery to be re-enqueued').catch((err) => {
    throw new Error(`${err.message}\n${scheduler.lines.filter((l) => l.includes('"level":50') || l.includes('"level":40')).join('\n')}`);
  });
  expect(['waiting', 'prioritized']).toContain(state);
  const job = await worker.queues.webhook.getJob(`d-${did}`);
  expect(job?.data).toMatchObject({ delivery_id: did, notification_id: nid, channel: 'webhook', address: 'http://127.0.0.1:9/hook', message: { title: '卡住' } });
  expect(QUEUE.webhook).toBe(worker.queues.webhook.name);
});

test("forgets crashed realtime nodes' presence (connection-count housekeeping)", async () => {
  const nodes = `${h.prefix}:{ws}:nodes`;
  const counts = `${h.prefix}:{ws}:counts`;
  await h.redis.multi().zadd(nodes, Date.now() - 2 * 3600_000, 'crashed', Date.now() + 60_000, 'alive').hset(counts, 'crashed', 7, 'alive', 3).exec();
  await waitFor(async () => (await h.redis.zscore(nodes, 'crashed')) === null, 10_000, 'the crashed node to be forgotten');
  expect(await h.redis.hget(counts, 'crashed')).toBeNull();
  expect(await h.redis.hget(counts, 'alive')).toBe('3');
  await h.redis.del(nodes, counts);
});

test('stops cleanly on SIGTERM', async () => {
  expect(await scheduler.stop('SIGTERM')).toBe(0);
});
