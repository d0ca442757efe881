/**
 * `<herald-inbox>` in a real browser (Debian's chromium driven by
 * playwright-core) against real api, ingest and realtime processes sharing
 * one queue prefix: live notifications and the unseen badge across tabs and
 * browsers, read, snooze, archive, preferences, text that stays text, the
 * zh-CN strings, and the /inbox demo page's production rules.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { signToken } from '../src/auth/jwt.js';
import { launchChromium, openFixturePage } from './helpers/browser.js';
import { TEST_JWT_SECRET } from './helpers/env.js';
import { uniq } from './helpers/harness.js';
import { freePort } from './helpers/procs.js';
import { spawnRole, startServingRoles } from './helpers/roles.js';

const tenant = uniq('tenant');
const cleanups: Array<() => unknown> = [];
let base: string;
let wsUrl: string;
let svc: string;
let browser: Browser;

beforeAll(async () => {
  const [port, wsPort] = [await freePort(), await freePort()];
  const env = {
    QUEUE_PREFIX: uniq('test-inbox'),
    PORT: String(port),
    WS_PORT: String(wsPort),
    WS_THREADS: '1',
    RATE_LIMIT_USER_PER_MIN: '100000',
    WS_UPGRADE_USER_PER_MIN: '0',
    MAX_CONNECTIONS_PER_USER: '10',
  };
  await startServingRoles(env, cleanups);
  base = `http://127.0.0.1:${port}`;
  wsUrl = `ws://127.0.0.1:${wsPort}/api/v1/ws`;
  svc = await signToken(TEST_JWT_SECRET, { sub: 'svc', tenant, scope: 'notify:send' });
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  for (const c of cleanups.reverse()) await c();
});

const userToken = (sub: string) => signToken(TEST_JWT_SECRET, { sub, tenant });

async function http(method: string, path: string, token: string, body?: unknown) {
  const res = await fetch(`${base}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, body: (await res.json()) as any };
}

async function send(user: string, fields: Record<string, unknown> = {}): Promise<string> {
  const r = await http('POST', '/notifications', svc, { title: 'Hello', content: 'From Herald', user_id: user, ...fields });
  expect(r.status).toBe(202);
  return r.body.id;
}

const unseenCount = async (token: string) => (await http('GET', `/notifications/count?filters=${encodeURIComponent('[{"seen":false}]')}`, token)).body.counts[0];

/** The demo page for `token`, once the widget's live connection is open. */
async function openDemo(context: BrowserContext, token: string, query = ''): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`${base}/inbox?token=${token}${query}`);
  await page.locator('herald-inbox .status[data-connection=open]').waitFor({ state: 'attached', timeout: 15_000 });
  return page;
}

const badge = (page: Page) => page.locator('herald-inbox .badge');
const badgeText = async (page: Page) => ((await badge(page).isVisible()) ? await badge(page).textContent() : '0');
const item = (page: Page, id: string) => page.locator(`herald-inbox li.item[data-id="${id}"]`);
const itemIds = (page: Page) => page.locator('herald-inbox li.item').evaluateAll((els) => els.map((e) => e.getAttribute('data-id')));

