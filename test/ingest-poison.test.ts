/**
 * A notification PostgreSQL cannot store, inside a batch shared with other
 * senders (the api's edge refuses NUL characters; these are injected into the
 * ingest queue, as a job from an older api or a rule the edge does not know
 * would arrive): the batch is split until the bad one is alone, everything
 * else is stored, the bad one is recorded as failed, counted, visible in
 * bull-board as a failed job, and its idempotency key is forgotten.
 */
import type { Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { addNotificationJobs } from '../queues/producers.js';
import type { IngestJob, NotificationDraft } from '../queues/jobs.js';
import { acceptNotifications } from '../src/domain/sending/accept.js';
import { parseNotification, toDrafts } from '../src/domain/sending/input.js';
import { storeIsolating } from '../src/domain/sending/rejections.js';
import { registry } from '../src/metrics/metrics.js';
import { createHarness, uniq, waitFor, type Harness } from './helpers/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
  await h.startIngest({ concurrency: 50 });
});
afterAll(() => h.close());

function draftsFor(tenant: string, body: Record<string, unknown>, sender = 'svc'): NotificationDraft[] {
  const p = parseNotification({ title: 'T', content: 'C', ...body });
  if (!p.ok) throw new Error(JSON.stringify(p.errors));
  return toDrafts(p.value, { tenant, sender });
}

const storedIds = async (ids: string[]) =>
  new Set(
    (await h.orm.em.fork().execute<Array<{ id: string }>>(`select id from notifications where id = any(?::uuid[])`, [`{${ids.join(',')}}`])).map((r) => r.id),
  );
const rejections = (ids: string[]) =>
  h.orm.em
    .fork()
    .execute<Array<{ id: string; tenant: string; reason: string; detail: string; draft: string }>>(
      `select id, tenant, reason, detail, draft from notification_rejections where id = any(?::uuid[])`,
      [`{${ids.join(',')}}`],
    );
const rejectedCount = async (reason: string) => {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === 'notification_rejected_total');
  return (metric?.values ?? []).filter((v) => v.labels.reason === reason).reduce((n, v) => n + v.value, 0);
};
const jobsHolding = async (id: string) =>
  (await h.deps.queues.ingest.getJobs(['completed', 'failed', 'active', 'waiting', 'prioritized', 'delayed'], 0, -1)).filter((j: Job<IngestJob>) =>
    j.data.notifications?.some((n) => n.id === id),
  );

