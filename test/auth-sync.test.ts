/**
 * Herald's own HS256 check (verifySync, which verify also uses; the realtime
 * node's check inside uWS's upgrade callback) must accept and refuse exactly
 * the tokens jose's jwtVerify does, followed by the claims rules both paths
 * share (sub, exp required, lifetime at most the maximum for the token's
 * kind). The JWKS path (jose) applies the same rules.
 */
import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, UnsecuredJWT, exportJWK, generateKeyPair, jwtVerify } from 'jose';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { admitClaims, createVerifier, InvalidTokenError, signToken } from '../src/auth/jwt.js';

const SECRET = 'auth-sync-secret-0123456789abcdef';
const key = new TextEncoder().encode(SECRET);
const now = () => Math.floor(Date.now() / 1000);
const DAY = 86_400;
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
  // jose itself, then the claims rules Herald applies after either check (sub, exp, lifetime)
  const asyncResult = await jwtVerify(token, key, { algorithms: ['HS256'] }).then(
    ({ payload }) => {
      try {
        return { ok: admitClaims(payload).sub };
      } catch {
        return { refused: true };
      }
    },
    () => ({ refused: true }),
  );
  return { sync, async: asyncResult };
}

test('valid HS256 tokens pass both checks with the same principal', async () => {
  for (const token of [
    handSigned({ alg: 'HS256' }, { sub: 'u0', tenant: 't', exp: now() + 60 }),
    await signToken(SECRET, { sub: 'u1', tenant: 't', expiresIn: '1h' }),
    await hs256({ sub: 'u2', exp: now() + 60, nbf: now() - 5, iat: now() }),
    await hs256({ sub: 'u3', exp: now() + 29 * DAY }), // no iat: its lifetime counts from now
    await hs256({ sub: 'u4', iat: now(), exp: now() + 30 * DAY }), // a user token at its longest
    await hs256({ sub: 's1', scope: 'notify:send', iat: now() - 10 * DAY, exp: now() + 300 * DAY }),
    await hs256({ sub: 's2', scope: 'admin', iat: now(), exp: now() + 365 * DAY }),
  ]) {
    const r = await both(token);
    expect(r.sync).toEqual(r.async);
    expect(r.sync).toHaveProperty('ok');
  }
});

test('bad tokens are refused by both checks', async () => {
  const exp = now() + 60;
  const good = await hs256({ sub: 'u', exp });
  const [h, p] = good.split('.');
  const cases = {
    expired: await hs256({ sub: 'u', exp: now() - 1 }),
    'not yet valid': await hs256({ sub: 'u', nbf: now() + 60, exp: now() + 120 }),
    'exp not a number': await hs256({ sub: 'u', exp: String(now() + 60) }),
    'iat not a number': await hs256({ sub: 'u', iat: 'yesterday', exp }),
    'other secret': await new SignJWT({ sub: 'u', exp }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode('another-secret-0123456789abcdef')),
    'tampered claims': `${h}.${Buffer.from(JSON.stringify({ sub: 'admin', exp })).toString('base64url')}.${good.split('.')[2]}`,
    'truncated signature': `${h}.${p}.${good.split('.')[2].slice(0, 20)}`,
    'alg none': new UnsecuredJWT({ sub: 'u', exp }).encode(),
    'HS512 without JWKS': await new SignJWT({ sub: 'u', exp }).setProtectedHeader({ alg: 'HS512' }).sign(key),
    'unknown crit': handSigned({ alg: 'HS256', crit: ['x-herald'], 'x-herald': 1 }, { sub: 'u', exp }),
    'alg missing': handSigned({ typ: 'JWT' }, { sub: 'u', exp }),
    'claims not an object': handSigned({ alg: 'HS256' }, ['u']),
    'no sub': await hs256({ exp }),
    'no exp': await hs256({ sub: 'u' }),
    'no exp, hand signed': handSigned({ alg: 'HS256' }, { sub: 'u', iat: now() }),
    'user token living 31 days': await hs256({ sub: 'u', iat: now(), exp: now() + 31 * DAY }),
    'user token issued 31 days ago, expiring in a minute': await hs256({ sub: 'u', iat: now() - 31 * DAY, exp }),
    'user token without iat expiring in 31 days': await hs256({ sub: 'u', exp: now() + 31 * DAY }),
    'user token with a forward-dated iat': await hs256({ sub: 'u', iat: now() + 400 * DAY, exp: now() + 400 * DAY + 60 }),
    'templates:write token living 366 days': await hs256({ sub: 's', scope: 'templates:write', iat: now(), exp: now() + 366 * DAY }),
    'two parts': `${h}.${p}`,
    garbage: 'not-a-token',
    empty: '',
  };
  for (const [name, token] of Object.entries(cases)) {
    const r = await both(token);
    expect({ name, ...r }).toEqual({ name, sync: { refused: true }, async: { refused: true } });
  }
});