describe('<herald-inbox>', () => {
  test('a send shows in every tab and browser of the user; opening the panel marks it seen and a click reads it, everywhere', { timeout: 90_000 }, async () => {
    const user = uniq('u');
    const token = await userToken(user);
    const contextA = await browser.newContext();
    const contextB = await browser.newContext();
    const cspErrors: string[] = [];
    const a1 = await openDemo(contextA, token);
    a1.on('console', (m) => /Content.Security.Policy/i.test(m.text()) && cspErrors.push(m.text()));
    const a2 = await openDemo(contextA, token);
    const b = await openDemo(contextB, token);
    // the token left the address bar
    expect(a1.url()).toBe(`${base}/inbox`);

    const id = await send(user, { title: 'Order #42 ready', content: 'Table 7', image_url: 'https://img.example.com/order.png' });
    for (const p of [a1, a2, b]) {
      await expect.poll(() => badgeText(p), { timeout: 10_000 }).toBe('1');
      await expect.poll(() => item(p, id).count()).toBe(1);
    }
    expect(await item(a1, id).locator('img').getAttribute('src')).toBe('https://img.example.com/order.png');
    await expect.poll(() => a1.locator(`herald-inbox .toast[data-id="${id}"]`).textContent()).toContain('Order #42 ready');
    expect(await a1.locator('herald-inbox [aria-live=polite]').textContent()).toContain('Order #42 ready');

    // opening the panel: nothing is unseen, here, in the api and on the other tab and browser
    await a1.locator('herald-inbox .bell').click();
    await expect.poll(() => item(a1, id).isVisible()).toBe(true);
    await expect.poll(() => badgeText(a1)).toBe('0');
    await expect.poll(() => unseenCount(token), { timeout: 2000 }).toBe(0);
    await expect.poll(() => badgeText(a2), { timeout: 2000 }).toBe('0');
    await expect.poll(() => badgeText(b), { timeout: 2000 }).toBe('0');

    // a click reads it
    expect(await item(a1, id).getAttribute('class')).toContain('unread');
    await item(a1, id).locator('button.open').click();
    await expect.poll(async () => (await http('GET', `/notifications/${id}`, token)).body.is_read, { timeout: 2000 }).toBe(true);
    for (const p of [a1, a2, b]) await expect.poll(() => item(p, id).getAttribute('class'), { timeout: 2000 }).toBe('item');
    expect(a1.url()).toBe(`${base}/inbox`); // no url: nowhere to go

    // Escape closes the panel; a second notification is new again on every tab
    await a1.keyboard.press('Escape');
    await expect.poll(() => a1.locator('herald-inbox .panel').isHidden()).toBe(true);
    await send(user, { title: 'Second' });
    for (const p of [a1, a2, b]) await expect.poll(() => badgeText(p), { timeout: 10_000 }).toBe('1');
    // a click outside the panel closes it too
    await b.locator('herald-inbox .bell').click();
    await expect.poll(() => badgeText(a1), { timeout: 2000 }).toBe('0');
    await b.locator('main').click();
    await expect.poll(() => b.locator('herald-inbox .panel').isHidden()).toBe(true);
    expect(cspErrors).toEqual([]);
    await contextA.close();
    await contextB.close();
  });

  test('snooze for 2 s takes it out of the list and the counts, and the wake frame brings it back; archive, unarchive and archive-all move items between tabs', { timeout: 90_000 }, async () => {
    const user = uniq('u');
    const token = await userToken(user);
    const context = await browser.newContext();
    const page = await openDemo(context, token);
    const first = await send(user, { title: 'first' });
    const second = await send(user, { title: 'second' });
    await expect.poll(() => badgeText(page), { timeout: 10_000 }).toBe('2');
    await page.locator('herald-inbox .bell').click();
    await expect.poll(() => itemIds(page)).toEqual([second, first]);

    // snooze `first` until two seconds from now, typed into the menu's date-time field
    await item(page, first).locator('[data-act=snooze]').click();
    const until = await page.evaluate(() => {
      const d = new Date(Date.now() + 2500);
      const p = (n: number) => String(n).padStart(2, '0');
      return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
    });
    await item(page, first).locator('input[type=datetime-local]').fill(until);
    const lists: string[] = [];
    page.on('request', (r) => r.url().includes('/api/v1/notifications?') && lists.push(r.url()));
    await item(page, first).locator('[data-snooze=at]').click();
    await expect.poll(() => itemIds(page)).toEqual([second]);
    await expect.poll(async () => (await http('GET', '/notifications/count?filters=' + encodeURIComponent('[{"read":false}]'), token)).body.counts[0]).toBe(1);
    expect((await http('GET', '/notifications', token)).body.notifications.map((n: any) => n.id)).toEqual([second]);
    // it wakes: back in the list from the frame alone (no list request), unread, and in the counts
    await expect.poll(() => itemIds(page), { timeout: 10_000 }).toEqual([second, first]);
    expect(lists).toEqual([]);
    expect(await item(page, first).getAttribute('class')).toContain('unread');
    expect((await http('GET', '/notifications/count?filters=' + encodeURIComponent('[{"read":false}]'), token)).body.counts[0]).toBe(2);

    // archive `second`: out of All, into Archived
    await item(page, second).locator('[data-act=archive]').click();
    await expect.poll(() => itemIds(page)).toEqual([first]);
    await page.locator('herald-inbox [data-tab=archived]').click();
    await expect.poll(() => itemIds(page)).toEqual([second]);
    // unarchive it: out of Archived, back in All
    await item(page, second).locator('[data-act=unarchive]').click();
    await expect.poll(() => itemIds(page)).toEqual([]);
    await page.locator('herald-inbox [data-tab=all]').click();
    await expect.poll(() => itemIds(page)).toEqual([second, first]);
    // the Unread tab holds both; archive all empties All and fills Archived
    await page.locator('herald-inbox [data-tab=unread]').click();
    await expect.poll(() => itemIds(page)).toEqual([second, first]);
    await page.locator('herald-inbox [data-tab=all]').click();
    await page.locator('herald-inbox [data-act=archive-all]').click();
    await expect.poll(() => itemIds(page)).toEqual([]);
    await page.locator('herald-inbox [data-tab=archived]').click();
    await expect.poll(() => itemIds(page)).toEqual([second, first]);
    expect((await http('GET', '/notifications?archived=true', token)).body.notifications.map((n: any) => n.id)).toEqual([second, first]);
    expect((await http('GET', '/notifications', token)).body.notifications).toEqual([]);
    await context.close();
  });

  test('an open snooze menu, with what was typed in it, stays open when a notification arrives and the list is drawn again', { timeout: 60_000 }, async () => {
    const user = uniq('u');
    const token = await userToken(user);
    const context = await browser.newContext();
    const page = await openDemo(context, token);
    const first = await send(user, { title: 'first' });
    await expect.poll(() => badgeText(page), { timeout: 10_000 }).toBe('1');
    await page.locator('herald-inbox .bell').click();
    await expect.poll(() => itemIds(page)).toEqual([first]);
    await item(page, first).locator('[data-act=snooze]').click();
    const field = item(page, first).locator('input[type=datetime-local]');
    const weekAhead = await page.evaluate(() => {
      const d = new Date(Date.now() + 7 * 86_400_000);
      const p = (n: number) => String(n).padStart(2, '0');
      return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
    });
    await field.fill(weekAhead);
    await field.focus();
    // as the input holds it: a time whose seconds are 0 reads back without them
    const typed = await field.inputValue();
    expect(typed).toBe(weekAhead.replace(/:00$/, ''));
    const second = await send(user, { title: 'second' });
    await expect.poll(() => itemIds(page), { timeout: 10_000 }).toEqual([second, first]);
    expect(await field.inputValue()).toBe(typed);
    expect(await field.evaluate((el) => el.getRootNode() instanceof ShadowRoot && (el.getRootNode() as ShadowRoot).activeElement === el)).toBe(true);
    await item(page, first).locator('[data-snooze=at]').click();
    await expect.poll(() => itemIds(page)).toEqual([second]);
    await expect.poll(async () => (await http('GET', `/notifications/${first}`, token)).body.snoozed_until).not.toBeNull();
    await context.close();
  });

  test('scrolling to the end of the list loads the next page by its cursor', { timeout: 60_000 }, async () => {
    const user = uniq('u');
    const token = await userToken(user);
    const sent = [];
    for (let i = 0; i < 25; i++) sent.push(await send(user, { title: `n${i}` }));
    await expect.poll(async () => (await http('GET', '/notifications?limit=100', token)).body.notifications.length, { timeout: 10_000 }).toBe(25);
    const newestFirst = (await http('GET', '/notifications?limit=100', token)).body.notifications.map((n: any) => n.id);
    expect([...newestFirst].sort()).toEqual([...sent].sort());
    const context = await browser.newContext({ viewport: { width: 1000, height: 700 } });
    const page = await openDemo(context, token);
    const cursors: string[] = [];
    page.on('request', (r) => r.url().includes('cursor=') && cursors.push(r.url()));
    await page.locator('herald-inbox .bell').click();
    await expect.poll(() => itemIds(page)).toHaveLength(20);
    await page.locator('herald-inbox .body').evaluate((el) => (el.scrollTop = el.scrollHeight));
    await expect.poll(() => itemIds(page)).toEqual(newestFirst);
    expect(cursors).toHaveLength(1);
    await context.close();
  });

  test('markup in a title, a content or an action label is shown as text and never runs; a javascript: url is not followed', { timeout: 60_000 }, async () => {
    const user = uniq('u');
    const token = await userToken(user);
    const img = '<img src=x onerror=window.__xss=1>';
    const script = '<script>window.__xss=1</script>';
    const id = await send(user, { title: img, content: script, actions: [{ label: img, url: 'https://example.com/a', style: 'primary' }] });
    await expect.poll(async () => (await http('GET', `/notifications/${id}`, token)).status, { timeout: 10_000 }).toBe(200);
    // A host page with no Content-Security-Policy, as many apps have: were any of it parsed as HTML, it would run.
    const html = `<!doctype html><meta charset="utf-8"><script type="module" src="/client/herald-inbox.js"></script>
<herald-inbox api-url="${base}" ws-url="${wsUrl}" token="${token}" locale="en"></herald-inbox>`;
    const posted: string[] = [];
    const { context, page } = await openFixturePage(browser, base, html, {
      setup: async (p) => {
        // a notification from somewhere other than the api (a cache, a proxy) may carry a javascript: link
        await p.route(`${base}/api/v1/notifications?*`, async (route) => {
          const res = await route.fetch();
          const body = await res.json();
          for (const n of body.notifications) {
            n.url = 'javascript:window.__xss=1';
            n.image_url = 'javascript:window.__xss=4';
            for (const a of n.actions) a.url = 'javascript:window.__xss=2';
          }
          await route.fulfill({ response: res, json: body });
        });
        await p.route(`${base}/api/v1/notifications/*/actions/*`, async (route) => {
          posted.push(route.request().url());
          await route.fulfill({ json: { success: true, url: 'javascript:window.__xss=3' } });
        });
      },
    });
    await page.locator('herald-inbox .bell').click();
    await expect.poll(() => item(page, id).count(), { timeout: 10_000 }).toBe(1);
    expect(await item(page, id).locator('.t').textContent()).toBe(img);
    expect(await item(page, id).locator('.c').textContent()).toBe(script);
    expect(await item(page, id).locator('[data-act=action]').textContent()).toBe(img);
    expect(await page.locator('herald-inbox img, herald-inbox script').count()).toBe(0);

    const url = page.url();
    await item(page, id).locator('button.open').click();
    await expect.poll(async () => (await http('GET', `/notifications/${id}`, token)).body.is_read).toBe(true);
    await item(page, id).locator('[data-act=action]').click();
    await expect.poll(() => posted.length).toBe(1);
    await new Promise((r) => setTimeout(r, 300));
    expect(page.url()).toBe(url);
    expect(await page.evaluate(() => (window as any).__xss)).toBeUndefined();
    await context.close();
  });

  test('the preferences view loads what is stored and saves what the user sets', { timeout: 60_000 }, async () => {
    const user = uniq('u');
    const token = await userToken(user);
    expect((await http('PUT', '/preferences', token, { channels: { warning: ['app', 'sms'] } })).status).toBe(200);
    const context = await browser.newContext();
    const page = await openDemo(context, token);
    await page.locator('herald-inbox .bell').click();
    await page.locator('herald-inbox [data-act=preferences]').click();
    const row = (type: string) => page.locator(`herald-inbox fieldset[data-row="${type}"]`);
    await expect.poll(() => row('warning').locator('input[data-type=warning]').isChecked()).toBe(true);
    expect(await row('warning').locator('input[data-channel=sms]').isChecked()).toBe(true);
    expect(await row('warning').locator('input[data-channel=email]').isChecked()).toBe(false);
    expect(await row('alert').locator('input[data-channel=email]').isDisabled()).toBe(true);

    await row('alert').locator('input[data-type=alert]').check();
    await row('alert').locator('input[data-channel=email]').check();
    await row('warning').locator('input[data-type=warning]').uncheck();
    await page.locator('herald-inbox input[name=dnd]').check();
    await page.locator('herald-inbox input[name=dnd-start]').fill('22:30');
    await page.locator('herald-inbox input[name=dnd-end]').fill('07:15');
    await page.locator('herald-inbox input[name=timezone]').fill('Asia/Shanghai');
    await page.locator('herald-inbox form[data-view=preferences] button[type=submit]').click();
    await expect.poll(() => page.locator('herald-inbox form[data-view=preferences] [role=status]').textContent()).toBe('Saved');

    const stored = (await http('GET', '/preferences', token)).body;
    expect(stored.channels).toEqual({ alert: ['email'] });
    expect(stored.do_not_disturb).toEqual({ enabled: true, start: '22:30', end: '07:15', timezone: 'Asia/Shanghai' });
    expect(stored.mute_until).toBeNull();
    await context.close();
  });

  test('locale="zh-CN" speaks Chinese; without the attribute the browser language decides', { timeout: 60_000 }, async () => {
    const user = uniq('u');
    const token = await userToken(user);
    await send(user, { title: '库存不足' });
    const context = await browser.newContext({ locale: 'en-US' });
    const zh = await openDemo(context, token, '&locale=zh-CN');
    await zh.locator('herald-inbox .bell').click();
    const tabs = () => zh.locator('herald-inbox [role=tab]').allTextContents();
    await expect.poll(tabs).toEqual(['全部', expect.stringMatching(/^未读/), '已归档']);
    expect(await zh.locator('herald-inbox [data-act=read-all]').textContent()).toBe('全部已读');
    await expect.poll(() => zh.locator('herald-inbox li.item time').first().textContent()).toMatch(/现在|秒|分钟/);
    expect(await zh.locator('herald-inbox [data-act=snooze]').first().textContent()).toBe('稍后提醒');

    const en = await openDemo(context, token);
    await en.locator('herald-inbox .bell').click();
    await expect.poll(() => en.locator('herald-inbox [role=tab]').first().textContent()).toBe('All');
    const zhBrowser = await browser.newContext({ locale: 'zh-CN' });
    const auto = await openDemo(zhBrowser, token);
    await auto.locator('herald-inbox .bell').click();
    await expect.poll(() => auto.locator('herald-inbox [role=tab]').first().textContent()).toBe('全部');
    await context.close();
    await zhBrowser.close();
  });
});

