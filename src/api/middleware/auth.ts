import type { MiddlewareHandler } from 'hono';
import { InvalidTokenError, type Verifier } from '../../auth/jwt.js';
import { ForbiddenError, UnauthorizedError } from '../../errors.js';
import type { ApiEnv } from '../env.js';

/** Verifies `Authorization: Bearer <JWT>` and puts the principal on the request (the request's logger then carries its tenant and sub). */
export function bearerAuth(verifier: Verifier): MiddlewareHandler<ApiEnv> {
  return async function authenticate(c, next) {
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer\s+(.+)$/i.exec(header);
    if (!match) throw new UnauthorizedError();
    try {
      c.set('principal', await verifier.verify(match[1].trim()));
    } catch (err) {
      // the reason (expired, no exp, lifetime too long, bad signature) tells a client's developer what to fix
      const why = err instanceof InvalidTokenError ? `: ${err.message}` : '';
      throw new UnauthorizedError(`The bearer token is invalid or expired${why}.`);
    }
    await next();
  };
}

/** Lets the request through only when the token carries `scope`. */
export function requireScope(scope: string): MiddlewareHandler<ApiEnv> {
  return async function checkScope(c, next) {
    if (!c.get('principal').scopes.has(scope)) throw new ForbiddenError(`This call needs the '${scope}' scope.`);
    await next();
  };
}
