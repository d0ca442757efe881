/**
 * Self-service: GET /me says who the token is and what the inbox counts;
 * PUT and DELETE /me/push-tokens change the caller's own devices and nothing
 * else of the recipient record, and an FCM token registered here is an
 * address the push channel sends to.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { addressOf, getRecipient, openRecipient } from '../src/domain/delivery/recipients.js';
import { markState } from '../src/domain/inbox/states.js';
import * as res from '../src/api/openapi/responses.js';
import { createHarness, uniq, waitFor, type Harness } from './helpers/harness.js';

/** A recipient's row as stored, its sealed contact fields opened. */
const recipientRow = async (user: string) => {
  const row = await getRecipient(h.orm.em.fork(), h.tenant, user);
  return row && openRecipient(row);
};

let h: Harness;
let svc: string;
beforeAll(async () => {
  h = await createHarness({ RATE_LIMIT_USER_PER_MIN: '1000000' });
  await h.startIngest();
  svc = await h.serviceToken();
});
afterAll(() => h.close());

const putToken = (token: string, body: unknown) => h.request('PUT', '/api/v1/me/push-tokens', { token, body });
const deleteToken = (token: string, device: string) => h.request('DELETE', `/api/v1/me/push-tokens/${encodeURIComponent(device)}`, { token });
const recipient = async (userId: string) => (await h.request('GET', `/api/v1/recipients/${userId}`, { token: svc })).body;

describe('GET /me', () => {
  test("the token's identity, and the inbox's unread and unseen counts", async () => {
    const user = uniq('ann');
    const store = uniq('store');
    const token = await h.token({ sub: user, roles: ['store_manager', 'cashier'], stores: [store], scope: 'templates:write' });
    const ids: string[] = [];
    for (const title of ['one', 'two', 'three']) {
      const r = await h.request('POST', '/api/v1/notifications', { token: svc, body: { title, content: 'c', user_id: user } });
      ids.push(r.body.id);
    }
    await h.request('POST', '/api/v1/notifications', { token: svc, body: { title: 'store', content: 'c', store_id: store } });
    await waitFor(async () => (await h.request('GET', '/api/v1/me', { token })).body.unread_count === 4, 10_000, 'four unread');
    expect((await h.request('PUT', `/api/v1/notifications/${ids[0]}/read`, { token })).status).toBe(200);
    // seen (the bell was opened) but not read
    await markState(h.orm.em.fork(), { sub: user, tenant: h.tenant, roles: [], stores: [] }, ids[1], 'seen');

    const me = await h.request('GET', '/api/v1/me', { token });
    expect(me.status).toBe(200);
    expect(me.body).toEqual({
      id: user,
      tenant: h.tenant,
      roles: ['store_manager', 'cashier'],
      stores: [store],
      scopes: ['templates:write'],
      unread_count: 3,
      // the one read was seen too
      unseen_count: 2,
    });
    // what the API description says it answers
    expect(res.me.safeParse(me.body).success).toBe(true);
  });

  test('without a token it is 401', async () => {
    expect((await h.request('GET', '/api/v1/me')).status).toBe(401);
  });
});

