/**
 * Herald's own HS256 check (verifySync, which verify also uses; the realtime
 * node's check inside uWS's upgrade callback) must accept and refuse exactly
 * the tokens jose's jwtVerify does.
 */
import { createHmac } from 'node:crypto';
import { SignJWT, UnsecuredJWT, jwtVerify } from 'jose';
import { expect, test } from 'vitest';
import { createVerifier, InvalidTokenError, signToken } from '../src/auth/jwt.js';

const SECRET = 'auth-sync-secret-0123456789abcdef';
const key = new TextEncoder().encode(SECRET);
const now = () => Math.floor(Date.now() / 1000);
const hs256 = (claims: Record<string, unknown>, header: Record<string, unknown> = {}) =>
  new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT', ...header }).sign(key);

/** signed by hand: jose will not sign a header it would not accept */
const handSigned = (header: object, claims: object) => {
  const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
  return `${input}.${createHmac('sha256', SECRET).update(input).digest('base64url')}`;
};

async function both(token: string) {
  const sync = (() => {
    try {
      const p = createVerifier({ secret: SECRET }).verifySync!(token);
      return p ? { ok: p.sub } : { undecided: true };
    } catch (err) {
      expect(err).toBeInstanceOf(InvalidTokenError);
      return { refused: true };
    }
  })();
  // jose itself, then the same claims check Herald applies (a token without sub is refused)
  const asyncResult = await jwtVerify(token, key, { algorithms: ['HS256'] }).then(
    ({ payload }) => (typeof payload.sub === 'string' && payload.sub ? { ok: payload.sub } : { refused: true }),
    () => ({ refused: true }),
  );
  return { sync, async: asyncResult };
}

test('valid HS256 tokens pass both checks with the same principal', async () => {
  for (const token of [
    handSigned({ alg: 'HS256' }, { sub: 'u0', tenant: 't' }),
    await signToken(SECRET, { sub: 'u1', tenant: 't', expiresIn: '1h' }),
    await hs256({ sub: 'u2', exp: now() + 60, nbf: now() - 5, iat: now() }),
    await hs256({ sub: 'u3' }), // no exp: valid for jose too
  ]) {
    const r = await both(token);
    expect(r.sync).toEqual(r.async);
    expect(r.sync).toHaveProperty('ok');
  }
});

test('bad tokens are refused by both checks', async () => {
  const good = await hs256({ sub: 'u', exp: now() + 60 });
  const [h, p] = good.split('.');
  const cases = {
    expired: await hs256({ sub: 'u', exp: now() - 1 }),
    'not yet valid': await hs256({ sub: 'u', nbf: now() + 60 }),
    'exp not a number': await hs256({ sub: 'u', exp: String(now() + 60) }),
    'iat not a number': await hs256({ sub: 'u', iat: 'yesterday' }),
    'other secret': await new SignJWT({ sub: 'u' }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode('another-secret-0123456789abcdef')),
    'tampered claims': `${h}.${Buffer.from(JSON.stringify({ sub: 'admin', exp: now() + 60 })).toString('base64url')}.${good.split('.')[2]}`,
    'truncated signature': `${h}.${p}.${good.split('.')[2].slice(0, 20)}`,
    'alg none': new UnsecuredJWT({ sub: 'u' }).encode(),
    'HS512 without JWKS': await new SignJWT({ sub: 'u' }).setProtectedHeader({ alg: 'HS512' }).sign(key),
    'unknown crit': handSigned({ alg: 'HS256', crit: ['x-herald'], 'x-herald': 1 }, { sub: 'u' }),
    'alg missing': handSigned({ typ: 'JWT' }, { sub: 'u' }),
    'claims not an object': handSigned({ alg: 'HS256' }, ['u']),
    'no sub': await hs256({ exp: now() + 60 }),
    'two parts': `${h}.${p}`,
    garbage: 'not-a-token',
    empty: '',
  };
  for (const [name, token] of Object.entries(cases)) {
    const r = await both(token);
    expect({ name, ...r }).toEqual({ name, sync: { refused: true }, async: { refused: true } });
  }
});

test('odd encodings get the same answer from both checks', async () => {
  const good = await hs256({ sub: 'u', exp: now() + 60 });
  for (const token of [`${good}=`, `${good.slice(0, 10)}*${good.slice(10)}`, ` ${good}`, `${good}.`]) {
    const r = await both(token);
    expect(r.sync).toEqual(r.async);
  }
});

test('a token for the JWKS is left to the async check', () => {
  const v = createVerifier({ secret: SECRET, jwksUrl: 'http://127.0.0.1:9/jwks.json' });
  const rs256Header = Buffer.from(JSON.stringify({ alg: 'RS256', kid: 'k1' })).toString('base64url');
  const body = Buffer.from(JSON.stringify({ sub: 'u' })).toString('base64url');
  expect(v.verifySync!(`${rs256Header}.${body}.c2ln`)).toBeUndefined();
});
