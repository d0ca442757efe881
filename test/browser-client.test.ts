/**
 * The browser client (GET /client/herald-client.js) in Chromium against real
 * api, ingest and realtime processes, through the failures a user's browser
 * meets: the realtime node killed, the network cut for 30 s, WebSockets
 * refused by a proxy, a token that expires. After each, the page shows every
 * notification sent exactly once and in the order it was sent.
 */
import type { Browser, BrowserContext, Page, WebSocketRoute } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { signToken } from '../src/auth/jwt.js';
import { openFixturePage, launchChromium } from './helpers/browser.js';
import { TEST_JWT_SECRET } from './helpers/env.js';
import { uniq, waitFor } from './helpers/harness.js';
import { freePort, type Proc } from './helpers/procs.js';
import { spawnRole } from './helpers/roles.js';
import { startGate } from './helpers/ws-gate.js';

const tenant = uniq('tenant-browser-client');
const cleanups: Array<() => unknown> = [];
const contexts: BrowserContext[] = [];
let env: Record<string, string>;
let api: string;
let wsUrl: string;
let wsPort: number;
let realtime: Proc;
let browser: Browser;
let svc: string;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const userToken = (sub: string, expiresIn: string | number = '1h') => signToken(TEST_JWT_SECRET, { sub, tenant, expiresIn });

async function startRealtime(): Promise<Proc> {
  const proc = spawnRole('src/realtime/server.ts', { env }, cleanups);
  await proc.waitForLog((l) => l.msg === 'realtime node listening', 60_000, 'the realtime node to listen');
  return proc;
}

beforeAll(async () => {
  const apiPort = await freePort();
  wsPort = await freePort();
  env = {
    QUEUE_PREFIX: uniq('test-browser-client'),
    PORT: String(apiPort),
    WS_PORT: String(wsPort),
    WS_THREADS: '1',
    // every page polls and reconnects far faster than a real one: no limit may refuse it
    RATE_LIMIT_USER_PER_MIN: '1000000',
    WS_UPGRADE_USER_PER_MIN: '1000000',
  };
  api = `http://127.0.0.1:${apiPort}`;
  wsUrl = `ws://127.0.0.1:${wsPort}/api/v1/ws`;
  const apiProc = spawnRole('src/api/server.ts', { env }, cleanups);
  const ingest = spawnRole('workers/ingest.ts', { env }, cleanups);
  realtime = await startRealtime();
  await apiProc.waitForLog((l) => l.msg === 'api listening', 60_000, 'the api to listen');
  await ingest.waitForLog((l) => l.msg === 'ingest worker started', 60_000, 'the ingest worker');
  browser = await launchChromium();
  svc = await signToken(TEST_JWT_SECRET, { sub: uniq('svc'), tenant, scope: 'notify:send' });
  await warmUp();
}, 120_000);

/**
 * One notification through the whole path before the tests: the ingest
 * worker's first job is slow (connections, caches), and a send that waits
 * behind it can be stored first, so its cursor, the order every client
 * shows, would come before one sent earlier.
 */
async function warmUp(): Promise<void> {
  const user = uniq('warm-up');
  const token = await userToken(user);
  await send(user, 'warm-up');
  await waitFor(async () => {
    const res = await fetch(`${api}/api/v1/notifications`, { headers: { authorization: `Bearer ${token}` } });
    return res.ok && ((await res.json()) as { notifications: unknown[] }).notifications.length === 1;
  }, 30_000, 'the warm-up notification to be stored');
}

afterEach(async () => {
  for (const c of contexts.splice(0)) await c.close().catch(() => undefined);
});

afterAll(async () => {
  await browser?.close();
  for (const c of cleanups.reverse()) await c();
});

