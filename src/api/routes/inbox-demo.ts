import { createHash } from 'node:crypto';
import { Hono, type Context } from 'hono';
import type { Config } from '../../config.js';
import { NotFoundError } from '../../errors.js';
import type { ApiEnv } from '../env.js';
import { INBOX_PATH } from './client.js';

export const DEMO_PATH = '/inbox';
export const DEMO_SCRIPT_PATH = '/inbox/demo.js';

type DemoConfig = Pick<Config, 'NODE_ENV' | 'INBOX_DEMO' | 'INBOX_DEMO_WS_URL' | 'WS_PORT'>;

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

const PAGE_STYLE =
  'body{font:15px system-ui,sans-serif;margin:0;color:#1f2328}header{display:flex;align-items:center;justify-content:space-between;' +
  'padding:.75rem 1.5rem;border-bottom:1px solid #e5e7eb}h1{font-size:1.1rem;margin:0}main{max-width:40rem;margin:2rem auto;padding:0 1rem}' +
  'input{width:100%;font:13px monospace;padding:.4rem}button{margin-top:.5rem;padding:.4rem 1.2rem}code{background:#f3f4f6;padding:0 .2em}';
/** The page's one inline style, allowed by its hash: no 'unsafe-inline' anywhere. */
const STYLE_HASH = `'sha256-${createHash('sha256').update(PAGE_STYLE).digest('base64')}'`;

/**
 * The page's script, from 'self' like every script the page runs: it loads
 * the widget, takes the token out of the address bar (it would otherwise
 * stay in the history and be shown to anyone looking at the screen) and
 * hands a pasted token to the element.
 */
const DEMO_SCRIPT = `import '${INBOX_PATH}';
const url = new URL(location.href);
if (url.searchParams.has('token')) {
  url.searchParams.delete('token');
  history.replaceState(null, '', url.pathname + url.search + url.hash);
}
const form = document.getElementById('token-form');
form?.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const token = form.elements.token.value.trim();
  if (!token) return;
  document.querySelector('herald-inbox').token = token;
  form.hidden = true;
});
`;

/** The demo is for development; a production api serves it only when asked to. */
const demoEnabled = (config: DemoConfig) => config.NODE_ENV !== 'production' || config.INBOX_DEMO;

/** The realtime endpoint: INBOX_DEMO_WS_URL, else this page's host on WS_PORT, with the scheme the browser used. */
function wsUrlFor(c: Context, config: DemoConfig): string {
  if (config.INBOX_DEMO_WS_URL) return config.INBOX_DEMO_WS_URL;
  const url = new URL(c.req.url);
  const https = (c.req.header('x-forwarded-proto') ?? url.protocol.replace(':', '')) === 'https';
  return `${https ? 'wss' : 'ws'}://${url.hostname}:${config.WS_PORT}/api/v1/ws`;
}

function page(o: { apiUrl: string; wsUrl: string; token: string | null; locale: string | null; production: boolean }): string {
  const attrs = [`api-url="${escapeHtml(o.apiUrl)}"`, `ws-url="${escapeHtml(o.wsUrl)}"`, 'sound', 'browser-notifications'];
  if (o.token) attrs.push(`token="${escapeHtml(o.token)}"`);
  if (o.locale) attrs.push(`locale="${o.locale}"`);
  const howTo = o.production
    ? '<p>Paste a user token to see that user&#39;s inbox.</p>'
    : '<p>Open this page as <code>/inbox?token=&lt;user token&gt;</code> (<code>npm run -s token -- --sub user-123</code>) or paste the token below. ' +
      'Add <code>&amp;locale=zh-CN</code> for Chinese.</p>';
  return `<!doctype html>
<html lang="${o.locale === 'zh-CN' ? 'zh-CN' : 'en'}"><head><meta charset="utf-8"><title>Herald · inbox</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>${PAGE_STYLE}</style>
<script type="module" src="${DEMO_SCRIPT_PATH}"></script></head>
<body><header><h1>Herald inbox</h1><herald-inbox ${attrs.join(' ')}></herald-inbox></header>
<main>${howTo}
<form id="token-form"${o.token ? ' hidden' : ''}><label for="token">User token</label>
<input id="token" name="token" type="password" autocomplete="off" required>
<button type="submit">Connect</button></form>
<p>Send one: <code>curl -X POST ${escapeHtml(o.apiUrl)}/api/v1/notifications -H "authorization: Bearer &lt;token with notify:send&gt;" -H "content-type: application/json" -d '{"user_id":"user-123","title":"Hello","content":"From Herald"}'</code></p>
</main></body></html>`;
}

/**
 * GET /inbox: a page hosting `<herald-inbox>` for trying Herald out, with
 * GET /inbox/demo.js its script. In development and test the token may come
 * from `?token=`; with NODE_ENV=production both answer 404 unless
 * INBOX_DEMO=true, and even then the token comes only from the form (a
 * token in a URL ends up in logs and histories). The page's
 * Content-Security-Policy allows scripts from 'self' only.
 */
export function inboxDemoRoutes(config: DemoConfig) {
  const app = new Hono<ApiEnv>();
  const production = config.NODE_ENV === 'production';
  const guard = () => {
    if (!demoEnabled(config)) throw new NotFoundError('The inbox demo is off: set INBOX_DEMO=true to serve it in production.');
  };

  app.get(DEMO_PATH, (c) => {
    guard();
    const apiUrl = new URL(c.req.url).origin;
    const wsUrl = wsUrlFor(c, config);
    const locale = c.req.query('locale');
    const html = page({
      apiUrl,
      wsUrl,
      token: production ? null : (c.req.query('token') ?? null),
      locale: locale === 'zh-CN' || locale === 'en' ? locale : null,
      production,
    });
    const csp = [
      "default-src 'none'",
      "script-src 'self'",
      `style-src 'self' ${STYLE_HASH}`,
      `connect-src 'self' ${new URL(wsUrl).origin}`,
      // a notification's image_url may be on any https host
      "img-src 'self' data: https:",
      "base-uri 'none'",
      "form-action 'none'",
      "frame-ancestors 'none'",
    ].join('; ');
    return c.html(html, 200, {
      'content-security-policy': csp,
      'referrer-policy': 'no-referrer',
      'x-content-type-options': 'nosniff',
      'cache-control': 'no-store',
    });
  });

  app.get(DEMO_SCRIPT_PATH, (c) => {
    guard();
    return c.body(DEMO_SCRIPT, 200, { 'content-type': 'text/javascript; charset=UTF-8', 'x-content-type-options': 'nosniff' });
  });

  return app;
}
