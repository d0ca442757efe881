/**
 * SIGTERM under load, with real processes: the api and the ingest worker are
 * spawned from source against the real PostgreSQL and Redis, load is applied,
 * and each gets SIGTERM mid-load. Every notification the api answered 202 for
 * must end up stored, and each process must exit 0.
 */
import pg from 'pg';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { signToken } from '../src/auth/jwt.js';
import { TEST_DATABASE_URL, TEST_JWT_SECRET } from './helpers/env.js';
import { uniq, waitFor } from './helpers/harness.js';
import { freePort } from './helpers/procs.js';
import { spawnRole } from './helpers/roles.js';

const tenant = uniq('tenant-shutdown');
const prefix = uniq('test-shutdown');
const cleanups: Array<() => unknown> = [];
let db: pg.Client;

const start = (entry: string, env: Record<string, string> = {}) => spawnRole(entry, { env: { QUEUE_PREFIX: prefix, ...env } }, cleanups);

beforeAll(async () => {
  db = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await db.connect();
});
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  await db.end();
});

test('SIGTERM to the api and to the ingest worker mid-load loses nothing, and both exit 0', { timeout: 120_000 }, async () => {
  const port = await freePort();
  const api = start('src/api/server.ts', { PORT: String(port) });
  const ingest = start('workers/ingest.ts', { INGEST_CONCURRENCY: '20' });
  await api.waitForLog((l) => l.msg === 'api listening', 30_000, 'the api to listen');
  await ingest.waitForLog((l) => l.msg === 'ingest worker started', 30_000, 'the ingest worker to start');

  const token = await signToken(TEST_JWT_SECRET, { sub: 'load-svc', tenant, scope: 'notify:send' });
  const accepted: string[] = [];
  const refused: number[] = [];
  let connectionErrors = 0;
  let apiDown = false;
  const sender = async (n: number) => {
    for (let i = 0; !apiDown; i++) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/api/v1/notifications`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ title: `load ${n}-${i}`, content: 'sigterm', user_id: `u-${n}` }),
        });
        const body = (await res.json()) as { id: string };
        if (res.status === 202) accepted.push(body.id);
        else refused.push(res.status);
      } catch {
        connectionErrors++; // not accepted: the client knows it must retry
        if (api.child.exitCode !== null) apiDown = true;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  };
  const senders = Array.from({ length: 8 }, (_, n) => sender(n));

  // SIGTERM the ingest worker while it is busy, then the api while requests are in flight.
  await waitFor(() => accepted.length >= 150, 30_000, '150 accepted sends');
  const ingestExit = ingest.stop('SIGTERM');
  await waitFor(() => accepted.length >= 400, 30_000, '400 accepted sends');
  const apiExit = api.stop('SIGTERM');
  expect(await apiExit).toBe(0);
  apiDown = true;
  await Promise.all(senders);
  expect(await ingestExit).toBe(0);
  expect(ingest.lines.join('\n')).toContain('shutting down');

  // Requests either got their 202 or never reached a handler: no 5xx from a half-closed api.
  expect(refused).toEqual([]);
  expect(accepted.length).toBeGreaterThanOrEqual(400);

  // A new ingest worker picks up what the first one left in the queue.
  const ingest2 = start('workers/ingest.ts');
  const stored = async () => (await db.query<{ id: string }>('select id from notifications where tenant = $1', [tenant])).rows.map((r) => r.id);
  await waitFor(async () => (await stored()).length >= accepted.length, 60_000, 'every accepted notification to be stored');
  const have = new Set(await stored());
  expect(accepted.filter((id) => !have.has(id))).toEqual([]);
  expect(await ingest2.stop('SIGTERM')).toBe(0);
  console.log(`shutdown test: ${accepted.length} accepted, ${have.size} stored, ${connectionErrors} connection errors after SIGTERM`);
});

test('a second signal while shutting down does not cut the shutdown short', { timeout: 60_000 }, async () => {
  const ingest = start('workers/ingest.ts');
  await ingest.waitForLog((l) => l.msg === 'ingest worker started', 30_000, 'the ingest worker to start');
  // Ctrl-C under npm start: SIGINT from the terminal, then SIGTERM from npm start; an orchestrator may repeat SIGTERM.
  ingest.child.kill('SIGINT');
  ingest.child.kill('SIGTERM');
  ingest.child.kill('SIGTERM');
  expect(await ingest.exited).toBe(0);
  expect(ingest.logs().filter((l) => l.msg === 'shutting down')).toHaveLength(1);
});

test('SIGTERM to a channel worker mid-load: every email is sent exactly once, by it or by its successor', { timeout: 120_000 }, async () => {
  const { startSmtpServer } = await import('./fakes/smtp.js');
  const smtp = await startSmtpServer();
  try {
    const port = await freePort();
    const mailEnv = { SMTP_HOST: smtp.host, SMTP_PORT: String(smtp.port), SMTP_FROM: 'Herald <noreply@herald.test>', EMAIL_RATE_PER_SEC: '200' };
    const api = start('src/api/server.ts', { PORT: String(port) });
    const ingest = start('workers/ingest.ts');
    const email = start('workers/email.ts', mailEnv);
    await api.waitForLog((l) => l.msg === 'api listening', 30_000, 'the api');
    await ingest.waitForLog((l) => l.msg === 'ingest worker started', 30_000, 'ingest');
    await email.waitForLog((l) => l.msg === 'email worker started', 30_000, 'the email worker');

    const mailTenant = uniq('tenant-mail');
    const svc = await signToken(TEST_JWT_SECRET, { sub: 'mailer', tenant: mailTenant, scope: 'notify:send' });
    const call = (method: string, path: string, body: unknown) =>
      fetch(`http://127.0.0.1:${port}/api/v1${path}`, { method, headers: { authorization: `Bearer ${svc}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const USERS = 20;
    const PER_USER = 10;
    for (let u = 0; u < USERS; u++) expect((await call('PUT', `/recipients/m${u}`, { email: `m${u}@example.com` })).status).toBe(200);
    const notifications = Array.from({ length: USERS * PER_USER }, (_, i) => ({ title: `mail ${i}`, content: 'x', user_id: `m${i % USERS}`, channels: ['email'] }));
    expect((await call('POST', '/notifications/bulk', { notifications })).status).toBe(202);

    await waitFor(() => smtp.mails.length >= 40, 30_000, 'the first emails');
    expect(await email.stop('SIGTERM')).toBe(0);
    const sentByFirst = smtp.mails.length;
    start('workers/email.ts', mailEnv);
    await waitFor(() => smtp.mails.length >= notifications.length, 60_000, 'every email');
    await new Promise((r) => setTimeout(r, 1000)); // room for a duplicate to show up, were there one
    const subjects = smtp.mails.map((m) => m.subject);
    expect(new Set(subjects).size).toBe(notifications.length);
    expect(subjects.length).toBe(notifications.length);
    console.log(`channel shutdown test: ${sentByFirst} emails before SIGTERM, ${notifications.length - sentByFirst} by the successor`);
  } finally {
    await smtp.close();
  }
});
