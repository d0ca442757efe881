import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { toDrafts, parseNotification } from '../src/domain/sending/input.js';
import { topicChannelPattern } from '../src/feed/channels.js';
import { decodeMessages } from '../src/feed/wire.js';
import { topicOf } from '../src/feed/topics.js';
import { fireScheduled, storeNotifications } from '../src/domain/sending/store.js';
import { ingestBatch } from '../workers/processors/ingest.js';
import { TEST_REDIS_URL } from './helpers/env.js';
import { createHarness, uniq, waitFor, type Harness } from './helpers/harness.js';

let h: Harness;
let svc: string;
beforeAll(async () => {
  h = await createHarness();
  svc = await h.serviceToken();
});
afterAll(() => h.close());

const rowsOf = (ids: string[]) =>
  h.orm.em.fork().execute<Array<{ id: string; seq: string; title: string; priority: string; xmin: string }>>(
    `select id, seq::text, title, priority, xmin::text from notifications where id = any(?::uuid[]) order by notifications.seq`,
    [`{${ids.join(',')}}`],
  );

function drafts(body: Record<string, unknown>, tenant = h.tenant) {
  const p = parseNotification({ title: 'T', content: 'C', ...body });
  if (!p.ok) throw new Error(JSON.stringify(p.errors));
  return toDrafts(p.value, { tenant, sender: 'svc' });
}

describe('priority', () => {
  test('a queue filled while the worker is stopped drains urgent, then high, normal, low', async () => {
    const order = ['low', 'normal', 'high', 'urgent'];
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) {
      const priority = order[i % 4];
      const r = await h.request('POST', '/api/v1/notifications', { token: svc, body: { title: `${priority}-${i}`, content: 'c', user_id: 'prio', priority } });
      ids.push(r.body.id);
    }
    await h.startIngest({ concurrency: 1 });
    await waitFor(async () => (await rowsOf(ids)).length === 20);
    const stored = (await rowsOf(ids)).map((r) => r.priority);
    expect(stored).toEqual([...Array(5).fill('urgent'), ...Array(5).fill('high'), ...Array(5).fill('normal'), ...Array(5).fill('low')]);
  });
});

describe('persistence', () => {
  test('a bulk job is stored by one multi-row INSERT (one transaction for all its rows)', async () => {
    const notifications = Array.from({ length: 300 }, (_, i) => ({ title: `b${i}`, content: 'c', user_id: `bulk-${i}` }));
    const r = await h.request('POST', '/api/v1/notifications/bulk', { token: svc, body: { notifications } });
    await waitFor(async () => (await rowsOf(r.body.ids)).length === 300);
    const rows = await rowsOf(r.body.ids);
    expect(new Set(rows.map((x) => x.xmin)).size).toBe(1);
  });

  test('a job processed again (retried after a crash) creates no duplicate and keeps its cursors', async () => {
    const d = drafts({ user_ids: ['x1', 'x2', 'x3'] });
    const deps = { orm: h.orm, redis: h.redis, prefix: h.prefix, logger: h.deps.logger, queues: h.deps.queues };
    await ingestBatch(deps, d);
    const first = await rowsOf(d.map((x) => x.id));
    await ingestBatch(deps, d);
    await ingestBatch(deps, [...d, ...d]);
    const again = await rowsOf(d.map((x) => x.id));
    expect(again).toHaveLength(3);
    expect(again.map((r) => r.seq)).toEqual(first.map((r) => r.seq));
  });

  test('the same job enqueued twice is one job (ids decide job ids)', async () => {
    const queue = h.deps.queues.ingest;
    const d = drafts({ user_id: 'dup' });
    await h.deps.queues.enqueueNotifications(d);
    await h.deps.queues.enqueueNotifications(d);
    await waitFor(async () => (await rowsOf([d[0].id])).length === 1);
    // the job is marked completed just after its batch commits
    const mine = async () => (await queue.getJobs(['completed', 'active', 'waiting', 'prioritized'], 0, -1)).filter((j) => j.data.notifications[0]?.id === d[0].id);
    await waitFor(async () => (await mine()).every((j) => j.finishedOn));
    expect(await mine()).toHaveLength(1);
  });

  test('cursors grow in commit order across concurrent batches of one tenant', async () => {
    const deps = { orm: h.orm, redis: h.redis, prefix: h.prefix, logger: h.deps.logger, queues: h.deps.queues };
    const batches = Array.from({ length: 8 }, (_, i) => drafts({ user_ids: Array.from({ length: 20 }, (_, j) => `c${i}-${j}`) }));
    await Promise.all(batches.map((b) => ingestBatch(deps, b)));
    const rows = await rowsOf(batches.flat().map((d) => d.id));
    // each batch's rows are contiguous: no other transaction took a cursor inside its range
    const byXmin = new Map<string, number[]>();
    for (const r of rows) byXmin.set(r.xmin, [...(byXmin.get(r.xmin) ?? []), Number(r.seq)]);
    const ranges = [...byXmin.values()].map((s) => [Math.min(...s), Math.max(...s)]).sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < ranges.length; i++) expect(ranges[i][0]).toBeGreaterThan(ranges[i - 1][1]);
  });
});

