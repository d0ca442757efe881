/**
 * PostgreSQL goes away between a provider accepting a delivery and Herald
 * recording it: the real channel worker process keeps retrying the record,
 * not the send, so the receiver gets the call once. Before, the job failed,
 * ran again once PostgreSQL was back, found the record still `sending` and
 * called the provider a second time.
 */
import pg from 'pg';
import { afterAll, expect, test } from 'vitest';
import { signToken } from '../src/auth/jwt.js';
import { startHttpFake, type FakeRequest } from './fakes/http-fake.js';
import { TEST_JWT_SECRET } from './helpers/env.js';
import { uniq, waitFor } from './helpers/harness.js';
import { freePort, ownPostgres } from './helpers/procs.js';
import { spawnRole } from './helpers/roles.js';

const cleanups: Array<() => unknown> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

test('a webhook the receiver accepted while PostgreSQL was down is recorded sent once it is back, and called once', { timeout: 180_000 }, async () => {
  const db = await ownPostgres(cleanups);
  await db.start();

  // the receiver holds its answer to the first call until the test lets it go
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const calls: FakeRequest[] = [];
  const receiver = await startHttpFake((req) => {
    calls.push(req);
    return calls.length === 1 ? { status: 204, after: held } : { status: 204 };
  });
  cleanups.push(() => receiver.close());

  const env = { DATABASE_URL: db.url, QUEUE_PREFIX: uniq('test-record-outage'), WEBHOOK_SECRET: 'record-outage-hook-secret' };
  const port = await freePort();
  const api = spawnRole('src/api/server.ts', { env: { ...env, PORT: String(port) } }, cleanups);
  await api.waitForLog((l) => l.msg === 'api listening', 60_000, 'the api to migrate and listen');
  const ingest = spawnRole('workers/ingest.ts', { env }, cleanups);
  const webhook = spawnRole('workers/webhook.ts', { env }, cleanups);
  await ingest.waitForLog((l) => l.msg === 'ingest worker started', 30_000, 'ingest');
  await webhook.waitForLog((l) => l.msg === 'webhook worker started', 30_000, 'the webhook worker');

  const tenant = uniq('tenant');
  const svc = await signToken(TEST_JWT_SECRET, { sub: 'svc', tenant, scope: 'notify:send' });
  const res = await fetch(`http://127.0.0.1:${port}/api/v1/notifications`, {
    method: 'POST',
    headers: { authorization: `Bearer ${svc}`, 'content-type': 'application/json' },
    body: JSON.stringify({ title: 'invoice paid', content: 'x', user_id: 'u1', channels: ['webhook'], metadata: { webhook_url: `${receiver.url}/hook` } }),
  });
  expect(res.status).toBe(202);
  const { id } = (await res.json()) as { id: string };
  await waitFor(() => calls.length === 1, 30_000, 'the webhook call');

  // PostgreSQL goes away while the receiver holds the call; then the receiver says 204
  await db.stop();
  release();
  // the worker has its 204 at once and cannot record it: give it a few tries at that before PostgreSQL returns
  await new Promise((r) => setTimeout(r, 3000));
  await db.start();

  const status = async () => {
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      return (await c.query<{ status: string }>('select status from deliveries where notification_id = $1', [id])).rows[0]?.status;
    } catch {
      return undefined;
    } finally {
      await c.end();
    }
  };
  await waitFor(async () => (await status()) === 'sent', 60_000, 'the delivery to be recorded sent');
  // room for a second call to show up, were the job run again
  await new Promise((r) => setTimeout(r, 3000));
  expect(calls).toHaveLength(1);
  expect(webhook.logs().filter((l) => l.msg === 'delivered')).toHaveLength(1);
  expect(webhook.logs().some((l) => /PostgreSQL is unavailable: retrying the record/.test(l.msg ?? ''))).toBe(true);
});
