import { createHmac, timingSafeEqual } from 'node:crypto';
import { SignJWT, jwtVerify, createRemoteJWKSet, type JWTPayload } from 'jose';
import { isStorable } from '../db/text.js';

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
  /**
   * The same check without waiting, where one is possible: a principal, or
   * InvalidTokenError thrown, or undefined when the token needs the JWKS
   * (call verify). The realtime node upgrades a socket inside uWS's upgrade
   * callback this way (src/realtime/admission.ts).
   */
  verifySync?(token: string): Principal | undefined;
}

export class InvalidTokenError extends Error {
  override name = 'InvalidTokenError';
}

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

export function principalFromClaims(claims: JWTPayload): Principal {
  if (typeof claims.sub !== 'string' || !claims.sub) throw new InvalidTokenError('token has no sub');
  const scope = typeof claims.scope === 'string' ? claims.scope : '';
  const principal = {
    sub: claims.sub,
    tenant: typeof claims.tenant === 'string' && claims.tenant ? claims.tenant : 'default',
    roles: strings(claims.roles),
    stores: strings(claims.stores),
    scopes: new Set(scope.split(/\s+/).filter(Boolean)),
  };
  // these names end up in every query and row of the caller: a NUL in one would fail them all, far from here
  if (![principal.sub, principal.tenant, ...principal.roles, ...principal.stores].every(isStorable))
    throw new InvalidTokenError('token claims sub, tenant, roles or stores hold a NUL character or a lone surrogate');
  return principal;
}

/** How long a verified token may live, in seconds (exp − iat). */
export interface TokenLifetimes {
  /** a token without a sending or admin scope (a user's), default 30 days */
  userMaxTtlS?: number;
  /** a token with notify:send, templates:write or admin (a service's or an operator's), default 365 days */
  serviceMaxTtlS?: number;
}

export const DEFAULT_USER_MAX_TTL_S = 30 * 86_400;
export const DEFAULT_SERVICE_MAX_TTL_S = 365 * 86_400;

const SERVICE_SCOPES: readonly string[] = [SCOPES.send, SCOPES.templatesWrite, SCOPES.admin];

/** The longest lifetime `lifetimes` allow a token with these scopes, and what to call such a token. */
export function maxLifetimeOf(scopes: Iterable<string>, lifetimes: TokenLifetimes = {}): { maxS: number; kind: 'user' | 'service' } {
  const service = [...scopes].some((s) => SERVICE_SCOPES.includes(s));
  return service
    ? { maxS: lifetimes.serviceMaxTtlS ?? DEFAULT_SERVICE_MAX_TTL_S, kind: 'service' }
    : { maxS: lifetimes.userMaxTtlS ?? DEFAULT_USER_MAX_TTL_S, kind: 'user' };
}

/**
 * A token's lifetime in seconds: exp − iat, counted from now instead when
 * iat is absent or lies in the future (a forward-dated iat must not let a
 * token live longer than its maximum from today). Undefined without exp.
 */
export function lifetimeOf(claims: JWTPayload, nowS = Math.floor(Date.now() / 1000)): number | undefined {
  if (typeof claims.exp !== 'number') return undefined;
  const from = typeof claims.iat === 'number' ? Math.min(claims.iat, nowS) : nowS;
  return claims.exp - from;
}

/**
 * The principal of a token whose signature and times were checked, admitted
 * only when it carries exp and lives no longer than its kind allows: a
 * leaked token without exp would otherwise work for ever. Both verification
 * paths (HS256 without jose, JWKS with jose) end here, so they refuse the
 * same tokens.
 */
export function admitClaims(claims: JWTPayload, lifetimes: TokenLifetimes = {}): Principal {
  const lifetime = lifetimeOf(claims);
  if (lifetime === undefined) throw new InvalidTokenError('token has no exp');
  const principal = principalFromClaims(claims);
  const { maxS, kind } = maxLifetimeOf(principal.scopes, lifetimes);
  if (lifetime > maxS) throw new InvalidTokenError(`token lifetime ${lifetime}s is longer than the ${maxS}s allowed for ${kind} tokens`);
  return principal;
}