async function send(user: string, title: string): Promise<void> {
  const res = await fetch(`${api}/api/v1/notifications`, {
    method: 'POST',
    headers: { authorization: `Bearer ${svc}`, 'content-type': 'application/json' },
    body: JSON.stringify({ title, content: 'C', user_id: user }),
  });
  expect(res.status, await res.text()).toBe(202);
}

/** Sends `titles` one every `everyMs`, calling `at(i)` right after the i-th send. */
async function sendPaced(user: string, titles: string[], everyMs: number, at: (i: number) => unknown = () => undefined): Promise<void> {
  for (let i = 0; i < titles.length; i++) {
    await send(user, titles[i]);
    await at(i);
    await sleep(everyMs);
  }
}

/**
 * The page an application would be: it loads the client from the api, lists
 * the title of every notification event, and keeps the connection states and
 * the number of getToken calls where the test reads them. getToken asks the
 * test (heraldToken), so the test decides what each token is.
 */
function fixtureHtml(config: { wsUrl: string; blockedAfter?: number }): string {
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>Herald client under failure</title></head>
<body><ol id="titles"></ol>
<script type="module">
import { HeraldClient } from '/client/herald-client.js';
const config = ${JSON.stringify(config).replace(/</g, '\\u003c')};
window.connectionStates = [];
window.tokenCalls = 0;
const list = document.getElementById('titles');
const client = new HeraldClient({
  apiUrl: location.origin,
  wsUrl: config.wsUrl,
  getToken: async () => {
    window.tokenCalls++;
    return window.heraldToken();
  },
  reconnect: { initialMs: 200, factor: 1.5, maxMs: 1000 },
  pollIntervalMs: 300,
  blockedAfter: config.blockedAfter,
});
client.on('notification', (n) => {
  const item = document.createElement('li');
  item.textContent = n.title;
  item.dataset.cursor = n.cursor;
  list.append(item);
});
client.on('connection', (e) => window.connectionStates.push(e.state));
window.heraldClient = client;
</script></body></html>`;
}

interface LivePage {
  page: Page;
  titles(): Promise<string[]>;
  /** the connection states the page saw, a repeat of the same state counted once */
  states(): Promise<string[]>;
  tokenCalls(): Promise<number>;
  waitForState(state: string, timeoutMs?: number): Promise<void>;
  /** waits until the list holds `n` titles */
  waitForCount(n: number, timeoutMs?: number): Promise<void>;
  /** waits until the list holds `expected`'s length, lingers so a late duplicate would show, then compares */
  expectExactly(expected: string[], timeoutMs?: number): Promise<void>;
}

async function openLivePage(options: {
  wsUrl: string;
  token: () => Promise<string>;
  blockedAfter?: number;
  setup?: (page: Page) => Promise<unknown>;
  /** the connection state to wait for before the test goes on (default open) */
  until?: string;
}): Promise<LivePage> {
  const errors: string[] = [];
  // what the browser said, for a failure's message: console errors and HTTP errors
  const problems: string[] = [];
  const { context, page } = await openFixturePage(browser, api, fixtureHtml({ wsUrl: options.wsUrl, blockedAfter: options.blockedAfter }), {
    setup: async (p) => {
      p.on('pageerror', (err) => errors.push(err.message));
      p.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
      p.on('response', (r) => r.status() >= 400 && problems.push(`${r.status()} ${r.url()}`));
      await p.exposeFunction('heraldToken', options.token);
      await options.setup?.(p);
    },
  });
  contexts.push(context);
  const titles = () => page.$$eval('#titles li', (items) => items.map((li) => li.textContent ?? ''));
  const states = async () => {
    const all = await page.evaluate(() => (globalThis as unknown as { connectionStates: string[] }).connectionStates);
    return all.filter((state, i) => state !== all[i - 1]);
  };
  const live: LivePage = {
    page,
    titles,
    states,
    tokenCalls: () => page.evaluate(() => (globalThis as unknown as { tokenCalls: number }).tokenCalls),
    async waitForState(state, timeoutMs = 15_000) {
      await waitFor(async () => (await states()).at(-1) === state, timeoutMs, `the page's connection to be ${state}`).catch(async (err) => {
        throw new Error(`${(err as Error).message}; states so far: ${(await states()).join(', ')}; page errors: ${[...errors, ...problems].join(' | ')}`);
      });
    },
    async waitForCount(n, timeoutMs = 10_000) {
      await waitFor(async () => (await titles()).length >= n, timeoutMs, `${n} notifications on the page`).catch(async (err) => {
        throw new Error(`${(err as Error).message}; the page has ${JSON.stringify(await titles())}; states: ${(await states()).join(', ')}; page errors: ${[...errors, ...problems].join(' | ')}`);
      });
    },
    async expectExactly(expected, timeoutMs = 20_000) {
      await live.waitForCount(expected.length, timeoutMs);
      await sleep(700);
      expect(await titles()).toEqual(expected);
      // the order the inbox stores them in, which is what the client promises to keep
      const cursors = (await page.$$eval('#titles li', (items) => items.map((li) => (li as unknown as { dataset: { cursor: string } }).dataset.cursor))).map(BigInt);
      expect(cursors).toEqual([...cursors].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
      expect(errors).toEqual([]);
    },
  };
  await live.waitForState(options.until ?? 'open');
  return live;
}

