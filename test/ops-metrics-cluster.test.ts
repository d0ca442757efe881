/**
 * GET /metrics across processes: the api, the ingest worker, the realtime
 * node and two channel workers run as their own processes, each pushing its
 * registry to Redis; one scrape of the api shows every metric Herald defines
 * moving where its event happened, labelled by role and process.
 */
import WebSocket from 'ws';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { QUEUE } from '../queues/names.js';
import { signToken } from '../src/auth/jwt.js';
import { TEST_JWT_SECRET } from './helpers/env.js';
import { uniq, waitFor } from './helpers/harness.js';
import { freePort, type Proc } from './helpers/procs.js';
import { spawnRole } from './helpers/roles.js';
import { seriesLabels, sumSeries } from './helpers/prom.js';
import { startSmtpServer } from './fakes/smtp.js';

const tenant = uniq('tenant-metrics');
const procs: Record<string, Proc> = {};
const cleanups: Array<() => unknown> = [];
let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
let apiPort: number;
let wsPort: number;

beforeAll(async () => {
  smtp = await startSmtpServer();
  apiPort = await freePort();
  wsPort = await freePort();
  const env = {
    QUEUE_PREFIX: uniq('test-metrics'),
    METRICS_PUSH_INTERVAL_MS: '200',
    PORT: String(apiPort),
    WS_PORT: String(wsPort),
    SMTP_HOST: smtp.host,
    SMTP_PORT: String(smtp.port),
    SMTP_FROM: 'Herald <noreply@herald.test>',
  };
  procs.api = spawnRole('src/api/server.ts', { env }, cleanups);
  await procs.api.waitForLog((l) => l.msg === 'api listening', 60_000, 'the api');
  procs.ingest = spawnRole('workers/ingest.ts', { env }, cleanups);
  // one thread, so five processes report five registries (each thread of WS_THREADS > 1 reports its own:
  // test/realtime-threads.test.ts)
  procs.realtime = spawnRole('src/realtime/server.ts', { env: { ...env, WS_THREADS: '1' } }, cleanups);
  procs.email = spawnRole('workers/email.ts', { env }, cleanups);
  procs.sms = spawnRole('workers/sms.ts', { env }, cleanups); // no Aliyun credentials: every SMS fails as not_configured
  await procs.ingest.waitForLog((l) => l.msg === 'ingest worker started', 60_000, 'ingest');
  await procs.realtime.waitForLog((l) => l.msg === 'realtime node listening', 60_000, 'realtime');
  await procs.email.waitForLog((l) => l.msg === 'email worker started', 60_000, 'email');
  await procs.sms.waitForLog((l) => l.msg === 'sms worker started', 60_000, 'sms');
}, 120_000);

afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  await smtp?.close();
});

const scrape = async () => {
  const res = await fetch(`http://127.0.0.1:${apiPort}/metrics`);
  expect(res.status).toBe(200);
  return res.text();
};
const http = async (method: string, path: string, token: string, body?: unknown) => {
  const res = await fetch(`http://127.0.0.1:${apiPort}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, body: (await res.json()) as any };
};

test('one scrape of the api shows what every process recorded, each series labelled with its role and process', { timeout: 90_000 }, async () => {
  const svc = await signToken(TEST_JWT_SECRET, { sub: 'svc', tenant, scope: 'notify:send' });
  const user = await signToken(TEST_JWT_SECRET, { sub: 'mu', tenant });
  expect((await http('PUT', '/recipients/mu', svc, { email: 'mu@example.com', phone: '+8613800000000' })).status).toBe(200);

  // A device of the user is online and acknowledges what it receives.
  const ws = new WebSocket(`ws://127.0.0.1:${wsPort}/api/v1/ws?token=${user}`);
  ws.on('message', (data) => {
    const frame = JSON.parse(String(data));
    if (frame.event === 'notification') ws.send(JSON.stringify({ type: 'ack', id: frame.id }));
  });
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));

  const sent = await http('POST', '/notifications', svc, { title: '订单已确认', content: 'metrics', type: 'success', user_id: 'mu', channels: ['app', 'email', 'sms'] });
  expect(sent.status).toBe(202);

  await waitFor(async () => {
    const t = await scrape();
    return (
      sumSeries(t, 'notification_sent_total', { channel: 'app' }) === 1 &&
      sumSeries(t, 'notification_sent_total', { channel: 'email' }) === 1 &&
      sumSeries(t, 'notification_failed_total', { channel: 'sms', reason: 'not_configured' }) === 1 &&
      // a job's duration is observed when BullMQ reports it completed, just after the outcome above: wait for its push too
      sumSeries(t, 'herald_job_duration_seconds_count', { queue: QUEUE.email, role: 'email' }) >= 1
    );
  }, 40_000, 'app, email and sms outcomes to be counted');

  const text = await scrape();
  expect(sumSeries(text, 'notification_created_total', { type: 'success', role: 'ingest' })).toBe(1);
  expect(sumSeries(text, 'notification_sent_total', { channel: 'app', role: 'realtime' })).toBe(1);
  expect(sumSeries(text, 'notification_sent_total', { channel: 'email', role: 'email' })).toBe(1);
  expect(sumSeries(text, 'notification_failed_total', { channel: 'sms', role: 'sms' })).toBe(1);
  expect(sumSeries(text, 'notification_delivery_duration_seconds_count', { channel: 'app' })).toBe(1);
  expect(sumSeries(text, 'notification_delivery_duration_seconds_count', { channel: 'email' })).toBe(1);
  expect(sumSeries(text, 'websocket_connections_active', { role: 'realtime' })).toBe(1);
  expect(sumSeries(text, 'herald_job_duration_seconds_count', { queue: QUEUE.ingest, role: 'ingest' })).toBeGreaterThanOrEqual(1);
  expect(sumSeries(text, 'herald_job_duration_seconds_count', { queue: QUEUE.email, role: 'email' })).toBeGreaterThanOrEqual(1);
  expect(text).toMatch(/herald_queue_jobs\{queue="ingest",state="completed"\} \d+/);
  // Node process metrics of every process, told apart by their `process` label.
  const cpu = seriesLabels(text, 'process_cpu_user_seconds_total');
  expect(new Set(cpu.map((l) => l.role))).toEqual(new Set(['api', 'ingest', 'realtime', 'email', 'sms']));
  expect(new Set(cpu.map((l) => l.process)).size).toBe(5);
  expect(sumSeries(text, 'herald_metrics_processes')).toBe(5);

  // A process that stops takes its series with it.
  ws.close();
  expect(await procs.sms.stop('SIGTERM')).toBe(0);
  await waitFor(async () => sumSeries(await scrape(), 'process_cpu_user_seconds_total', { role: 'sms' }) === 0, 10_000, 'the sms worker to drop out');
  await waitFor(async () => sumSeries(await scrape(), 'websocket_connections_active', { role: 'realtime' }) === 0, 10_000, 'the socket count to fall');
});
