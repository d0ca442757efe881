/**
 * Operations over HTTP, in-process against the real PostgreSQL and Redis:
 * health and readiness, body limit, request timeout, the shared rate limit,
 * GET /metrics and the bull-board gate and actions.
 */
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { serve } from '@hono/node-server';
import { Queue, Worker } from 'bullmq';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { producerConnection, whenReady, workerConnection } from '../queues/connection.js';
import { QUEUE } from '../queues/names.js';
import { createApp } from '../src/api/app.js';
import { parseScopeLimits } from '../src/api/middleware/rate-limit.js';
import { loadConfig } from '../src/config.js';
import { ensureDatabase, openOrm } from '../src/db/orm.js';
import { collectProcessMetrics } from '../src/metrics/metrics.js';
import { TEST_DATABASE_URL } from './helpers/env.js';
import { createHarness, uniq, waitFor, type Harness } from './helpers/harness.js';
import { sumSeries } from './helpers/prom.js';

let h: Harness;
beforeAll(async () => {
  h = await createHarness({ RATE_LIMIT_USER_PER_MIN: '5', RATE_LIMIT_SCOPES: 'reports:read=8' });
});
afterAll(() => h.close());

/** A second api instance on the same Redis and queue prefix, with connections of its own. */
async function secondApi(env: Partial<typeof h.config> = {}) {
  const redis = producerConnection(h.config.REDIS_URL);
  redis.on('error', () => undefined);
  await whenReady(redis);
  h.life.add('second api redis', () => redis.quit());
  return createApp({ ...h.deps, redis, config: { ...h.config, ...env } });
}

const get = (app: ReturnType<typeof createApp>, path: string, headers: Record<string, string> = {}) => app.request(path, { headers });

describe('health and readiness', () => {
  test('/health and /api/v1/health answer without a token', async () => {
    for (const path of ['/health', '/api/v1/health']) {
      const res = await h.request('GET', path);
      expect(res.status).toBe(200);
      expect(res.body.status).toBe('ok');
    }
  });

  test('/ready checks PostgreSQL, migrations and Redis', async () => {
    const res = await h.request('GET', '/ready');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ready', checks: { postgres: 'ok', migrations: 'ok', redis: 'ok' } });
  });

  test('/ready is 503 naming the migrations when the schema is behind the code', async () => {
    const name = uniq('herald_ops_unmigrated').replace(/-/g, '_');
    const url = new URL(TEST_DATABASE_URL);
    url.pathname = `/${name}`;
    await ensureDatabase(url.toString());
    const orm = await openOrm({ url: url.toString(), poolMax: 2 });
    try {
      const app = createApp({ ...h.deps, orm });
      const res = await app.request('/ready');
      expect(res.status).toBe(503);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      const body = (await res.json()) as any;
      expect(body).toMatchObject({ status: 503, title: 'Service Unavailable', down: ['migrations'] });
      expect(body.detail).toContain('migrations');
      expect(body.checks.postgres).toBe('ok');
      expect(body.checks.migrations).toMatch(/^down: pending Migration/);
    } finally {
      await orm.close(true);
      const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await admin.connect();
      await admin.query(`drop database if exists "${name}"`);
      await admin.end();
    }
  });
});

test('/ready answers 503 within its bound when PostgreSQL accepts connections but never answers', async () => {
  // A hung database: the TCP connection is accepted, nothing ever comes back.
  const sockets: Socket[] = [];
  const blackHole = createServer((socket) => void sockets.push(socket));
  await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
  const port = (blackHole.address() as AddressInfo).port;
  const orm = await openOrm({ url: `postgres://postgres@127.0.0.1:${port}/hung`, poolMax: 2 });
  try {
    const app = createApp({ ...h.deps, orm });
    const res = await app.request('/ready');
    expect(res.status).toBe(503);
    const body = (await res.json()) as any;
    expect([...body.down].sort()).toEqual(['migrations', 'postgres']);
    expect(body.checks.postgres).toMatch(/^down: no answer within \d+ ms$/);
    expect(body.checks.redis).toBe('ok');
  } finally {
    for (const s of sockets) s.destroy();
    blackHole.close();
    await orm.close(true).catch(() => undefined);
  }
});

