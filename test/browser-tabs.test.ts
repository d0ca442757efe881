/**
 * Tabs of one browser share one live connection (Debian's chromium through
 * playwright-core, against real api, ingest and realtime processes): ten
 * tabs of a user hold one socket on the server and all show every
 * notification once; closing the leading tab hands the socket to another
 * without losing or repeating anything; a reload shows the cached inbox
 * before the first request answers.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { workerConnection } from '../queues/connection.js';
import { signToken } from '../src/auth/jwt.js';
import { clusterConnections } from '../src/realtime/presence.js';
import { TEST_JWT_SECRET, TEST_REDIS_URL } from './helpers/env.js';
import { uniq, waitFor } from './helpers/harness.js';
import { launchChromium } from './helpers/browser.js';
import { freePort } from './helpers/procs.js';
import { startServingRoles } from './helpers/roles.js';

const prefix = uniq('test-tabs');
const redis = workerConnection(TEST_REDIS_URL);
const cleanups: Array<() => unknown> = [];
let api: string;
let ws: string;
let browser: Browser;
let svc: string;

beforeAll(async () => {
  const [port, wsPort] = [await freePort(), await freePort()];
  const env = { QUEUE_PREFIX: prefix, PORT: String(port), WS_PORT: String(wsPort), WS_PRESENCE_INTERVAL_MS: '100', RATE_LIMIT_USER_PER_MIN: '1000000' };
  await startServingRoles(env, cleanups);
  api = `http://127.0.0.1:${port}`;
  ws = `ws://127.0.0.1:${wsPort}/api/v1/ws`;
  svc = await signToken(TEST_JWT_SECRET, { sub: uniq('svc'), scope: 'notify:send' });
  browser = await launchChromium();
}, 90_000);

afterAll(async () => {
  await browser?.close();
  for (const c of cleanups.reverse()) await c();
  await redis.quit();
});

/** A page of the api's origin that runs the served client the way an app would, and records what it gets. */
const pageHtml = (token: string) => `<!doctype html><meta charset="utf-8"><title>tab</title><ol id="list"></ol>
<script type="module">
  import { HeraldClient } from '/client/herald-client.js';
  const client = new HeraldClient({ apiUrl: location.origin, wsUrl: ${JSON.stringify(ws)}, token: ${JSON.stringify(token)}, reconnect: { initialMs: 200, factor: 1.5, maxMs: 1000 } });
  Object.assign(window, { client, titles: [], states: [], cachedAtStart: client.cached().map((n) => n.title) });
  client.on('notification', (n) => { titles.push(n.title); document.getElementById('list').append(Object.assign(document.createElement('li'), { textContent: n.title })); });
  client.on('connection', (e) => states.push(e.state));
  client.on('unread_count', (n) => (window.unread = n));
</script>`;

/**
 * A new tab on the api's origin showing the test page. (A document on an
 * origin made up with page.route cannot open WebSockets in Chromium, so the
 * tab loads a real api URL and then replaces its content.)
 */
async function openTab(context: BrowserContext, token: string, tab?: Page): Promise<Page> {
  tab ??= await context.newPage();
  await tab.goto(`${api}/api/v1/health`);
  await tab.setContent(pageHtml(token));
  await tab.waitForFunction(() => (window as any).states?.length > 0);
  return tab;
}

const titles = (p: Page) => p.evaluate(() => (window as any).titles as string[]);
const leads = (p: Page) => p.evaluate(() => (window as any).client.leader as boolean);

async function send(user: string, title: string) {
  const r = await fetch(`${api}/api/v1/notifications`, {
    method: 'POST',
    headers: { authorization: `Bearer ${svc}`, 'content-type': 'application/json' },
    body: JSON.stringify({ user_id: user, title, content: 'c' }),
  });
  expect(r.status).toBe(202);
}

/**
 * The user's inbox oldest first: the order every tab must show. (The ingest
 * worker stores concurrent jobs in parallel, so two quick sends may take
 * their places in either order; the inbox cursor is the order.)
 */
async function inboxOrder(token: string): Promise<string[]> {
  const r = await fetch(`${api}/api/v1/notifications?limit=100`, { headers: { authorization: `Bearer ${token}` } });
  return ((await r.json()).notifications as Array<{ title: string }>).map((n) => n.title).reverse();
}

/** The server's socket count stays at `n` for a while (a second socket would show up in the meantime). */
async function connectionsSettleAt(n: number) {
  await waitFor(async () => (await clusterConnections(redis, prefix)) === n, 10_000, `${n} server connection(s)`);
  await new Promise((r) => setTimeout(r, 1000));
  expect(await clusterConnections(redis, prefix)).toBe(n);
}

