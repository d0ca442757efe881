/**
 * Outages with real processes: the api and the ingest worker run
 * as their own processes against a Redis or a PostgreSQL this test owns, and
 * the test stops and restarts that service under them.
 */
import pg from 'pg';
import { afterAll, describe, expect, test } from 'vitest';
import { signToken } from '../src/auth/jwt.js';
import { TEST_DATABASE_URL, TEST_JWT_SECRET } from './helpers/env.js';
import { uniq, waitFor } from './helpers/harness.js';
import { freePort, ownPostgres, startRedis, type Proc } from './helpers/procs.js';
import { spawnRole } from './helpers/roles.js';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

const start = (entry: string, env: Record<string, string>) => spawnRole(entry, { env }, cleanups);

/**
 * Awaits `step`; when it fails, the error carries what each process wrote
 * (but its per-request lines, which polling would fill it with), so an
 * intermittent failure explains itself.
 */
async function telling<T>(step: Promise<T>, procs: Record<string, Proc>): Promise<T> {
  try {
    return await step;
  } catch (err) {
    const said = Object.entries(procs).map(([name, p]) => `--- ${name} said:\n${p.lines.filter((l) => !l.includes('"requestId"')).slice(-60).join('\n')}`);
    throw new Error([(err as Error).message, ...said].join('\n'));
  }
}

async function call(port: number, method: string, path: string, token?: string, body?: unknown) {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
    // "fast": an answer, not a hang. Generous, so a busy machine does not make it flaky.
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  let json: any = text;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, body: json, type: res.headers.get('content-type') ?? '' };
}

const storedIds = async (url: string, tenant: string) => {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<{ id: string }>('select id from notifications where tenant = $1', [tenant])).rows.map((r) => r.id);
  } finally {
    await c.end();
  }
};