/**
 * HS256 with the shared secret; RS256/ES256 from a JWKS URL when one is configured.
 * Every token must carry exp and live no longer than `lifetimes` allow (admitClaims).
 *
 * Verified tokens are remembered (by their full text, signature included)
 * until they expire: a service sends thousands of requests with one token,
 * and re-running the signature check on each costs more than the rest of
 * the request. Only admitted tokens are remembered, so a cached token never
 * outlives its own exp. At most `cacheSize` tokens (default 10,000) are kept.
 */
export function createVerifier(opts: { secret: string; jwksUrl?: string; cacheSize?: number } & TokenLifetimes): Verifier {
  const jwks = opts.jwksUrl ? createRemoteJWKSet(new URL(opts.jwksUrl)) : undefined;
  const cacheSize = opts.cacheSize ?? 10_000;
  const cache = new Map<string, { principal: Principal; expiresAt: number }>();
  const cached = (token: string) => {
    const hit = cache.get(token);
    if (hit && hit.expiresAt > Date.now()) return hit.principal;
    if (hit) cache.delete(token);
    return undefined;
  };
  const remember = (token: string, payload: JWTPayload, principal: Principal) => {
    if (typeof payload.exp !== 'number') return;
    if (cache.size >= cacheSize) cache.delete(cache.keys().next().value!);
    cache.set(token, { principal, expiresAt: payload.exp * 1000 });
  };
  const secret = Buffer.from(opts.secret);
  const verifySync = (token: string): Principal | undefined => {
    const hit = cached(token);
    if (hit) return hit;
    const payload = verifyHs256(token, secret, !jwks);
    if (!payload) return undefined;
    const principal = admitClaims(payload, opts);
    remember(token, payload, principal);
    return principal;
  };
  return {
    verifySync,
    async verify(token) {
      // HS256 (and every cached token) is checked without jose: see verifyHs256
      const now = verifySync(token);
      if (now) return now;
      try {
        const { payload } = await jwtVerify(token, jwks!, { algorithms: ['RS256', 'ES256'] });
        const principal = admitClaims(payload, opts);
        remember(token, payload, principal);
        return principal;
      } catch (err) {
        if (err instanceof InvalidTokenError) throw err;
        throw new InvalidTokenError((err as Error).message);
      }
    },
  };
}

const fail = (why: string): never => {
  throw new InvalidTokenError(why);
};

function decodePart(part: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    return fail('Invalid Compact JWS');
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) return fail('Invalid Compact JWS');
  return value as Record<string, unknown>;
}

/**
 * An HS256 token checked as jose's jwtVerify checks it (signature, `crit`,
 * exp, nbf, iat types; no clock tolerance; test/auth-sync.test.ts holds the
 * two to the same answers), without a promise or a WebCrypto key import. Returns its
 * claims; undefined for another algorithm when `hs256Only` is false (a JWKS
 * token); throws InvalidTokenError when the token is not valid.
 */
export function verifyHs256(token: string, secret: Buffer, hs256Only: boolean): JWTPayload | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return fail('Invalid Compact JWS');
  const header = decodePart(parts[0]);
  if (header.alg !== 'HS256') return hs256Only || typeof header.alg !== 'string' ? fail('"alg" (Algorithm) Header Parameter value not allowed') : undefined;
  if (header.crit !== undefined) fail('Extension Header Parameter "crit" is not recognized');
  const expected = createHmac('sha256', secret).update(`${parts[0]}.${parts[1]}`).digest();
  const signature = Buffer.from(parts[2], 'base64url');
  if (signature.length !== expected.length || !timingSafeEqual(signature, expected)) fail('signature verification failed');
  const claims = decodePart(parts[1]) as JWTPayload;
  const now = Math.floor(Date.now() / 1000);
  for (const claim of ['exp', 'nbf', 'iat'] as const)
    if (claims[claim] !== undefined && typeof claims[claim] !== 'number') fail(`"${claim}" claim must be a number`);
  if (claims.exp !== undefined && claims.exp <= now) fail('"exp" claim timestamp check failed');
  if (claims.nbf !== undefined && claims.nbf > now) fail('"nbf" claim timestamp check failed');
  return claims;
}

export interface TokenClaims {
  sub: string;
  tenant?: string;
  roles?: string[];
  stores?: string[];
  scope?: string;
  /** lifetime, e.g. '1h', '30d' (default '12h'); a number is an absolute exp, in seconds since 1970 */
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