describe('push tokens', () => {
  test('registering creates the recipient record when there is none, and the push channel reaches the token', async () => {
    const user = uniq('new');
    const token = await h.token({ sub: user });
    expect(await recipientRow(user)).toBeNull();
    const r = await putToken(token, { token: 'fcm:device-1', platform: 'fcm' });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toEqual({ success: true, token: 'fcm:device-1', platform: 'fcm', tokens: [{ token: 'fcm:device-1', platform: 'fcm' }] });
    expect(res.pushTokens.safeParse(r.body).success).toBe(true);
    const row = await recipientRow(user);
    expect(row).toMatchObject({ push_tokens: ['fcm:device-1'], apns_tokens: [], email: null, roles: [] });
    expect(addressOf(row, 'push')).toBe('fcm:device-1');
  });

  test("adding keeps the user's other addresses and tokens; an APNs token is kept apart from what FCM gets", async () => {
    const user = uniq('ben');
    const token = await h.token({ sub: user });
    const put = await h.request('PUT', `/api/v1/recipients/${user}`, {
      token: svc,
      body: { email: 'ben@example.com', phone: '+8613800138000', push_tokens: ['old-phone'], roles: ['cashier'], stores: ['store-9'] },
    });
    expect(put.status).toBe(200);

    expect((await putToken(token, { token: 'new-phone', platform: 'fcm' })).status).toBe(200);
    const apns = await putToken(token, { token: 'a1b2c3d4', platform: 'apns' });
    expect(apns.body.tokens).toEqual([
      { token: 'old-phone', platform: 'fcm' },
      { token: 'new-phone', platform: 'fcm' },
      { token: 'a1b2c3d4', platform: 'apns' },
    ]);
    expect(await recipient(user)).toMatchObject({
      email: 'ben@example.com',
      phone: '+8613800138000',
      push_tokens: ['old-phone', 'new-phone'],
      roles: ['cashier'],
      stores: ['store-9'],
    });
    const row = await recipientRow(user);
    // one push address for both platforms: Apple tokens marked, so each goes to its own service
    expect(addressOf(row, 'push')).toBe('old-phone,new-phone,apns:a1b2c3d4');

    // the same token again moves to its (new) platform rather than being listed twice
    const moved = await putToken(token, { token: 'new-phone', platform: 'apns' });
    expect(moved.body.tokens).toEqual([
      { token: 'old-phone', platform: 'fcm' },
      { token: 'a1b2c3d4', platform: 'apns' },
      { token: 'new-phone', platform: 'apns' },
    ]);
    expect(addressOf(await recipientRow(user), 'push')).toBe('old-phone,apns:a1b2c3d4,apns:new-phone');
  });

  test('devices registering at the same moment, the first ones included, are all kept', async () => {
    const user = uniq('busy');
    const token = await h.token({ sub: user });
    const devices = Array.from({ length: 6 }, (_, i) => `device-${i}`);
    const answers = await Promise.all(devices.map((d) => putToken(token, { token: d, platform: 'fcm' })));
    expect(answers.map((a) => a.status)).toEqual(devices.map(() => 200));
    expect((await recipientRow(user))!.push_tokens.sort()).toEqual(devices);
  });

  test('each platform keeps the newest 20 tokens', async () => {
    const user = uniq('many');
    const token = await h.token({ sub: user });
    for (let i = 0; i < 22; i++) expect((await putToken(token, { token: `device-${i}`, platform: 'fcm' })).status).toBe(200);
    const row = await recipientRow(user);
    expect(row!.push_tokens).toEqual(Array.from({ length: 20 }, (_, i) => `device-${i + 2}`));
  });

  test('a bad body names the field', async () => {
    const token = await h.token({ sub: uniq('bad') });
    const r = await putToken(token, { token: 'a,b', platform: 'webos', extra: 1 });
    expect(r.status).toBe(400);
    expect(r.body.errors.map((e: { path: string }) => e.path).sort()).toEqual(['extra', 'platform', 'token']);
    expect((await putToken(token, { token: 'x' })).body.errors).toEqual([{ path: 'platform', message: expect.any(String) }]);
  });

  test("removing one leaves the rest; a token that is not the caller's is 404 and stays where it is", async () => {
    const [cy, eve] = [uniq('cy'), uniq('eve')];
    const cyToken = await h.token({ sub: cy });
    const eveToken = await h.token({ sub: eve });
    await putToken(cyToken, { token: 'cy:phone', platform: 'fcm' });
    await putToken(cyToken, { token: 'cy/tablet', platform: 'apns' });

    expect((await deleteToken(eveToken, 'cy:phone')).status).toBe(404);
    expect((await deleteToken(cyToken, 'never-registered')).status).toBe(404);

    const removed = await deleteToken(cyToken, 'cy:phone');
    expect(removed.status).toBe(200);
    expect(removed.body).toEqual({ success: true, message: '推送令牌已删除' });
    expect((await deleteToken(cyToken, 'cy:phone')).status).toBe(404);
    expect((await deleteToken(cyToken, 'cy/tablet')).status).toBe(200);
    expect(await recipientRow(cy)).toMatchObject({ push_tokens: [], apns_tokens: [] });
  });

  test("a service's PUT /recipients keeps the devices the user registered unless it names push_tokens", async () => {
    const dee = uniq('dee');
    const deeToken = await h.token({ sub: dee });
    await putToken(deeToken, { token: 'dee-phone', platform: 'fcm' });
    const put = (body: unknown) => h.request('PUT', `/api/v1/recipients/${dee}`, { token: svc, body });
    expect((await put({ email: 'dee@example.com' })).status).toBe(200);
    expect(await recipientRow(dee)).toMatchObject({ email: 'dee@example.com', push_tokens: ['dee-phone'] });
    expect((await put({ email: 'dee@example.com', push_tokens: ['svc-phone'] })).status).toBe(200);
    expect((await recipientRow(dee))!.push_tokens).toEqual(['svc-phone']);
    expect((await put({ email: 'dee@example.com', push_tokens: [] })).status).toBe(200);
    expect((await recipientRow(dee))!.push_tokens).toEqual([]);
  });
});