describe('the /inbox demo page', () => {
  test('served outside production with a strict Content-Security-Policy and no inline script', async () => {
    const res = await fetch(`${base}/inbox?token=abc`);
    expect(res.status).toBe(200);
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    const html = await res.text();
    expect(html).toContain('token="abc"');
    expect([...html.matchAll(/<script\b[^>]*>/g)].every((m) => /\bsrc=/.test(m[0]))).toBe(true);
  });

  test('with NODE_ENV=production it is 404 unless INBOX_DEMO=true, and then it never takes the token from the URL', { timeout: 90_000 }, async () => {
    const start = async (env: Record<string, string>) => {
      const port = await freePort();
      const api = spawnRole('src/api/server.ts', { env: { NODE_ENV: 'production', PORT: String(port), ...env } }, cleanups);
      await api.waitForLog((l) => l.msg === 'api listening', 60_000, 'a production api');
      return `http://127.0.0.1:${port}`;
    };
    const [off, on] = await Promise.all([start({}), start({ INBOX_DEMO: 'true' })]);
    expect((await fetch(`${off}/inbox`)).status).toBe(404);
    expect((await fetch(`${off}/inbox/demo.js`)).status).toBe(404);

    const secret = await userToken(uniq('u'));
    const res = await fetch(`${on}/inbox?token=${secret}`);
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).not.toContain(secret);
    expect(html).toContain('id="token-form"');
    expect((await fetch(`${on}/inbox/demo.js`)).status).toBe(200);

    // in the browser: the form is there and the element has no token
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${on}/inbox?token=${secret}`);
    await expect.poll(() => page.locator('#token-form').isVisible()).toBe(true);
    expect(await page.locator('herald-inbox').getAttribute('token')).toBeNull();
    await context.close();
  });
});
