import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { z } from 'zod';
import { EXTERNAL_CHANNELS } from '../../../queues/jobs.js';
import { clearOutbox, listOutbox, type OutboxMessage } from '../../channels/outbox.js';
import type { Config } from '../../config.js';
import { NotFoundError, ValidationError } from '../../errors.js';
import { fieldErrors } from '../../domain/sending/input.js';
import type { ApiDeps, ApiEnv } from '../env.js';
import { requireAdminToken } from './admin-token.js';

export const OUTBOX_PATH = '/admin/outbox';
export const OUTBOX_PAGE_PATH = '/admin/outbox.html';

/** GET /admin/outbox query: a page of the caller's tenant's outbox, newest first. */
export const outboxQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(200).default(50).meta({ description: 'messages per page (default 50, at most 200)' }),
  cursor: z
    .string()
    .regex(/^\d{1,19}$/, 'must be the next_cursor of the previous page')
    .optional()
    .meta({ description: "the previous page's next_cursor: this page starts below it" }),
  channel: z.enum(EXTERNAL_CHANNELS).optional().meta({ description: 'only this channel' }),
  address: z.string().min(1).max(4096).optional().meta({ description: 'only messages to this address (exact)' }),
});

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

const PAGE_STYLE =
  'body{font:14px system-ui,sans-serif;margin:0;color:#1f2328}header{padding:.75rem 1.5rem;border-bottom:1px solid #e5e7eb}' +
  'h1{font-size:1.1rem;margin:0}main{max-width:60rem;margin:1rem auto;padding:0 1rem}' +
  'article{border:1px solid #e5e7eb;border-radius:6px;margin:0 0 1rem;padding:.75rem 1rem}' +
  '.meta{color:#57606a;font-size:12px}.channel{font-weight:600;text-transform:uppercase;margin-right:.5rem}' +
  'h2{font-size:1rem;margin:.4rem 0}pre{white-space:pre-wrap;font:13px/1.45 ui-monospace,monospace;background:#f6f8fa;padding:.5rem;margin:.4rem 0}' +
  'iframe{width:100%;height:24rem;border:1px solid #d0d7de;border-radius:4px;background:#fff}';

/**
 * The page's policy: no script anywhere (default-src 'none' and a sandbox
 * without allow-scripts on each email frame). Styles may be inline because
 * an email's HTML, shown in a srcdoc frame that inherits this policy,
 * carries its own; everything of a message in the page itself is escaped
 * text. Pictures in emails come from anywhere over https, as in a mail
 * client.
 */
const PAGE_CSP = [
  "default-src 'none'",
  "style-src 'unsafe-inline'",
  'img-src https: data:',
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

function messageHtml(m: OutboxMessage): string {
  const email = m.html
    ? `<iframe sandbox="" referrerpolicy="no-referrer" title="${escapeHtml(m.subject)}" srcdoc="${escapeHtml(m.html)}"></iframe>`
    : '';
  const rich = Object.keys(m.rich).length ? `<pre>${escapeHtml(JSON.stringify(m.rich, null, 2))}</pre>` : '';
  return `<article id="m${escapeHtml(m.id)}">
<div class="meta"><span class="channel">${escapeHtml(m.channel)}</span>to <strong>${escapeHtml(m.address)}</strong> · ${escapeHtml(m.created_at)} · delivery ${escapeHtml(m.delivery_id)}</div>
<h2>${escapeHtml(m.subject)}</h2>
<pre>${escapeHtml(m.text)}</pre>
${email}${rich}</article>`;
}

function page(messages: OutboxMessage[], next: string | null, filters: { channel?: string; address?: string }): string {
  const nextLink = next
    ? `<p><a href="${OUTBOX_PAGE_PATH}?${escapeHtml(new URLSearchParams({ ...filters, cursor: next } as Record<string, string>).toString())}">Older messages</a></p>`
    : '';
  const body = messages.length ? messages.map(messageHtml).join('\n') : '<p>The outbox is empty.</p>';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Herald · development outbox</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>${PAGE_STYLE}</style></head>
<body><header><h1>Development outbox</h1>
<p class="meta">What the channels without credentials would have sent (NODE_ENV=development), newest first. Nothing here left the machine. Clear it with <code>DELETE ${OUTBOX_PATH}</code>.</p></header>
<main>${body}
${nextLink}</main></body></html>`;
}

/** The outbox is a development aid: with any other NODE_ENV its routes do not exist. */
function developmentOnly(config: Pick<Config, 'NODE_ENV'>): MiddlewareHandler<ApiEnv> {
  return async function outboxExists(_c, next) {
    if (config.NODE_ENV !== 'development') throw new NotFoundError('The outbox exists only with NODE_ENV=development.');
    await next();
  };
}

const wantsHtml = (c: Context) => (c.req.header('accept') ?? '').includes('text/html');

/**
 * The development outbox (src/channels/outbox.ts), for operators of the
 * caller's tenant: GET /admin/outbox answers JSON, or the page when the
 * client asks for HTML (a browser does); GET /admin/outbox.html is the page
 * for any client; DELETE /admin/outbox empties it.
 */
export function adminOutboxRoutes(deps: ApiDeps) {
  const app = new Hono<ApiEnv>();
  const guard = [developmentOnly(deps.config), requireAdminToken(deps.verifier)] as const;

  const list = async (c: Context<ApiEnv>, html: boolean) => {
    const q = outboxQuery.safeParse(c.req.query());
    if (!q.success) throw new ValidationError(fieldErrors(q.error), 'The query has invalid parameters.');
    const { messages, next_cursor } = await listOutbox(deps.orm.em.fork(), c.get('principal').tenant, q.data);
    if (!html) return c.json({ messages, count: messages.length, next_cursor });
    return c.html(page(messages, next_cursor, { ...(q.data.channel && { channel: q.data.channel }), ...(q.data.address && { address: q.data.address }) }), 200, {
      'content-security-policy': PAGE_CSP,
      'referrer-policy': 'no-referrer',
      'x-content-type-options': 'nosniff',
      'cache-control': 'no-store',
    });
  };

  app.get(OUTBOX_PATH, ...guard, (c) => list(c, wantsHtml(c)));
  app.get(OUTBOX_PAGE_PATH, ...guard, (c) => list(c, true));
  app.delete(OUTBOX_PATH, ...guard, async (c) => {
    const deleted = await clearOutbox(deps.orm.em.fork(), c.get('principal').tenant);
    c.get('logger').info({ deleted }, 'outbox cleared');
    return c.json({ deleted });
  });
  return app;
}
