import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { SignJWT, decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createVerifier } from '../src/auth/jwt.js';
import { TEST_JWT_SECRET } from './helpers/env.js';
import { createHarness, uniq, waitFor, type Harness } from './helpers/harness.js';
import { roleEnv } from './helpers/roles.js';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
  await h.startIngest();
});
afterAll(() => h.close());

const key = new TextEncoder().encode(TEST_JWT_SECRET);

describe('every /api/v1 route needs a valid bearer token', () => {
  const routes: Array<[string, string]> = [
    ['GET', '/api/v1/notifications'],
    ['GET', '/api/v1/notifications/unread-count'],
    ['GET', '/api/v1/notifications/stats'],
    ['POST', '/api/v1/notifications'],
    ['POST', '/api/v1/notifications/bulk'],
    ['PUT', '/api/v1/notifications/read-all'],
    ['PUT', '/api/v1/notifications/01a20099-d608-7f12-9a72-ba19e2643ad7/read'],
  ];
  test.each(routes)('%s %s without a token → 401 problem+json', async (method, path) => {
    const r = await h.request(method, path);
    expect(r.status).toBe(401);
    expect(r.headers.get('content-type')).toContain('application/problem+json');
  });

  test('a token signed with another secret → 401', async () => {
    const bad = await new SignJWT({ tenant: h.tenant }).setProtectedHeader({ alg: 'HS256' }).setSubject('u').setExpirationTime('1h').sign(new TextEncoder().encode('another-secret-0123456789'));
    expect((await h.request('GET', '/api/v1/notifications', { token: bad })).status).toBe(401);
  });

  test('an expired token → 401', async () => {
    const expired = await new SignJWT({ tenant: h.tenant }).setProtectedHeader({ alg: 'HS256' }).setSubject('u').setIssuedAt(1_600_000_000).setExpirationTime(1_600_000_060).sign(key);
    expect((await h.request('GET', '/api/v1/notifications', { token: expired })).status).toBe(401);
  });

  test('an unsigned (alg none) token → 401', async () => {
    const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    const body = Buffer.from(JSON.stringify({ sub: 'u', tenant: h.tenant, scope: 'notify:send admin' })).toString('base64url');
    expect((await h.request('GET', '/api/v1/notifications', { token: `${header}.${body}.` })).status).toBe(401);
  });

  test('a token without sub → 401', async () => {
    const noSub = await new SignJWT({ tenant: h.tenant }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(key);
    expect((await h.request('GET', '/api/v1/notifications', { token: noSub })).status).toBe(401);
  });

  test('a token whose sub, tenant, roles or stores hold a NUL or a lone surrogate → 401, not a 500 from every query', async () => {
    for (const claims of [{ sub: 'a\u0000b' }, { sub: 'u', tenant: 't\u0000' }, { sub: 'u', roles: ['r\ud800'] }, { sub: 'u', stores: ['\u0000'] }]) {
      const { sub, ...rest } = claims;
      const bad = await new SignJWT({ tenant: h.tenant, ...rest }).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setIssuedAt().setExpirationTime('1h').sign(key);
      const r = await h.request('GET', '/api/v1/notifications', { token: bad });
      expect(r.status).toBe(401);
      expect(r.body.detail).toContain('NUL character or a lone surrogate');
    }
  });

  test('a token without exp → 401 naming the reason: it would never expire', async () => {
    const forever = await new SignJWT({ tenant: h.tenant, scope: 'notify:send' }).setProtectedHeader({ alg: 'HS256' }).setSubject('svc').setIssuedAt().sign(key);
    const r = await h.request('GET', '/api/v1/notifications', { token: forever });
    expect(r.status).toBe(401);
    expect(r.body.detail).toContain('token has no exp');
  });

  test('a token living longer than its kind allows → 401 (user 30 days, service 365 days)', async () => {
    const lasting = (scope: string, days: number) =>
      new SignJWT({ tenant: h.tenant, scope }).setProtectedHeader({ alg: 'HS256' }).setSubject('long').setIssuedAt().setExpirationTime(`${days}d`).sign(key);
    const user31 = await h.request('GET', '/api/v1/notifications', { token: await lasting('', 31) });
    expect(user31.status).toBe(401);
    expect(user31.body.detail).toMatch(/allowed for user tokens/);
    expect((await h.request('GET', '/api/v1/notifications', { token: await lasting('', 30) })).status).toBe(200);
    expect((await h.request('GET', '/api/v1/notifications', { token: await lasting('notify:send', 300) })).status).toBe(200);
    const service366 = await h.request('GET', '/api/v1/notifications', { token: await lasting('notify:send', 366) });
    expect(service366.status).toBe(401);
    expect(service366.body.detail).toMatch(/allowed for service tokens/);
  });

  test('a malformed Authorization header → 401', async () => {
    const res = await h.app.request('/api/v1/notifications', { headers: { authorization: 'Basic dTpw' } });
    expect(res.status).toBe(401);
  });

  test('health needs no token', async () => {
    expect((await h.request('GET', '/health')).status).toBe(200);
    expect((await h.request('GET', '/api/v1/health')).status).toBe(200);
  });
});

describe('scopes', () => {
  test('sending needs notify:send: a user token is 403', async () => {
    const user = await h.token({ sub: 'plain-user' });
    const r = await h.request('POST', '/api/v1/notifications', { token: user, body: { title: 't', content: 'c', user_id: 'x' } });
    expect(r.status).toBe(403);
    expect(r.body.detail).toContain('notify:send');
    const bulk = await h.request('POST', '/api/v1/notifications/bulk', { token: user, body: { notifications: [] } });
    expect(bulk.status).toBe(403);
  });

  test('admin stats need admin: a user sees only its own totals', async () => {
    const user = await h.token({ sub: 'stats-user' });
    const r = await h.request('GET', '/api/v1/notifications/stats', { token: user });
    expect(r.status).toBe(200);
    expect(r.body.system).toBeUndefined();
    const admin = await h.token({ sub: 'ops', scope: 'admin' });
    const a = await h.request('GET', '/api/v1/notifications/stats', { token: admin });
    expect(a.body.system).toMatchObject({ websocket_connections: expect.any(Number) });
  });
});

describe('isolation', () => {
  test("another user's notification is 404, never 403, never its content", async () => {
    const svc = await h.serviceToken();
    const sent = await h.request('POST', '/api/v1/notifications', { token: svc, body: { title: 'secret', content: 'for alice', user_id: 'alice' } });
    const alice = await h.token({ sub: 'alice' });
    await waitFor(async () => (await h.request('GET', `/api/v1/notifications/${sent.body.id}`, { token: alice })).status === 200);
    const bob = await h.token({ sub: 'bob' });
    for (const [method, path] of [
      ['GET', `/api/v1/notifications/${sent.body.id}`],
      ['PUT', `/api/v1/notifications/${sent.body.id}/read`],
      ['PUT', `/api/v1/notifications/${sent.body.id}/unread`],
      ['DELETE', `/api/v1/notifications/${sent.body.id}`],
    ] as const) {
      const r = await h.request(method, path, { token: bob });
      expect(r.status, `${method} ${path}`).toBe(404);
      expect(JSON.stringify(r.body)).not.toContain('for alice');
    }
    const batch = await h.request('POST', '/api/v1/notifications/batch-mark', { token: bob, body: { ids: [sent.body.id], action: 'read' } });
    expect(batch.body.count).toBe(0);
  });

  test("the sender rule needs notify:send: a token without it, with the service's sub, reads nothing the service sent", async () => {
    const svc = await h.serviceToken();
    const service = JSON.parse(Buffer.from(svc.split('.')[1], 'base64url').toString()).sub as string;
    const sent = await h.request('POST', '/api/v1/notifications', { token: svc, body: { title: 'payroll', content: 'for dave only', user_id: 'dave' } });
    const dave = await h.token({ sub: 'dave' });
    await waitFor(async () => (await h.request('GET', `/api/v1/notifications/${sent.body.id}`, { token: dave })).status === 200);
    expect((await h.request('GET', `/api/v1/notifications/${sent.body.id}`, { token: svc })).status).toBe(200);
    for (const scope of ['', 'templates:write', 'admin']) {
      const impostor = await h.token({ sub: service, scope });
      const r = await h.request('GET', `/api/v1/notifications/${sent.body.id}`, { token: impostor });
      expect(r.status, `scope '${scope}'`).toBe(404);
      expect(JSON.stringify(r.body)).not.toContain('for dave only');
    }
  });

  test('a user of another tenant with the same id sees nothing of this tenant', async () => {
    const svc = await h.serviceToken();
    await h.request('POST', '/api/v1/notifications', { token: svc, body: { title: 't', content: 'tenant only', broadcast: true } });
    const carol = await h.token({ sub: 'carol' });
    await waitFor(async () => (await h.request('GET', '/api/v1/notifications', { token: carol })).body.total > 0);
    const foreign = await h.token({ sub: 'carol', tenant: uniq('other-tenant') });
    const r = await h.request('GET', '/api/v1/notifications', { token: foreign });
    expect(r.body.total).toBe(0);
    expect((await h.request('GET', '/api/v1/notifications/unread-count', { token: foreign })).body.unread_count).toBe(0);
  });

  test('a token without a tenant claim belongs to tenant "default"', async () => {
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('u').setExpirationTime('1h').sign(key);
    const p = await createVerifier({ secret: TEST_JWT_SECRET }).verify(token);
    expect(p.tenant).toBe('default');
    expect(p.roles).toEqual([]);
  });
});

describe('npm run token', () => {
  test('prints a token with the given claims', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'scripts/token.ts', '--sub', 'user-123', '--roles', 'store_manager,cashier', '--stores', 'store-9', '--scope', 'notify:send admin', '--tenant', 't1'],
      { env: { ...process.env, ...roleEnv() } },
    );
    const p = await createVerifier({ secret: TEST_JWT_SECRET }).verify(stdout.trim());
    expect(p).toMatchObject({ sub: 'user-123', tenant: 't1', roles: ['store_manager', 'cashier'], stores: ['store-9'] });
    expect([...p.scopes].sort()).toEqual(['admin', 'notify:send']);
  });

  const token = (args: string[], env: Record<string, string> = {}) =>
    promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/token.ts', ...args], { env: { ...process.env, ...roleEnv(env) } });

  test('its default lifetime passes the lifetime rules, even with a shorter maximum configured', async () => {
    const user = await token(['--sub', 'u']);
    expect(decodeJwt(user.stdout.trim()).exp! - decodeJwt(user.stdout.trim()).iat!).toBe(30 * 86_400);
    expect((await createVerifier({ secret: TEST_JWT_SECRET }).verify(user.stdout.trim())).sub).toBe('u');
    const short = await token(['--sub', 'u'], { JWT_USER_MAX_TTL_S: '3600' });
    expect((await createVerifier({ secret: TEST_JWT_SECRET, userMaxTtlS: 3600 }).verify(short.stdout.trim())).sub).toBe('u');
    const svc = await token(['--sub', 'svc', '--scope', 'notify:send', '--expires', '200d']);
    expect((await createVerifier({ secret: TEST_JWT_SECRET }).verify(svc.stdout.trim())).sub).toBe('svc');
  });

  test('an --expires longer than the maximum is refused with a message saying so', async () => {
    const err = await token(['--sub', 'u', '--expires', '31d']).then(
      () => null,
      (e) => e as { code: number; stdout: string; stderr: string },
    );
    expect(err?.code).toBe(2);
    expect(err?.stdout).toBe('');
    expect(err?.stderr).toMatch(/--expires 31d is longer than the 2592000 s \(30 days\) the api accepts for user tokens/);
    expect(err?.stderr).toContain('JWT_USER_MAX_TTL_S');
    const bad = await token(['--sub', 'u', '--expires', 'someday']).then(() => null, (e) => e as { code: number; stderr: string });
    expect(bad?.code).toBe(2);
    expect(bad?.stderr).toContain('--expires someday');
  });
});