describe('cursor chain (realtime order)', () => {
  test('every new cursor names the tenant\'s cursor before it, across concurrent batches; a retried batch names none', async () => {
    const tenant = uniq('chain');
    const other = uniq('chain-other');
    const batches = Array.from({ length: 12 }, (_, i) => [
      ...drafts({ user_ids: Array.from({ length: 1 + (i % 4) * 5 }, (_, j) => `p${i}-${j}`) }, tenant),
      ...(i % 3 === 0 ? drafts({ user_id: `o${i}` }, other) : []),
    ]);
    const stored = (await Promise.all(batches.map((b) => storeNotifications(h.orm.em.fork(), b)))).flat();
    for (const t of [tenant, other]) {
      const rows = stored.filter((r) => r.tenant === t).sort((a, b) => Number(BigInt(a.seq!) - BigInt(b.seq!)));
      // a brand-new tenant starts from 0; then each row points at the one before it, whichever batch stored it
      expect(rows.map((r) => r.prev)).toEqual(['0', ...rows.slice(0, -1).map((r) => r.seq)]);
    }
    const [head] = await h.orm.em.fork().execute(`select last_seq::text from notification_heads where tenant = ?`, [tenant]);
    expect(head.last_seq).toBe(stored.filter((r) => r.tenant === tenant).map((r) => r.seq).sort((a, b) => Number(BigInt(a!) - BigInt(b!))).at(-1));

    // stored again (a job retried after a crash): same cursors, no prev, head unmoved; new rows chain on as before
    const again = await storeNotifications(h.orm.em.fork(), [...batches[0], ...drafts({ user_id: 'late' }, tenant)]);
    const late = again.find((r) => r.user_id === 'late')!;
    expect(again.filter((r) => r !== late).map((r) => r.prev)).toEqual(batches[0].map(() => null));
    expect(late.prev).toBe(head.last_seq);
  });

  test('a scheduled row has no cursor and no prev until it fires; firing chains it on', async () => {
    const tenant = uniq('chain-sched');
    const [first] = await storeNotifications(h.orm.em.fork(), drafts({ user_id: 's1' }, tenant));
    const later = drafts({ user_ids: ['s2', 's3'], schedule_at: new Date(Date.now() + 3_600_000).toISOString() }, tenant);
    const scheduled = await storeNotifications(h.orm.em.fork(), later);
    expect(scheduled.map((r) => [r.seq, r.prev])).toEqual([
      [null, null],
      [null, null],
    ]);
    const { fired } = await fireScheduled(h.orm.em.fork(), tenant, later.map((d) => d.id));
    expect(fired.map((r) => r.prev)).toEqual([first.seq, fired[0].seq]);
    const [next] = await storeNotifications(h.orm.em.fork(), drafts({ user_id: 's4' }, tenant));
    expect(next.prev).toBe(fired[1].seq);
  });
});

describe('realtime events', () => {
  test('one record per stored notification, on its audience topic, with the notification frame', async () => {
    const sub = new Redis(TEST_REDIS_URL);
    const got: string[] = [];
    sub.on('pmessage', (_pattern, _channel, message) => got.push(message));
    await sub.psubscribe(topicChannelPattern(h.prefix));
    try {
      const role = uniq('role');
      const r = await h.request('POST', '/api/v1/notifications', {
        token: svc,
        body: { title: '订单确认', content: '您的订单已确认', user_ids: ['e1', 'e2'], role, metadata: { order_id: 'o-1' } },
      });
      await waitFor(() => got.flatMap(decodeMessages).length >= 3);
      const msgs = got.flatMap(decodeMessages);
      expect(msgs.map((m) => m.topic).sort()).toEqual([topicOf(h.tenant, 'u:e1'), topicOf(h.tenant, 'u:e2'), topicOf(h.tenant, `r:${role}`)].sort());
      const frames = msgs.map((m) => ({ ...JSON.parse(m.frame), headerCursor: m.cursor, headerPrev: m.prev }));
      for (const f of frames) {
        expect(f).toMatchObject({ event: 'notification', title: '订单确认', content: '您的订单已确认', message: '您的订单已确认', extra_data: { order_id: 'o-1' } });
        expect(r.body.ids).toContain(f.id);
        expect(f.cursor).toMatch(/^\d+$/);
        expect(f.headerCursor).toBe(f.cursor);
        // on one Redis the records are published in cursor order and name no previous cursor (src/feed/in-order.ts)
        expect(f.headerPrev).toBe('');
      }
      const cursors = frames.map((f) => BigInt(f.cursor));
      expect(cursors.every((c, i) => i === 0 || c > cursors[i - 1])).toBe(true);
    } finally {
      await sub.quit();
    }
  });
});
