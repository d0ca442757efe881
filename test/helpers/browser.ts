import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

/** Debian's chromium: the tests never download a browser. */
export const CHROMIUM = '/usr/bin/chromium';

/** Chromium, headless, with the flags a container needs: no sandbox (root), no GPU, no traffic of its own. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

export interface FixturePageOptions {
  /** the made-up path on `origin` the page is served at (default `/__test/page.html`) */
  path?: string;
  /** runs before the page loads: exposeFunction, route, routeWebSocket must be in place by then */
  setup?: (page: Page) => Promise<unknown>;
}

/**
 * Opens `html` as a page of `origin` (the api's) in a browser context of its
 * own: page.route answers a path the api does not serve, so the page is
 * same-origin with the api (its scripts and fetches are the api's own)
 * without the api hosting any test page. One context per page keeps pages
 * apart: no shared storage, locks or broadcast channels between them.
 */
export async function openFixturePage(browser: Browser, origin: string, html: string, options: FixturePageOptions = {}): Promise<{ context: BrowserContext; page: Page }> {
  // A response page.route makes up comes from no address, so Chromium counts the page as public and
  // blocks what it opens on 127.0.0.1 (Local Network Access). Served by the api itself it would be a
  // loopback page with nothing blocked: the permission restores that.
  const context = await browser.newContext({ permissions: ['local-network-access'] });
  const page = await context.newPage();
  const url = origin + (options.path ?? '/__test/page.html');
  await page.route(url, (route) => route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: html }));
  await options.setup?.(page);
  await page.goto(url);
  return { context, page };
}
