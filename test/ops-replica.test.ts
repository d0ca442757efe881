/**
 * DATABASE_READ_URLS: inbox listings and counts are read from a replica,
 * changes go to the primary. The "replica" here is a second database that
 * only the replica ORM writes to, so where an answer came from is visible.
 */
import pg from 'pg';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { workerConnection } from '../queues/connection.js';
import { createApp } from '../src/api/app.js';
import { migrate, openOrm, type Orm } from '../src/db/orm.js';
import { createIngestWorker } from '../workers/ingest-worker.js';
import { TEST_DATABASE_URL } from './helpers/env.js';
import { createHarness, uniq, waitFor, type Harness } from './helpers/harness.js';

let h: Harness;
let replicaOrm: Orm;
let splitOrm: Orm;
const replicaName = uniq('herald_test_replica').replace(/-/g, '_');
const replicaUrl = (() => {
  const u = new URL(TEST_DATABASE_URL);
  u.pathname = `/${replicaName}`;
  return u.toString();
})();

beforeAll(async () => {
  h = await createHarness();
  await migrate({ url: replicaUrl });
  replicaOrm = await openOrm({ url: replicaUrl, poolMax: 2 });
  splitOrm = await openOrm({ url: TEST_DATABASE_URL, readUrls: [replicaUrl], poolMax: 2 });
});
afterAll(async () => {
  await h.close();
  await replicaOrm.close(true);
  await splitOrm.close(true);
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  await admin.query(`drop database if exists "${replicaName}" with (force)`);
  await admin.end();
});

test('with a read replica, the inbox is listed and counted from it while changes go to the primary', async () => {
  // An ingest worker that stores into the replica database only.
  const connection = workerConnection(h.config.REDIS_URL);
  const publisher = workerConnection(h.config.REDIS_URL);
  const worker = createIngestWorker({ orm: replicaOrm, redis: publisher, prefix: h.prefix, logger: h.deps.logger, queues: h.deps.queues, connection });
  h.life.add('replica worker', async () => {
    await worker.close();
    await connection.quit();
    await publisher.quit();
  });
  const sent = await h.request('POST', '/api/v1/notifications', { token: await h.serviceToken(), body: { title: 'only on the replica', content: 'x', user_id: 'ru' } });
  expect(sent.status).toBe(202);
  const user = { authorization: `Bearer ${await h.token({ sub: 'ru' })}` };

  const split = createApp({ ...h.deps, orm: splitOrm });
  const list = await waitFor(async () => {
    const body = (await (await split.request('/api/v1/notifications', { headers: user })).json()) as any;
    return body.notifications.length ? body : null;
  }, 10_000, 'the replica row to be listed');
  expect(list.notifications[0]).toMatchObject({ id: sent.body.id, title: 'only on the replica' });
  expect(((await (await split.request('/api/v1/notifications/unread-count', { headers: user })).json()) as any).unread_count).toBe(1);
  expect((await split.request(`/api/v1/notifications/${sent.body.id}`, { headers: user })).status).toBe(200);

  // The primary has never seen it: an app without the replica lists nothing, and a change (on the primary) finds nothing.
  const primaryOnly = ((await (await h.app.request('/api/v1/notifications', { headers: user })).json()) as any).notifications;
  expect(primaryOnly).toEqual([]);
  expect((await split.request(`/api/v1/notifications/${sent.body.id}/read`, { method: 'PUT', headers: user })).status).toBe(404);
});
