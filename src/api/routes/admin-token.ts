import type { MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';
import { InvalidTokenError, SCOPES, type Verifier } from '../../auth/jwt.js';
import { ForbiddenError, UnauthorizedError } from '../../errors.js';
import type { ApiEnv } from '../env.js';
import { ADMIN_COOKIE, LOGIN_PATH } from './admin.js';

/**
 * The operator routes under /admin beside the queue board: an `admin`
 * token as `Authorization: Bearer`, or the cookie the sign-in page sets for
 * /admin (HttpOnly, SameSite=Strict: another site cannot make a browser use
 * it), so the outbox page opens in the browser that signed in to the
 * board. No token is 401; a valid token without the scope is 403.
 */
export function requireAdminToken(verifier: Verifier): MiddlewareHandler<ApiEnv> {
  return async function adminToken(c, next) {
    const bearer = /^Bearer\s+(.+)$/i.exec(c.req.header('authorization') ?? '')?.[1]?.trim();
    const token = bearer ?? getCookie(c, ADMIN_COOKIE);
    if (!token) throw new UnauthorizedError(`A bearer token with the '${SCOPES.admin}' scope is required (or sign in at ${LOGIN_PATH}).`);
    let who;
    try {
      who = await verifier.verify(token);
    } catch (err) {
      const why = err instanceof InvalidTokenError ? `: ${err.message}` : '';
      throw new UnauthorizedError(`The token is invalid or expired${why}.`);
    }
    if (!who.scopes.has(SCOPES.admin)) throw new ForbiddenError(`This call needs the '${SCOPES.admin}' scope.`);
    c.set('principal', who);
    c.set('logger', c.get('logger').child({ tenant: who.tenant, sub: who.sub }));
    await next();
  };
}