const numbered = (label: string, n: number) => Array.from({ length: n }, (_, i) => `${label} ${i + 1}`);

describe('the browser client', () => {
  test('the realtime node is SIGKILLed while sends go on and a new one starts: every notification once, in send order', { timeout: 60_000 }, async () => {
    const user = uniq('u');
    // no polling: what was sent while the node was gone can only come back through the socket's ?since= resume
    const live = await openLivePage({ wsUrl, token: () => userToken(user), blockedAfter: 1000 });
    const titles = numbered('kill', 30);
    let restarted: Promise<void> | undefined;
    await sendPaced(user, titles, 100, async (i) => {
      if (i !== 9) return;
      await realtime.stop('SIGKILL');
      restarted = sleep(2000).then(async () => {
        realtime = await startRealtime();
      });
    });
    await restarted;
    await live.expectExactly(titles);
    const states = await live.states();
    expect(states.slice(0, 3)).toEqual(['connecting', 'open', 'connecting']);
    expect(states.at(-1)).toBe('open');
    expect(states).not.toContain('polling');
  });

  test('the network is cut for 30 s while sends go on: afterwards every notification once, in send order', { timeout: 90_000 }, async () => {
    const user = uniq('u');
    let cut = false;
    let refusedDuringCut = 0;
    const sockets = new Set<WebSocketRoute>();
    const live = await openLivePage({
      wsUrl,
      token: () => userToken(user),
      setup: async (page) => {
        // Every socket goes through this route. Up: straight to the node. Cut: a new socket fails
        // before it opens, as one to an unreachable host does.
        await page.routeWebSocket((url) => url.port === String(wsPort), async (ws) => {
          if (cut) {
            refusedDuringCut++;
            await ws.close({ code: 1006, reason: '' });
            return;
          }
          ws.connectToServer();
          sockets.add(ws);
        });
        // Cut: the api's HTTP is unreachable too (the polling fallback gets nothing through).
        await page.route(`${api}/api/**`, (route) => (cut ? route.abort('internetdisconnected') : route.continue()));
      },
    });
    const before = numbered('before the cut', 3);
    await sendPaced(user, before, 100);
    await live.waitForCount(before.length);

    cut = true;
    for (const ws of sockets) await ws.close({ code: 1006, reason: '' });
    sockets.clear();
    await live.waitForState('connecting', 5_000).catch(() => live.waitForState('polling', 5_000));
    const during = numbered('during the cut', 30);
    await sendPaced(user, during, 1000);
    // nothing got through the cut, though the client kept trying
    expect(await live.titles()).toEqual(before);
    expect(refusedDuringCut).toBeGreaterThan(3);
    cut = false;

    const after = numbered('after the cut', 3);
    await sendPaced(user, after, 100);
    await live.expectExactly([...before, ...during, ...after]);
    await live.waitForState('open');
  });

  test('WebSocket upgrades refused by a proxy: polling delivers; once upgrades pass, the socket does, each notification once', { timeout: 60_000 }, async () => {
    const user = uniq('u');
    const gate = await startGate(wsPort, cleanups);
    gate.mode = 'block';
    let polls = 0;
    const page = await openLivePage({
      wsUrl: gate.url,
      token: () => userToken(user),
      until: 'polling',
      setup: async (p) => p.on('response', (r) => new URL(r.url()).searchParams.has('since') && polls++),
    });
    // 'polling' is reported before the first poll has fixed its starting point (see the next test):
    // send only once polling from a starting point has begun
    await waitFor(() => polls > 0, 10_000, 'the first poll');

    const polled = numbered('polled', 3);
    await sendPaced(user, polled, 100);
    await page.waitForCount(polled.length);
    expect(await page.states()).toEqual(['connecting', 'polling']);

    gate.mode = 'pass';
    await page.waitForState('open');
    const live = numbered('live', 3);
    await sendPaced(user, live, 100);
    await page.expectExactly([...polled, ...live]);
    expect(await page.states()).toEqual(['connecting', 'polling', 'open']);
    // every refusal the page met was the proxy's, and the socket it ended on was accepted
    expect(gate.statuses.filter((s) => s !== 403)).toEqual([101]);
    expect(gate.statuses.at(-1)).toBe(101);
  });

  // The client must fix its starting point (the inbox's newest row) before it reports 'polling': a
  // notification stored after the report would otherwise fall behind a start read later and never show.
  test('a notification sent right after the client reports polling arrives, even when the api answers slowly', { timeout: 30_000 }, async () => {
    const user = uniq('u');
    const gate = await startGate(wsPort, cleanups);
    gate.mode = 'block';
    const page = await openLivePage({
      wsUrl: gate.url,
      token: () => userToken(user),
      until: 'polling',
      // a slow network: every api answer takes 600 ms
      setup: (p) => p.route(`${api}/api/**`, async (route) => {
        await sleep(600);
        await route.continue();
      }),
    });
    await send(user, 'just after polling began');
    await page.expectExactly(['just after polling began'], 5_000);
  });

  test('a token expires: the reconnect is refused with 401, getToken is asked once, the socket resumes and nothing is lost', { timeout: 60_000 }, async () => {
    const user = uniq('u');
    const gate = await startGate(wsPort, cleanups);
    const expiresAt = Math.floor(Date.now() / 1000) + 4;
    let handedOut = 0;
    const live = await openLivePage({
      wsUrl: gate.url,
      // the first token lives a few seconds, every later one an hour
      token: () => (handedOut++ === 0 ? userToken(user, expiresAt) : userToken(user)),
    });
    const early = numbered('with the first token', 2);
    await sendPaced(user, early, 100);
    await live.waitForCount(early.length);
    expect(await live.tokenCalls()).toBe(1);

    await sleep(expiresAt * 1000 + 1000 - Date.now());
    // the open socket outlives its token; a dropped connection makes the client upgrade again with it
    gate.drop();
    const meanwhile = numbered('around the reconnect', 5);
    await sendPaced(user, meanwhile, 100);
    await live.expectExactly([...early, ...meanwhile]);
    await sleep(1500);
    expect(gate.statuses.filter((s) => s === 401)).toHaveLength(1);
    expect(gate.statuses.at(-1)).toBe(101);
    expect(await live.tokenCalls()).toBe(2);
    expect(handedOut).toBe(2);
    expect(await live.states()).toEqual(['connecting', 'open', 'connecting', 'open']);
  });
});