describe('Redis down', () => {
  test('the api answers 503 problem+json at once, keeps serving reads, does not crash, and recovers when Redis returns', { timeout: 120_000 }, async () => {
    const redisPort = await freePort();
    let redis = await startRedis(redisPort);
    cleanups.push(() => redis.stop('SIGKILL'));
    const tenant = uniq('tenant-redis');
    const env = { REDIS_URL: `redis://127.0.0.1:${redisPort}`, QUEUE_PREFIX: uniq('test-redis-down') };
    const port = await freePort();
    const api = start('src/api/server.ts', { ...env, PORT: String(port) });
    const ingest = start('workers/ingest.ts', env);
    await api.waitForLog((l) => l.msg === 'api listening', 30_000);
    await ingest.waitForLog((l) => l.msg === 'ingest worker started', 30_000);

    const svc = await signToken(TEST_JWT_SECRET, { sub: 'svc', tenant, scope: 'notify:send' });
    const user = await signToken(TEST_JWT_SECRET, { sub: 'u1', tenant });
    const send = (title: string) => call(port, 'POST', '/api/v1/notifications', svc, { title, content: 'x', user_id: 'u1' });

    const before = await send('before');
    expect(before.status).toBe(202);
    await waitFor(async () => (await storedIds(TEST_DATABASE_URL, tenant)).includes(before.body.id), 20_000, 'the first send to be stored');

    await redis.stop('SIGKILL');
    const down = await send('during');
    expect(down.status).toBe(503);
    expect(down.type).toContain('application/problem+json');
    expect(down.body.detail).toMatch(/Redis/);
    const ready = await call(port, 'GET', '/ready');
    expect(ready.status).toBe(503);
    expect(ready.body.down).toEqual(['redis']);
    expect((await call(port, 'GET', '/health')).status).toBe(200);
    // The scrape still answers, with this process's own metrics, and says the rest is missing.
    const metrics = await call(port, 'GET', '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.body).toContain('herald_metrics_cluster_up 0');
    expect(metrics.body).toContain('process_cpu_user_seconds_total');
    // Reads come from PostgreSQL: they keep working (the rate limiter lets them through).
    const inbox = await call(port, 'GET', '/api/v1/notifications', user);
    expect(inbox.status).toBe(200);
    expect(inbox.body.notifications.map((n: { id: string }) => n.id)).toContain(before.body.id);
    expect(api.child.exitCode).toBeNull();
    expect(ingest.child.exitCode).toBeNull();

    redis = await startRedis(redisPort);
    const after = await waitFor(async () => {
      const r = await send('after');
      return r.status === 202 ? r : null;
    }, 30_000, 'sends to be accepted again');
    await waitFor(async () => (await storedIds(TEST_DATABASE_URL, tenant)).includes(after.body.id), 30_000, 'the send after recovery to be stored');
    expect((await call(port, 'GET', '/ready')).status).toBe(200);
    // The refused send left nothing behind: no half-accepted notification.
    expect((await storedIds(TEST_DATABASE_URL, tenant)).sort()).toEqual([before.body.id, after.body.id].sort());
  });

  test('an api started while Redis is down answers 503 instead of hanging, and works once Redis comes up', { timeout: 90_000 }, async () => {
    const redisPort = await freePort();
    const port = await freePort();
    const api = start('src/api/server.ts', { REDIS_URL: `redis://127.0.0.1:${redisPort}`, PORT: String(port) });
    await api.waitForLog((l) => l.msg === 'api listening', 30_000);
    const svc = await signToken(TEST_JWT_SECRET, { sub: 'svc', tenant: uniq('tenant'), scope: 'notify:send' });
    const send = () => call(port, 'POST', '/api/v1/notifications', svc, { title: 't', content: 'c', user_id: 'u' });
    const refused = await send();
    expect(refused.status).toBe(503);
    expect(refused.type).toContain('application/problem+json');

    const redis = await startRedis(redisPort);
    cleanups.push(() => redis.stop('SIGKILL'));
    await waitFor(async () => (await send()).status === 202, 30_000, 'sends to be accepted');
  });
});

describe('PostgreSQL down', () => {
  test('the api keeps accepting, ingest retries, and everything lands when PostgreSQL is back', { timeout: 150_000 }, async () => {
    const db = await ownPostgres(cleanups);
    await db.start();

    const tenant = uniq('tenant-pg');
    const env = { DATABASE_URL: db.url, QUEUE_PREFIX: uniq('test-pg-down') };
    const port = await freePort();
    const api = start('src/api/server.ts', { ...env, PORT: String(port) });
    await api.waitForLog((l) => l.msg === 'api listening', 60_000, 'the api to migrate and listen');
    const ingest = start('workers/ingest.ts', env);
    await ingest.waitForLog((l) => l.msg === 'ingest worker started', 30_000);

    const svc = await signToken(TEST_JWT_SECRET, { sub: 'svc', tenant, scope: 'notify:send' });
    const user = await signToken(TEST_JWT_SECRET, { sub: 'u1', tenant });
    const send = (title: string) => call(port, 'POST', '/api/v1/notifications', svc, { title, content: 'x', user_id: 'u1' });
    const first = await send('first');
    expect(first.status).toBe(202);
    await waitFor(async () => (await storedIds(db.url, tenant)).length === 1, 20_000, 'the first send to be stored');

    await db.stop();
    const during: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await send(`during ${i}`);
      expect(r.status).toBe(202);
      during.push(r.body.id);
    }
    const ready = await call(port, 'GET', '/ready');
    expect(ready.status).toBe(503);
    expect(ready.body.down).toContain('postgres');
    expect(ready.body.checks.redis).toBe('ok');
    const read = await call(port, 'GET', '/api/v1/notifications', user);
    expect(read.status).toBe(503);
    expect(read.type).toContain('application/problem+json');
    expect(read.body.detail).toMatch(/database/i);
    const failed = await ingest.waitForLog((l) => l.msg === 'ingest job failed', 30_000, 'ingest to fail and retry');
    // the log line says which job, queue and notifications are waiting, and why
    expect(failed).toMatchObject({ queue: 'ingest', role: 'ingest', attempt: 1 });
    expect(failed.jobId).toBeTruthy();
    expect(failed.notificationIds.some((id: string) => during.includes(id))).toBe(true);
    expect(failed.err.message).toMatch(/ECONNREFUSED|connect/);
    // A worker started during the outage starts anyway and joins in once the database is back.
    const late = start('workers/ingest.ts', env);
    await late.waitForLog((l) => l.msg === 'ingest worker started', 30_000, 'a worker to start while PostgreSQL is down');

    await db.start();
    await waitFor(async () => (await storedIds(db.url, tenant).catch(() => [])).length === 6, 90_000, 'every send to land after PostgreSQL returns');
    expect((await storedIds(db.url, tenant)).sort()).toEqual([first.body.id, ...during].sort());
    await waitFor(async () => (await call(port, 'GET', '/ready')).status === 200, 20_000, '/ready to recover');
    expect(api.child.exitCode).toBeNull();
    expect(ingest.child.exitCode).toBeNull();
    expect(late.child.exitCode).toBeNull();
  });

  test('an api started while PostgreSQL is down still accepts sends, and migrates when PostgreSQL answers', { timeout: 150_000 }, async () => {
    // a fresh cluster, initialised but not running: not even the database exists yet
    const db = await ownPostgres(cleanups);

    const tenant = uniq('tenant-pg-late');
    const env = { DATABASE_URL: db.url, QUEUE_PREFIX: uniq('test-pg-late') };
    const port = await freePort();
    const api = start('src/api/server.ts', { ...env, PORT: String(port) });
    await api.waitForLog((l) => l.msg === 'api listening', 60_000, 'the api to listen without PostgreSQL');
    expect(api.logs().some((l) => /PostgreSQL is unreachable/.test(l.msg))).toBe(true);
    const ingest = start('workers/ingest.ts', env);
    await telling(ingest.waitForLog((l) => l.msg === 'ingest worker started', 30_000, 'the ingest worker to start'), { ingest });

    const svc = await signToken(TEST_JWT_SECRET, { sub: 'svc', tenant, scope: 'notify:send' });
    const sent = await call(port, 'POST', '/api/v1/notifications', svc, { title: 'early', content: 'x', user_id: 'u1' });
    expect(sent.status).toBe(202);
    const ready = await call(port, 'GET', '/ready');
    expect(ready.status).toBe(503);
    expect([...ready.body.down].sort()).toEqual(['migrations', 'postgres']);

    await db.start();
    const readyAgain = waitFor(async () => {
      const r = await call(port, 'GET', '/ready');
      // thrown, so that a timeout names the checks still down
      if (r.status !== 200) throw new Error(`/ready answered ${r.status}: ${JSON.stringify(r.body.checks)}`);
      return true;
    }, 60_000, 'migrations to run once PostgreSQL answers');
    await telling(readyAgain, { api });
    await telling(waitFor(async () => (await storedIds(db.url, tenant).catch((): string[] => [])).includes(sent.body.id), 90_000, 'the early send to land'), { api, ingest });
    // the api reads from its own database (not from the one it would have used to create it)
    const user = await signToken(TEST_JWT_SECRET, { sub: 'u1', tenant });
    const inbox = await call(port, 'GET', '/api/v1/notifications', user);
    expect(inbox.status).toBe(200);
    expect(inbox.body.notifications.map((n: { id: string }) => n.id)).toContain(sent.body.id);
  });
});