test('the refusal says why, and the maximum lifetimes are options', async () => {
  const v = createVerifier({ secret: SECRET, userMaxTtlS: 3600, serviceMaxTtlS: 7200 });
  expect(() => v.verifySync!(handSigned({ alg: 'HS256' }, { sub: 'u' }))).toThrow('token has no exp');
  await expect(v.verify(handSigned({ alg: 'HS256' }, { sub: 'u' }))).rejects.toThrow('token has no exp');
  expect(v.verifySync!(await hs256({ sub: 'u', iat: now(), exp: now() + 3600 }))?.sub).toBe('u');
  expect(() => v.verifySync!(handSigned({ alg: 'HS256' }, { sub: 'u', iat: now(), exp: now() + 3601 }))).toThrow(/longer than the 3600s allowed for user tokens/);
  expect(v.verifySync!(await hs256({ sub: 's', scope: 'notify:send', iat: now(), exp: now() + 7200 }))?.sub).toBe('s');
  await expect(v.verify(await hs256({ sub: 's', scope: 'notify:send', iat: now(), exp: now() + 7201 }))).rejects.toThrow(/allowed for service tokens/);
});

describe('remembered tokens', () => {
  afterEach(() => vi.useRealTimers());

  test('a token verified once is refused after its exp, not answered from memory', async () => {
    const v = createVerifier({ secret: SECRET });
    const token = await hs256({ sub: 'u', iat: now(), exp: now() + 3600 });
    expect((await v.verify(token)).sub).toBe('u');
    expect(v.verifySync!(token)?.sub).toBe('u');
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 3601_000);
    await expect(v.verify(token)).rejects.toThrow(InvalidTokenError);
    expect(() => v.verifySync!(token)).toThrow(InvalidTokenError);
  });
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

describe('the JWKS path (jose) applies the same rules', () => {
  test('RS256 tokens without exp or living too long are refused; others pass and are remembered', async () => {
    const { publicKey, privateKey } = await generateKeyPair('RS256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    let fetches = 0;
    const server = createServer((_req, res) => {
      fetches++;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
      const v = createVerifier({ secret: SECRET, jwksUrl: url });
      const rs256 = (claims: Record<string, unknown>) => new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).sign(privateKey);

      const ok = await rs256({ sub: 'u', iat: now(), exp: now() + 3600 });
      expect(v.verifySync!(ok)).toBeUndefined(); // needs the keys
      expect((await v.verify(ok)).sub).toBe('u');
      expect(v.verifySync!(ok)?.sub).toBe('u'); // remembered until its exp
      expect((await v.verify(await rs256({ sub: 's', scope: 'notify:send', iat: now(), exp: now() + 200 * DAY }))).sub).toBe('s');

      await expect(v.verify(await rs256({ sub: 'u', iat: now() }))).rejects.toThrow('token has no exp');
      await expect(v.verify(await rs256({ sub: 'u', iat: now(), exp: now() + 31 * DAY }))).rejects.toThrow(/allowed for user tokens/);
      await expect(v.verify(await rs256({ sub: 'u', exp: now() + 31 * DAY }))).rejects.toThrow(/allowed for user tokens/);
      await expect(v.verify(await rs256({ sub: 's', scope: 'admin', iat: now(), exp: now() + 366 * DAY }))).rejects.toThrow(/allowed for service tokens/);
      // a refused token is not remembered as accepted
      const long = await rs256({ sub: 'u', iat: now(), exp: now() + 31 * DAY });
      await expect(v.verify(long)).rejects.toThrow(InvalidTokenError);
      expect(v.verifySync!(long)).toBeUndefined();
      expect(fetches).toBeGreaterThan(0);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
