import { SignJWT, jwtVerify, createRemoteJWKSet, decodeProtectedHeader, type JWTPayload } from 'jose';

/** Who is calling, as the token says. */
export interface Principal {
  sub: string;
  tenant: string;
  roles: string[];
  stores: string[];
  scopes: Set<string>;
}

export const SCOPES = { send: 'notify:send', templatesWrite: 'templates:write', admin: 'admin' } as const;

export interface Verifier {
  verify(token: string): Promise<Principal>;
}

export class InvalidTokenError extends Error {
  override name = 'InvalidTokenError';
}

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

export function principalFromClaims(claims: JWTPayload): Principal {
  if (typeof claims.sub !== 'string' || !claims.sub) throw new InvalidTokenError('token has no sub');
  const scope = typeof claims.scope === 'string' ? claims.scope : '';
  return {
    sub: claims.sub,
    tenant: typeof claims.tenant === 'string' && claims.tenant ? claims.tenant : 'default',
    roles: strings(claims.roles),
    stores: strings(claims.stores),
    scopes: new Set(scope.split(/\s+/).filter(Boolean)),
  };
}

/**
 * HS256 with the shared secret; RS256/ES256 from a JWKS URL when one is configured.
 *
 * Verified tokens are remembered (by their full text, signature included)
 * until they expire: a service sends thousands of requests with one token,
 * and re-running the signature check on each costs more than the rest of
 * the request. At most `cacheSize` tokens (default 10,000) are kept.
 */
export function createVerifier(opts: { secret: string; jwksUrl?: string; cacheSize?: number }): Verifier {
  // imported once: given the raw secret, jose imports it again on every verify (about a third of a new token's check)
  const key = crypto.subtle.importKey('raw', new TextEncoder().encode(opts.secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
  key.catch(() => undefined); // a bad secret fails each verify (401), not the process
  const jwks = opts.jwksUrl ? createRemoteJWKSet(new URL(opts.jwksUrl)) : undefined;
  const cacheSize = opts.cacheSize ?? 10_000;
  const cache = new Map<string, { principal: Principal; expiresAt: number }>();
  return {
    async verify(token) {
      const hit = cache.get(token);
      if (hit && hit.expiresAt > Date.now()) return hit.principal;
      if (hit) cache.delete(token);
      try {
        const alg = decodeProtectedHeader(token).alg;
        const { payload } =
          alg === 'HS256' || !jwks
            ? await jwtVerify(token, await key, { algorithms: ['HS256'] })
            : await jwtVerify(token, jwks, { algorithms: ['RS256', 'ES256'] });
        const principal = principalFromClaims(payload);
        if (payload.exp) {
          if (cache.size >= cacheSize) cache.delete(cache.keys().next().value!);
          cache.set(token, { principal, expiresAt: payload.exp * 1000 });
        }
        return principal;
      } catch (err) {
        if (err instanceof InvalidTokenError) throw err;
        throw new InvalidTokenError((err as Error).message);
      }
    },
  };
}

export interface TokenClaims {
  sub: string;
  tenant?: string;
  roles?: string[];
  stores?: string[];
  scope?: string;
  /** lifetime, e.g. '1h', '30d' (default '12h') */
  expiresIn?: string | number;
}

/** Mints an HS256 token (development CLI and tests). */
export function signToken(secret: string, claims: TokenClaims): Promise<string> {
  const { sub, expiresIn = '12h', ...rest } = claims;
  return new SignJWT({ tenant: 'default', roles: [], stores: [], ...rest })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime(expiresIn)
    .sign(new TextEncoder().encode(secret));
}