describe('request limits', () => {
  // a single send (POST /notifications) may be larger by its inline attachments: channels-email-attachments.test.ts
  test('a body over 1 MiB is refused with 413 problem+json', async () => {
    const svc = await h.serviceToken();
    const big = JSON.stringify({ notifications: [{ title: 't', content: 'x'.repeat(1024 * 1024), user_id: 'u1' }] });
    const res = await h.request('POST', '/api/v1/notifications/bulk', { token: svc, raw: big });
    expect(res.status).toBe(413);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(res.body.title).toBe('Content Too Large');
  });

  test('over a real Node server: Content-Length past 1 MiB and a chunked body past it are 413, a small body passes', async () => {
    // the limit reads the Node request's headers; a chunked body is counted (src/api/middleware/body-limit.ts)
    const server = serve({ fetch: createApp(h.deps).fetch, port: 0, hostname: '127.0.0.1' });
    await new Promise<void>((r) => server.once('listening', () => r()));
    const { port } = server.address() as AddressInfo;
    try {
      const svc = await h.serviceToken();
      const post = (body: string | ReadableStream<Uint8Array>, extra: Record<string, string> = {}) =>
        fetch(`http://127.0.0.1:${port}/api/v1/notifications/bulk`, {
          method: 'POST',
          headers: { authorization: `Bearer ${svc}`, 'content-type': 'application/json', ...extra },
          body,
          duplex: 'half',
        } as RequestInit);
      const big = JSON.stringify({ notifications: [{ title: 't', content: 'x'.repeat(1024 * 1024), user_id: 'u1' }] });
      const sized = await post(big);
      expect(sized.status).toBe(413);
      expect(((await sized.json()) as any).title).toBe('Content Too Large');
      const bytes = new TextEncoder().encode(big);
      const chunked = await post(
        new ReadableStream({
          start(ctl) {
            for (let i = 0; i < bytes.length; i += 64 * 1024) ctl.enqueue(bytes.subarray(i, i + 64 * 1024));
            ctl.close();
          },
        }),
      );
      expect(chunked.status).toBe(413);
      await chunked.body?.cancel();
      // a small body passes the limit and reaches validation (nothing is enqueued: other tests count the queue)
      const small = await post(JSON.stringify({ notifications: [{ title: 't' }] }));
      expect(small.status).toBe(400);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  test('a request still running after REQUEST_TIMEOUT_MS is answered 503 with Retry-After', async () => {
    // A pool of one connection held by an open transaction: the inbox query waits for it.
    const orm = await openOrm({ url: TEST_DATABASE_URL, poolMax: 1 });
    let release!: () => void;
    const held = orm.em.fork().transactional(() => new Promise<void>((r) => (release = r)));
    try {
      const app = createApp({ ...h.deps, orm, config: { ...h.config, REQUEST_TIMEOUT_MS: 300 } });
      const user = await h.token({ sub: uniq('slow') });
      const res = await app.request('/api/v1/notifications', { headers: { authorization: `Bearer ${user}` } });
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('5');
      expect(((await res.json()) as any).detail).toContain('longer than 300 ms');
    } finally {
      release();
      await held;
      await orm.close(true);
    }
  });
});

describe('rate limit', () => {
  test('a user token gets RATE_LIMIT_USER_PER_MIN requests, shared by two api instances, then 429', async () => {
    const other = await secondApi();
    const auth = { authorization: `Bearer ${await h.token({ sub: uniq('reader') })}` };
    const remaining: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await get(i % 2 ? other : h.app, '/api/v1/notifications/unread-count', auth);
      expect(res.status).toBe(200);
      expect(res.headers.get('ratelimit-limit')).toBe('5');
      expect(res.headers.get('ratelimit-policy')).toBe('5;w=60');
      remaining.push(res.headers.get('ratelimit-remaining')!);
    }
    expect(remaining).toEqual(['4', '3', '2', '1', '0']);
    for (const app of [h.app, other]) {
      const res = await get(app, '/api/v1/notifications/unread-count', auth);
      expect(res.status).toBe(429);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(Number(res.headers.get('retry-after'))).toBeLessThanOrEqual(12);
      expect(res.headers.get('ratelimit-remaining')).toBe('0');
      expect(((await res.json()) as any).title).toBe('Too Many Requests');
    }
  });

  test('each subject has its own bucket; service tokens and scopes have their own limits', async () => {
    const a = { authorization: `Bearer ${await h.token({ sub: uniq('a') })}` };
    const b = { authorization: `Bearer ${await h.token({ sub: uniq('b') })}` };
    for (let i = 0; i < 5; i++) expect((await get(h.app, '/api/v1/notifications/unread-count', a)).status).toBe(200);
    expect((await get(h.app, '/api/v1/notifications/unread-count', a)).status).toBe(429);
    expect((await get(h.app, '/api/v1/notifications/unread-count', b)).status).toBe(200);

    const svc = await get(h.app, '/api/v1/notifications/unread-count', { authorization: `Bearer ${await h.serviceToken()}` });
    expect(svc.headers.get('ratelimit-limit')).toBe(String(h.config.RATE_LIMIT_SERVICE_PER_MIN));

    const scoped = await get(h.app, '/api/v1/notifications/unread-count', {
      authorization: `Bearer ${await h.token({ sub: uniq('r'), scope: 'reports:read' })}`,
    });
    expect(scoped.headers.get('ratelimit-limit')).toBe('8');
    expect(scoped.headers.get('ratelimit-remaining')).toBe('7');
  });

  test('RATE_LIMIT_SCOPES is validated at start, naming the variable', () => {
    expect(() => loadConfig({ RATE_LIMIT_SCOPES: 'admin' })).toThrow(/RATE_LIMIT_SCOPES: must look like scope=limit/);
    expect(loadConfig({ RATE_LIMIT_SCOPES: 'admin=600, templates:write=1000' }).RATE_LIMIT_SCOPES).toBe('admin=600, templates:write=1000');
    expect([...parseScopeLimits('admin=600, templates:write=1000')]).toEqual([['admin', 600], ['templates:write', 1000]]);
  });

  test('health, readiness and metrics are not rate limited', async () => {
    for (let i = 0; i < 8; i++) expect((await h.request('GET', '/health')).status).toBe(200);
    expect((await h.request('GET', '/health')).headers.get('ratelimit-limit')).toBeNull();
  });
});

describe('GET /metrics', () => {
  test('shows the DESIGN metrics, queue depths per state, job durations and process metrics, moving with events', async () => {
    const scrape = async () => {
      const res = await h.app.request('/metrics');
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain('text/plain');
      return res.text();
    };
    const metric = async (name: string, labels: Record<string, string>) => sumSeries(await scrape(), name, labels);
    // Every notification job has a priority, so a waiting one is in the `prioritized` state.
    const waiting = ['herald_queue_jobs', { queue: 'ingest', state: 'prioritized' }] as const;
    const created = ['notification_created_total', { type: 'alert', priority: 'low' }] as const;
    const ingestJobs = ['herald_job_duration_seconds_count', { queue: 'ingest', status: 'completed' }] as const;
    collectProcessMetrics('api'); // what startMetricsReporting does in a process entry
    const createdBefore = await metric(...created);
    const jobsBefore = await metric(...ingestJobs);

    const svc = await h.serviceToken();
    for (let i = 0; i < 3; i++) {
      const sent = await h.request('POST', '/api/v1/notifications', { token: svc, body: { title: 'm', content: 'c', type: 'alert', priority: 'low', user_id: 'm1' } });
      expect(sent.status).toBe(202);
    }
    // Nothing consumes the queue yet: the depth shows the three jobs.
    expect(await metric(...waiting)).toBe(3);

    const worker = await h.startIngest();
    try {
    await waitFor(async () => (await metric(...created)) === createdBefore + 3, 10_000, 'notification_created_total to move');
    await waitFor(async () => (await metric(...ingestJobs)) >= jobsBefore + 1, 10_000, 'job durations to be recorded');
    expect(await metric(...waiting)).toBe(0);
    expect(await metric('herald_job_wait_seconds_count', { queue: 'ingest' })).toBeGreaterThanOrEqual(1);
    const text = await scrape();
    for (const name of ['notification_sent_total', 'notification_failed_total', 'websocket_connections_active', 'notification_delivery_duration_seconds']) {
      expect(text).toContain(`# TYPE ${name} `);
    }
    for (const name of Object.values(QUEUE)) expect(text).toMatch(new RegExp(`herald_queue_jobs\\{queue="${name}",state="failed"\\} \\d+`));
    expect(text).toMatch(/process_resident_memory_bytes|nodejs_heap_size_used_bytes/);
    expect(text).toContain('herald_metrics_cluster_up 1');
    // the api's own requests, by route pattern and status
    expect(sumSeries(text, 'herald_http_request_duration_seconds_count', { method: 'POST', route: '/api/v1/notifications', status: '202' })).toBeGreaterThanOrEqual(3);
    expect(sumSeries(text, 'herald_http_request_duration_seconds_count', { route: '/metrics', status: '200' })).toBeGreaterThanOrEqual(1);
    } finally {
      await worker.close();
    }
  });

  test('METRICS_TOKEN, when set, is required', async () => {
    const app = createApp({ ...h.deps, config: { ...h.config, METRICS_TOKEN: 'scrape-secret-123' } });
    expect((await app.request('/metrics')).status).toBe(401);
    expect((await app.request('/metrics', { headers: { authorization: 'Bearer wrong-secret-1' } })).status).toBe(401);
    expect((await app.request('/metrics', { headers: { authorization: 'Bearer scrape-secret-123' } })).status).toBe(200);
  });
});

describe('bull-board at /admin/queues', () => {
  const board = (path: string, headers: Record<string, string> = {}, init: RequestInit = {}) =>
    h.app.request(`/admin/queues${path}`, { ...init, headers: { ...headers, ...(init.headers as Record<string, string>) } });

  test('without an admin token: 401 (the login form for a browser, problem+json otherwise)', async () => {
    expect((await board('')).status).toBe(401);
    expect((await board('/api/queues')).status).toBe(401);
    const html = await board('', { accept: 'text/html' });
    expect(html.status).toBe(401);
    expect(await html.text()).toContain('<form method="post" action="/admin/login">');
    const user = await h.token({ sub: uniq('user'), scope: 'notify:send' });
    expect((await board('/api/queues', { authorization: `Bearer ${user}` })).status).toBe(401);
    expect((await board(`?token=${user}`)).status).toBe(401);
    expect((await board('', { cookie: `herald_admin=${user}` })).status).toBe(401);
  });

  test('?token= with an admin token sets an HttpOnly SameSite=Strict cookie and drops the token from the URL', async () => {
    const admin = await h.token({ sub: uniq('ops'), scope: 'admin' });
    const res = await board(`?token=${admin}`);
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/admin/queues');
    const cookie = res.headers.get('set-cookie')!;
    expect(cookie).toContain(`herald_admin=${admin}`);
    expect(cookie).toContain('HttpOnly');
    expect(cookie).toContain('SameSite=Strict');
    expect(cookie).toContain('Path=/admin');
    const page = await board('', { cookie: `herald_admin=${admin}` });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<div id="root">');
  });

  test('the login form accepts an admin token and refuses others', async () => {
    const form = (token: string) =>
      h.app.request('/admin/login', { method: 'POST', body: new URLSearchParams({ token }), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    const bad = await form(await h.token({ sub: uniq('user') }));
    expect(bad.status).toBe(401);
    expect(await bad.text()).toContain('lacks the admin scope');
    const good = await form(await h.token({ sub: uniq('ops'), scope: 'admin' }));
    expect(good.status).toBe(303);
    expect(good.headers.get('set-cookie')).toMatch(/herald_admin=.*HttpOnly.*SameSite=Strict/);
  });

  test('lists every Herald queue and retries, cleans and promotes jobs', async () => {
    const auth = { authorization: `Bearer ${await h.token({ sub: uniq('ops'), scope: 'admin' })}` };
    const list = (await (await board('/api/queues', auth)).json()) as any;
    expect(list.queues.map((q: { name: string }) => q.name).sort()).toEqual(Object.values(QUEUE).sort());

    // A failed job: a worker that always throws, on this test's own queue prefix.
    const queue = new Queue(QUEUE.ingest, { connection: h.redis, prefix: h.prefix });
    const failing = new Worker(QUEUE.ingest, async () => { throw new Error('boom for bull-board'); }, {
      connection: workerConnection(h.config.REDIS_URL),
      prefix: h.prefix,
      settings: { backoffStrategy: () => 1000 },
    });
    const job = await queue.add('notify', { notifications: [] }, { attempts: 1, priority: 3 });
    await waitFor(async () => (await job.getState()) === 'failed', 10_000, 'the job to fail');
    await failing.close();

    const retried = await board(`/api/queues/${QUEUE.ingest}/${job.id}/retry`, auth, { method: 'PUT' });
    expect(retried.status).toBe(204);
    expect(await queue.getJobState(job.id!)).toMatch(/waiting|prioritized/);

    const removed = await board(`/api/queues/${QUEUE.ingest}/${job.id}/clean`, auth, { method: 'PUT' });
    expect(removed.status).toBe(204);
    expect(await queue.getJob(job.id!)).toBeUndefined();

    const delayed = await queue.add('notify', { notifications: [] }, { delay: 3_600_000, priority: 3 });
    expect(await delayed.getState()).toBe('delayed');
    const promoted = await board(`/api/queues/${QUEUE.ingest}/${delayed.id}/promote`, auth, { method: 'PUT' });
    expect(promoted.status).toBe(204);
    expect(await queue.getJobState(delayed.id!)).toMatch(/waiting|prioritized/);
    await queue.close();
  });
});