describe('a poison notification in a shared batch', () => {
  test('a bulk of 1000 with a NUL at position 700 stores the other 999 and records the bad one as failed', async () => {
    const drafts = draftsFor(h.tenant, { user_ids: Array.from({ length: 1000 }, (_, i) => `bulk-${i}`) });
    drafts[700].title = 'bad\u0000title';
    const before = await rejectedCount('invalid_data');
    await addNotificationJobs(h.deps.queues.ingest, drafts);

    const ids = drafts.map((d) => d.id);
    await waitFor(async () => (await rejections([ids[700]])).length === 1, 20_000, 'the rejection record');
    await waitFor(async () => (await storedIds(ids)).size === 999, 20_000, 'the 999 good notifications');
    const stored = await storedIds(ids);
    expect(stored.has(ids[700])).toBe(false);

    const [record] = await rejections([ids[700]]);
    expect(record).toMatchObject({ tenant: h.tenant, reason: 'invalid_data' });
    expect(record.detail).toMatch(/^22021: /);
    // the record keeps the notification as accepted, NUL included (escaped in JSON)
    expect(JSON.parse(record.draft).title).toBe('bad\u0000title');
    expect(await rejectedCount('invalid_data')).toBe(before + 1);

    // its sender reads it by id: failed, and why; anyone else still gets 404
    const sender = await h.token({ sub: 'svc', scope: 'notify:send' });
    const seen = await h.request('GET', `/api/v1/notifications/${ids[700]}`, { token: sender });
    expect(seen.status).toBe(200);
    expect(seen.body).toMatchObject({ id: ids[700], status: 'failed', failure_reason: 'invalid_data', user_id: 'bulk-700', title: 'bad\u0000title' });
    expect(seen.body.error).toMatch(/^not stored: 22021: invalid byte sequence/);
    const other = await h.request('GET', `/api/v1/notifications/${ids[700]}`, { token: await h.token({ sub: 'other-svc', scope: 'notify:send' }) });
    expect(other.status).toBe(404);
    const sameSubNoScope = await h.request('GET', `/api/v1/notifications/${ids[700]}`, { token: await h.token({ sub: 'svc' }) });
    expect(sameSubNoScope.status).toBe(404);

    // bull-board: the job that carried it failed at once (no retries for a day), naming it
    const [job] = await jobsHolding(ids[700]);
    await waitFor(async () => (await job.getState()) === 'failed', 10_000, 'the job to fail');
    const failed = await h.deps.queues.ingest.getJob(job.id!);
    expect(failed!.attemptsMade).toBe(1);
    expect(failed!.failedReason).toContain(ids[700]);
    expect(failed!.failedReason).toMatch(/could not be stored/);
  });

  test('concurrent sends from three tenants share batches with a poison and lose nothing', async () => {
    const tenants = [h.tenant, uniq('tenant-b'), uniq('tenant-c')];
    const good: string[] = [];
    const bad: string[] = [];
    const adds: Promise<void>[] = [];
    for (let i = 0; i < 300; i++) {
      const tenant = tenants[i % 3];
      const [d] = draftsFor(tenant, { user_id: `u-${i}`, title: `t${i}` });
      // three kinds of content PostgreSQL refuses: NUL in text, NUL in jsonb, a lone surrogate in jsonb
      if (i === 100) d.title = 'x\u0000';
      if (i === 150) d.metadata = { k: '\u0000' };
      if (i === 200) d.metadata = { k: '\ud800' };
      ([100, 150, 200].includes(i) ? bad : good).push(d.id);
      // one job each, all at once: the worker runs them side by side and shares their INSERTs
      adds.push(addNotificationJobs(h.deps.queues.ingest, [d]));
    }
    await Promise.all(adds);
    await waitFor(async () => (await storedIds(good)).size === good.length, 30_000, 'every good notification');
    await waitFor(async () => (await rejections(bad)).length === 3, 30_000, 'three rejection records');
    expect((await storedIds(bad)).size).toBe(0);
    const reasons = Object.fromEntries((await rejections(bad)).map((r) => [r.id, r.detail.slice(0, 5)]));
    expect(reasons).toEqual({ [bad[0]]: '22021', [bad[1]]: '22P05', [bad[2]]: '22P02' });
    // every job of a good notification completed
    for (const id of good.slice(0, 30)) {
      const [job] = await jobsHolding(id);
      await waitFor(async () => (await job.getState()) === 'completed', 10_000, `job of ${id} to complete`);
    }
  });

  test('an idempotency key whose notification was rejected does not replay: the corrected retry is stored', async () => {
    const deps = { redis: h.redis, queues: h.deps.queues, prefix: h.prefix };
    const who = { sub: uniq('svc'), tenant: h.tenant, roles: [], stores: [], scopes: new Set(['notify:send']) };
    const key = uniq('idem');
    const input = (title: string) => {
      const p = parseNotification({ title: 'ok', content: 'C', user_id: 'idem-user', idempotency_key: key });
      if (!p.ok) throw new Error('bad input');
      return { ...p.value, title };
    };
    const [first] = await acceptNotifications(deps, who, [input('bad\u0000')]);
    const firstId = first.notifications[0].id;
    await waitFor(async () => (await rejections([firstId])).length === 1, 20_000, 'the rejection');

    const [retry] = await acceptNotifications(deps, who, [input('corrected')]);
    expect(retry.replayed).toBe(false);
    const retryId = retry.notifications[0].id;
    expect(retryId).not.toBe(firstId);
    await waitFor(async () => (await storedIds([retryId])).size === 1, 20_000, 'the corrected notification');
    // and from now on the key replays the stored one
    const [again] = await acceptNotifications(deps, who, [input('corrected')]);
    expect(again).toMatchObject({ replayed: true });
    expect(again.notifications[0].id).toBe(retryId);
  });
});

describe('storeIsolating', () => {
  test('an outage is thrown as it is, never split', async () => {
    let calls = 0;
    const down = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    const drafts = draftsFor(h.tenant, { user_ids: ['a', 'b', 'c', 'd'] });
    await expect(
      storeIsolating(drafts, async () => {
        calls++;
        throw down;
      }),
    ).rejects.toBe(down);
    expect(calls).toBe(1);
  });

  test('bad drafts are found in about 2·log2(n) statements each, and the good ones keep their order', async () => {
    const drafts = draftsFor(h.tenant, { user_ids: Array.from({ length: 64 }, (_, i) => `o-${i}`) });
    const poison = new Set([drafts[5].id, drafts[40].id]);
    let calls = 0;
    const result = await storeIsolating(drafts, async (list) => {
      calls++;
      if (list.some((d) => poison.has(d.id))) throw Object.assign(new Error('x - invalid byte sequence'), { code: '22021' });
      return list.map((d) => d.id);
    });
    expect(result.rejected.map((r) => r.draft.id)).toEqual([drafts[5].id, drafts[40].id]);
    expect(result.rows).toEqual(drafts.filter((d) => !poison.has(d.id)).map((d) => d.id));
    expect(calls).toBeLessThanOrEqual(1 + 2 * 2 * Math.log2(64));
  });
});
