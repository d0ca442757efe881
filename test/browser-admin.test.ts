/**
 * bull-board in a real browser (Debian's chromium driven by playwright-core)
 * against a real api process: sign in through the form with an admin token,
 * see every Herald queue, open a failed job and retry it.
 */
import { existsSync } from 'node:fs';
import { Queue, Worker } from 'bullmq';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { workerConnection } from '../queues/connection.js';
import { QUEUE } from '../queues/names.js';
import { signToken } from '../src/auth/jwt.js';
import { TEST_JWT_SECRET, TEST_REDIS_URL } from './helpers/env.js';
import { uniq, waitFor } from './helpers/harness.js';
import { freePort } from './helpers/procs.js';
import { spawnRole } from './helpers/roles.js';

const CHROMIUM = '/usr/bin/chromium';
const prefix = uniq('test-board');
let port: number;
let browser: Browser;
let queue: Queue;
const cleanups: Array<() => unknown> = [];
const redis = workerConnection(TEST_REDIS_URL);

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
  port = await freePort();
  const api = spawnRole('src/api/server.ts', { env: { QUEUE_PREFIX: prefix, PORT: String(port) } }, cleanups);
  await api.waitForLog((l) => l.msg === 'api listening', 30_000, 'the api to listen');
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  queue = new Queue(QUEUE.ingest, { connection: redis, prefix });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await queue?.obliterate({ force: true }).catch(() => undefined);
  await queue?.close();
  for (const c of cleanups.reverse()) await c();
  await redis.quit();
});

/** A job that has failed for good, as an operator would find it. */
async function failedJob() {
  const failing = new Worker(QUEUE.ingest, async () => { throw new Error('PostgreSQL said no (browser test)'); }, {
    connection: workerConnection(TEST_REDIS_URL),
    prefix,
    settings: { backoffStrategy: () => 1000 },
  });
  const job = await queue.add('notify', { notifications: [] }, { attempts: 1, priority: 3 });
  await waitFor(async () => (await job.getState()) === 'failed', 10_000, 'the job to fail');
  await failing.close();
  return job;
}

test('an operator signs in with an admin token, sees every queue, opens a failed job and retries it', { timeout: 60_000 }, async () => {
  const job = await failedJob();
  const context = await browser.newContext();
  const page = await context.newPage();
  const base = `http://127.0.0.1:${port}`;

  // Not signed in: 401 with the sign-in form.
  const refused = await page.goto(`${base}/admin/queues`);
  expect(refused?.status()).toBe(401);

  // A token without the admin scope is refused by the form.
  await page.fill('#token', await signToken(TEST_JWT_SECRET, { sub: 'someone', scope: 'notify:send' }));
  await page.click('button[type=submit]');
  await expect.poll(() => page.textContent('[role=alert]')).toContain('lacks the admin scope');

  await page.fill('#token', await signToken(TEST_JWT_SECRET, { sub: 'operator', scope: 'admin' }));
  await Promise.all([page.waitForURL(`${base}/admin/queues`), page.click('button[type=submit]')]);

  // The cookie holds the session where no script can read it.
  const [cookie] = await context.cookies(`${base}/admin/queues`);
  expect(cookie).toMatchObject({ name: 'herald_admin', httpOnly: true, sameSite: 'Strict', path: '/admin' });
  expect(await page.evaluate('document.cookie')).toBe('');

  // Every Herald queue is listed.
  const sidebar = page.locator('nav, aside').first();
  for (const name of Object.values(QUEUE)) await expect.poll(() => sidebar.getByText(name, { exact: true }).count()).toBeGreaterThan(0);

  // Open the ingest queue's failed jobs, then the job.
  await sidebar.getByText(QUEUE.ingest, { exact: true }).click();
  await page.getByText(/^failed$/i).first().click();
  await expect.poll(() => page.getByText('PostgreSQL said no (browser test)').count()).toBeGreaterThan(0);
  await page.goto(`${base}/admin/queues/queue/${QUEUE.ingest}/${job.id}`);
  await expect.poll(() => page.getByText('PostgreSQL said no (browser test)').count()).toBeGreaterThan(0);

  // Retry it: the job is queued again.
  // The job card's action buttons are icons; the one whose tooltip says Retry is the refresh arrow.
  const retry = page.locator('button:has(svg.lucide-refresh-cw)').first();
  await retry.hover();
  await expect.poll(() => page.getByText('Retry', { exact: true }).count()).toBeGreaterThan(0);
  await retry.click();
  await expect.poll(() => page.getByText('Are you sure that you want to retry this job?').count()).toBe(1);
  await page.getByRole('button', { name: 'Confirm' }).click();
  await waitFor(async () => /waiting|prioritized/.test(await queue.getJobState(job.id!)), 10_000, 'the job to be queued again');
  await context.close();
});

test('?token= signs a browser in and leaves no token in the address bar', { timeout: 30_000 }, async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const token = await signToken(TEST_JWT_SECRET, { sub: 'operator', scope: 'admin' });
  const res = await page.goto(`http://127.0.0.1:${port}/admin/queues?token=${token}`);
  expect(res?.status()).toBe(200);
  expect(page.url()).toBe(`http://127.0.0.1:${port}/admin/queues`);
  await expect.poll(() => page.getByText(QUEUE.ingest, { exact: true }).count()).toBeGreaterThan(0);
  await context.close();
});
