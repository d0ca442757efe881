import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { HonoAdapter } from '@bull-board/hono';
import { serveStatic } from '@hono/node-server/serve-static';
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { decodeJwt } from 'jose';
import { SCOPES, type Principal } from '../../auth/jwt.js';
import { UnauthorizedError } from '../../errors.js';
import type { ApiDeps, ApiEnv } from '../env.js';
import { auditBoardChanges } from './admin-board-audit.js';

/** Where bull-board lives; the cookie is scoped to /admin so no api route ever sees it. */
export const BOARD_PATH = '/admin/queues';
export const LOGIN_PATH = '/admin/login';
export const ADMIN_COOKIE = 'herald_admin';

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

function loginPage(message?: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Herald · operator sign-in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:16px system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem}
textarea{width:100%;font:13px monospace}button{margin-top:.75rem;padding:.4rem 1.2rem}.err{color:#b00020}</style></head>
<body><h1>Herald queues</h1>
<p>Paste a token with the <code>admin</code> scope (<code>npm run token -- --sub you --scope admin</code>).</p>
${message ? `<p class="err" role="alert">${escapeHtml(message)}</p>` : ''}
<form method="post" action="${LOGIN_PATH}">
<label for="token">Admin token</label>
<textarea id="token" name="token" rows="6" required autocomplete="off"></textarea>
<button type="submit">Sign in</button>
</form></body></html>`;
}

/** Cookies follow the scheme the client used (a TLS-terminating proxy says so in X-Forwarded-Proto). */
const isHttps = (c: Context) => (c.req.header('x-forwarded-proto') ?? new URL(c.req.url).protocol.replace(':', '')) === 'https';

/**
 * bull-board for every queue in queues/names.ts, behind the `admin` scope.
 * A browser signs in with the login form or `?token=`; either sets an
 * HttpOnly, SameSite=Strict cookie holding the token (so no script can read
 * it and no other site can make the browser use it), valid until the token
 * expires. Scripts may send `Authorization: Bearer` instead. Everyone else
 * gets 401: the login form for a browser, problem+json otherwise.
 */
export function adminRoutes(deps: ApiDeps) {
  const app = new Hono<ApiEnv>();

  const queues = deps.queues.all().map((queue) => new BullMQAdapter(queue));
  const board = new HonoAdapter(serveStatic);
  board.setBasePath(BOARD_PATH);
  createBullBoard({ queues, serverAdapter: board, options: { uiConfig: { boardTitle: 'Herald', hideDocsLink: true } } });

  /** The admin principal for `token`, or undefined. */
  const adminFrom = async (token: string | undefined): Promise<Principal | undefined> => {
    if (!token) return undefined;
    try {
      const who = await deps.verifier.verify(token);
      return who.scopes.has(SCOPES.admin) ? who : undefined;
    } catch {
      return undefined;
    }
  };

  const remember = (c: Context, token: string) => {
    const exp = decodeJwt(token).exp;
    setCookie(c, ADMIN_COOKIE, token, {
      httpOnly: true,
      sameSite: 'Strict',
      secure: isHttps(c),
      path: '/admin',
      ...(exp ? { expires: new Date(exp * 1000) } : {}),
    });
  };

  const refuse = (c: Context, message: string) => {
    const wantsHtml = (c.req.header('accept') ?? '').includes('text/html');
    if (wantsHtml) return c.html(loginPage(message), 401);
    throw new UnauthorizedError(message);
  };

  app.get(LOGIN_PATH, (c) => c.html(loginPage()));
  app.post(LOGIN_PATH, async (c) => {
    const form = await c.req.parseBody();
    const token = typeof form.token === 'string' ? form.token.trim() : '';
    if (!(await adminFrom(token))) return c.html(loginPage('That token is invalid, expired, or lacks the admin scope.'), 401);
    remember(c, token);
    return c.redirect(BOARD_PATH, 303);
  });
  app.post('/admin/logout', (c) => {
    deleteCookie(c, ADMIN_COOKIE, { path: '/admin' });
    return c.redirect(LOGIN_PATH, 303);
  });

  const gate: MiddlewareHandler<ApiEnv> = async function requireAdmin(c, next) {
    const fromQuery = c.req.query('token');
    if (fromQuery !== undefined) {
      if (!(await adminFrom(fromQuery))) return refuse(c, 'That token is invalid, expired, or lacks the admin scope.');
      remember(c, fromQuery);
      // Drop the token from the address bar and history.
      const url = new URL(c.req.url);
      url.searchParams.delete('token');
      return c.redirect(url.pathname + url.search, 303);
    }
    const bearer = /^Bearer\s+(.+)$/i.exec(c.req.header('authorization') ?? '')?.[1];
    const who = await adminFrom(bearer ?? getCookie(c, ADMIN_COOKIE));
    if (!who) return refuse(c, 'Sign in with a token that has the admin scope.');
    // the audit log names who acted on the board
    c.set('principal', who);
    c.set('logger', c.get('logger').child({ tenant: who.tenant, sub: who.sub }));
    await next();
  };
  app.use(BOARD_PATH, gate);
  app.use(`${BOARD_PATH}/*`, gate);
  // every board call that changes a queue or a job goes to the audit log
  app.use(`${BOARD_PATH}/api/*`, auditBoardChanges({ queues: deps.queues, em: () => deps.orm.em.fork() }, `${BOARD_PATH}/api/queues`));
  app.route(BOARD_PATH, board.registerPlugin());
  return app;
}