test('ten tabs hold one server connection and each shows every notification once; the leader closes, another takes over, nothing is missed', { timeout: 90_000 }, async () => {
  const user = uniq('tabs');
  const token = await signToken(TEST_JWT_SECRET, { sub: user });
  const context = await browser.newContext();
  const tabs: Page[] = [];
  for (let i = 0; i < 10; i++) tabs.push(await openTab(context, token));
  await connectionsSettleAt(1);
  expect((await Promise.all(tabs.map(leads))).filter(Boolean)).toHaveLength(1);

  const sent = ['one', 'two', 'three'];
  for (const t of sent) await send(user, t);
  await waitFor(async () => (await inboxOrder(token)).length === 3, 5000, 'three stored');
  const first = await inboxOrder(token);
  expect([...first].sort()).toEqual([...sent].sort());
  for (const tab of tabs) await expect.poll(() => titles(tab), { timeout: 5000 }).toEqual(first);
  for (const tab of tabs) await expect.poll(() => tab.evaluate(() => (window as any).unread)).toBe(3);

  // Close the leading tab while sends continue: another tab leads, resumes from the last relayed cursor.
  const leader = tabs[(await Promise.all(tabs.map(leads))).indexOf(true)];
  const during = Array.from({ length: 8 }, (_, i) => `during ${i}`);
  const sending = (async () => {
    for (const t of during) {
      await send(user, t);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  await new Promise((r) => setTimeout(r, 250));
  await leader.close();
  await sending;
  const rest = tabs.filter((t) => t !== leader);
  await waitFor(async () => (await Promise.all(rest.map(leads))).filter(Boolean).length === 1, 5000, 'a new leader');
  await waitFor(async () => (await inboxOrder(token)).length === sent.length + during.length, 5000, 'every send stored');
  const all = await inboxOrder(token);
  for (const tab of rest) await expect.poll(() => titles(tab), { timeout: 10_000 }).toEqual(all);
  await connectionsSettleAt(1);
  await context.close();
  await connectionsSettleAt(0);
});

test('another user in the same browser gets a connection of their own and only their notifications', { timeout: 60_000 }, async () => {
  const [alice, bob] = [uniq('alice'), uniq('bob')];
  const context = await browser.newContext();
  const a = await openTab(context, await signToken(TEST_JWT_SECRET, { sub: alice }));
  const b = await openTab(context, await signToken(TEST_JWT_SECRET, { sub: bob }));
  expect([await leads(a), await leads(b)]).toEqual([true, true]);
  await connectionsSettleAt(2);
  await send(alice, 'for alice');
  await send(bob, 'for bob');
  await expect.poll(() => titles(a)).toEqual(['for alice']);
  await expect.poll(() => titles(b)).toEqual(['for bob']);
  await context.close();
});

test('a reload shows the cached inbox before any request answers, then follows live changes', { timeout: 60_000 }, async () => {
  const user = uniq('cache');
  const token = await signToken(TEST_JWT_SECRET, { sub: user });
  for (const t of ['old 1', 'old 2']) await send(user, t);
  const context = await browser.newContext();
  const page = await openTab(context, token);
  // the app loads the first page: the client keeps it
  const listTitles = () => page.evaluate(async () => ((await (window as any).client.list()).notifications as Array<{ title: string }>).map((n) => n.title));
  await expect.poll(async () => (await listTitles()).sort()).toEqual(['old 1', 'old 2']);
  const listed = await listTitles(); // newest first (two sends of one moment may be stored in either order)
  await send(user, 'live');
  await expect.poll(() => titles(page)).toContain('live');
  const ids = await page.evaluate(() => (window as any).client.cached().map((n: { id: string; title: string }) => [n.title, n.id]));
  expect(ids.map((x: string[]) => x[0])).toEqual(['live', ...listed]);
  // archive one from elsewhere (another device): the cache drops it
  const archived = ids.find((x: string[]) => x[0] === 'old 2')[1];
  const r = await fetch(`${api}/api/v1/notifications/${archived}/archive`, { method: 'PUT', headers: { authorization: `Bearer ${token}` } });
  expect(r.status).toBe(200);
  await expect.poll(() => page.evaluate(() => (window as any).client.cached().map((n: { title: string }) => n.title))).toEqual(['live', 'old 1']);

  // the reload: the api and the node are unreachable for the new page, yet the inbox is there
  await page.goto(`${api}/api/v1/health`);
  await page.route(`${api}/api/v1/**`, (route) => route.abort());
  await page.setContent(pageHtml(token).replace(ws, 'ws://127.0.0.1:9/unreachable'));
  await page.waitForFunction(() => (window as any).cachedAtStart !== undefined);
  expect(await page.evaluate(() => (window as any).cachedAtStart)).toEqual(['live', 'old 1']);
  // a sign-out forgets it
  await page.evaluate(() => (window as any).client.clearCache());
  expect(await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('herald:inbox:')).map((k) => JSON.parse(localStorage.getItem(k)!).length))).toEqual([]);
  await context.close();
});
