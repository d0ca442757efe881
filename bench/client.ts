/**
 * bench/client: what the browser side costs, in Debian's chromium.
 *
 *   npm run build && npm run bench:client      (RATE=10 SECONDS=30 TABS=10)
 *
 * Herald runs as in production: the compiled api, ingest worker and realtime
 * node (dist/, `npm run build` first), one process each. Each figure is next
 * to a same-run baseline.
 *
 * 1. Bundle sizes, min+gzip, as the api serves them: /client/herald-client.js
 *    and /client/herald-inbox.js (widget and client), against their budgets
 *    (12 KB and 35 KB).
 * 2. POST → rendered: the /inbox demo page open in Chromium, RATE sends a
 *    second for SECONDS; for each, the time from just before the POST to the
 *    moment its title is in the widget's shadow DOM (a MutationObserver
 *    stamps it). Baseline: a bare Node `ws` socket of the same user on the
 *    same node, stamped when the frame arrives.
 * 3. TABS tabs of /inbox for one user: the server's connections and each
 *    page's JS heap (CDP Performance.getMetrics after a GC). Baseline: the
 *    same tabs in a browser without Web Locks (a socket per tab), and an
 *    empty page.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { Redis } from 'ioredis';
import { chromium, type Browser, type Page } from 'playwright-core';
import WebSocket from 'ws';
import { signToken } from '../src/auth/jwt.js';
import { migrate } from '../src/db/orm.js';
import { clusterConnections } from '../src/realtime/presence.js';
import { freePort, startRole, stopRole, waitHttp } from './lib/processes.js';

const RATE = Number(process.env.RATE ?? 10);
const SECONDS = Number(process.env.SECONDS ?? 30);
const TABS = Number(process.env.TABS ?? 10);
const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/herald_bench';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const SECRET = 'herald-bench-secret-0123456789';
const CHROMIUM = '/usr/bin/chromium';
const prefix = `herald-bench-client-${randomBytes(3).toString('hex')}`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;
const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;
function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

async function main() {
  if (!existsSync('dist/src/api/server.js')) throw new Error('run `npm run build` first: the bench runs the compiled processes');
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
  await migrate({ url: DATABASE_URL });
  const [port, wsPort] = [await freePort(), await freePort()];
  const env = {
    DATABASE_URL,
    REDIS_URL,
    QUEUE_PREFIX: prefix,
    JWT_SECRET: SECRET,
    PORT: String(port),
    WS_PORT: String(wsPort),
    WS_PRESENCE_INTERVAL_MS: '200',
    RATE_LIMIT_USER_PER_MIN: '1000000',
    RATE_LIMIT_SERVICE_PER_MIN: '1000000',
    MAX_CONNECTIONS_PER_USER: String(TABS + 5),
    WS_UPGRADE_USER_PER_MIN: '1000000',
    WS_UPGRADE_IP_PER_MIN: '1000000',
  };
  const roles = [
    startRole('dist/src/api/server.js', env),
    startRole('dist/workers/ingest.js', env),
    startRole('dist/src/realtime/server.js', env),
  ];
  const api = `http://127.0.0.1:${port}`;
  const wsUrl = `ws://127.0.0.1:${wsPort}/api/v1/ws`;
  await waitHttp(`${api}/ready`, 60_000);
  await waitHttp(`http://127.0.0.1:${wsPort}/ready`, 60_000);
  const redis = new Redis(REDIS_URL);
  const svc = await signToken(SECRET, { sub: 'bench-service', scope: 'notify:send' });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  console.log(`bench/client  RATE=${RATE}/s SECONDS=${SECONDS} TABS=${TABS}  (compiled api, ingest, realtime; chromium ${browser.version()})`);
  try {
    await bundles(api);
    await latency(browser, api, wsUrl, svc);
    await tabs(browser, api, redis);
  } finally {
    await browser.close();
    await redis.quit();
    await Promise.all(roles.map(stopRole));
  }
}

async function bundles(api: string) {
  console.log('\n1. bundles, min+gzip (gzip -9 of what the api serves)');
  for (const [path, budget] of [['/client/herald-client.js', 12 * 1024], ['/client/herald-inbox.js', 35 * 1024]] as const) {
    const body = Buffer.from(await (await fetch(api + path)).arrayBuffer());
    const gz = gzipSync(body, { level: 9 }).length;
    console.log(`  ${path.padEnd(28)} ${kb(body.length).padStart(9)} min  ${kb(gz).padStart(8)} min+gzip  budget ${kb(budget)}  ${gz <= budget ? 'within' : 'OVER'}`);
  }
}

/** Opens /inbox for `token` and stamps (Date.now()) the first time each "bench-<i>-" title shows in the widget. */
async function openInbox(browser: Browser, api: string, token: string): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${api}/inbox?token=${token}`);
  await page.waitForFunction(() => !!document.querySelector('herald-inbox')?.shadowRoot);
  // a string, not a function: tsx would wrap the function's inner functions in a helper the page lacks
  await page.evaluate(`(() => {
    const seen = {};
    window.rendered = seen;
    const scan = (node) => {
      for (const m of (node.textContent ?? '').matchAll(/bench-(\\d+)-/g)) seen[m[1]] ??= Date.now();
    };
    new MutationObserver((records) => {
      for (const r of records) {
        r.addedNodes.forEach(scan);
        if (r.type === 'characterData') scan(r.target);
      }
    }).observe(document.querySelector('herald-inbox').shadowRoot, { subtree: true, childList: true, characterData: true });
  })()`);
  return page;
}

async function latency(browser: Browser, api: string, wsUrl: string, svc: string) {
  console.log(`\n2. POST → rendered in the widget, ${RATE}/s for ${SECONDS} s`);
  const user = `bench-user-${randomBytes(3).toString('hex')}`;
  const token = await signToken(SECRET, { sub: user });
  const page = await openInbox(browser, api, token);
  // the bare socket: the same user, the same node, stamped on arrival
  const frames: Record<string, number> = {};
  const bare = new WebSocket(`${wsUrl}?token=${token}`);
  bare.on('message', (data) => {
    const m = /bench-(\d+)-/.exec(String(data));
    if (m) frames[m[1]] ??= Date.now();
  });
  await new Promise((r) => bare.once('open', r));
  await sleep(1500); // the page's socket is open and its first list is drawn
  const sentAt: number[] = [];
  const n = RATE * SECONDS;
  const start = Date.now();
  const posts: Promise<unknown>[] = [];
  for (let i = 0; i < n; i++) {
    await sleep(Math.max(0, start + (i * 1000) / RATE - Date.now()));
    sentAt[i] = Date.now();
    posts.push(
      fetch(`${api}/api/v1/notifications`, {
        method: 'POST',
        headers: { authorization: `Bearer ${svc}`, 'content-type': 'application/json' },
        body: JSON.stringify({ user_id: user, title: `bench-${i}-`, content: '您的订单已确认,预计30分钟送达' }),
      }).then((r) => r.status === 202 || console.error('POST', r.status)),
    );
  }
  await Promise.all(posts);
  const deadline = Date.now() + 15_000;
  let rendered: Record<string, number> = {};
  while (Date.now() < deadline) {
    rendered = await page.evaluate(() => (window as any).rendered);
    if (Object.keys(rendered).length >= n && Object.keys(frames).length >= n) break;
    await sleep(200);
  }
  const lat = (stamps: Record<string, number>) => sentAt.map((t, i) => (stamps[i] ?? NaN) - t).filter((x) => !Number.isNaN(x));
  const widget = lat(rendered);
  const socket = lat(frames);
  const line = (label: string, xs: number[]) =>
    console.log(`  ${label.padEnd(44)} p50 ${String(pct(xs, 50)).padStart(4)} ms  p99 ${String(pct(xs, 99)).padStart(4)} ms  max ${String(Math.max(...xs)).padStart(4)} ms  (${xs.length}/${n})`);
  line('baseline: frame on a bare Node ws socket', socket);
  line('rendered in <herald-inbox> (chromium)', widget);
  bare.close();
  await page.context().close();
}

/** The page's JS heap after a GC, through the DevTools protocol. */
async function heap(page: Page): Promise<number> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('HeapProfiler.collectGarbage');
  await cdp.send('Performance.enable');
  const { metrics } = await cdp.send('Performance.getMetrics');
  await cdp.detach();
  return metrics.find((m) => m.name === 'JSHeapUsedSize')!.value;
}

async function tabs(browser: Browser, api: string, redis: Redis) {
  console.log(`\n3. ${TABS} tabs of /inbox for one user`);
  const settle = async () => {
    await sleep(2000);
    return clusterConnections(redis, prefix);
  };
  // baseline: an empty page of the same origin
  const emptyCtx = await browser.newContext();
  const empty = await emptyCtx.newPage();
  await empty.goto(`${api}/api/v1/health`);
  const emptyHeap = await heap(empty);
  await emptyCtx.close();

  for (const share of [false, true]) {
    const user = `bench-tabs-${randomBytes(3).toString('hex')}`;
    const token = await signToken(SECRET, { sub: user });
    const context = await browser.newContext();
    // the baseline: the same page in a browser without Web Locks, where each tab keeps its own socket
    if (!share) await context.addInitScript('Object.defineProperty(Navigator.prototype, "locks", { get: () => undefined })');
    const pages: Page[] = [];
    for (let i = 0; i < TABS; i++) {
      const page = await context.newPage();
      await page.goto(`${api}/inbox?token=${token}`);
      await page.waitForFunction(() => !!document.querySelector('herald-inbox')?.shadowRoot);
      pages.push(page);
    }
    const connections = await settle();
    const heaps = await Promise.all(pages.map(heap));
    const label = share ? 'shared (one leader tab)' : 'baseline: no Web Locks';
    console.log(`  ${label.padEnd(30)} server connections ${String(connections).padStart(3)}   JS heap per tab: min ${mb(Math.min(...heaps))} max ${mb(Math.max(...heaps))} total ${mb(heaps.reduce((a, b) => a + b, 0))}`);
    await context.close();
  }
  console.log(`  ${'baseline: an empty page'.padEnd(30)} JS heap ${mb(emptyHeap)}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
