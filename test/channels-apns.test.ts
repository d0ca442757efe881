/**
 * Apple push through the push channel, against a local HTTP/2 fake of APNs
 * that verifies the ES256 provider token with the team key's public half
 * and answers as Apple documents. A recipient's FCM tokens go to FCM's
 * fake and its Apple tokens to APNs; tokens Apple calls dead leave the
 * recipient's apns_tokens; throttling and outages are retried; the
 * provider token is reused for 50 minutes and re-signed when Apple refuses
 * it; and a worker killed between the send and its acknowledgement resends
 * the same notification (same apns-id and collapse id), which the device
 * shows once.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ApnsProvider, APNS_EXPIRATION_S, APNS_TOKEN_REFRESH_MS } from '../src/channels/push/apns.js';
import { PushProvider } from '../src/channels/push/push.js';
import type { DeliveryError, OutgoingMessage } from '../src/channels/types.js';
import { loadConfig } from '../src/config.js';
import { getRecipient, openRecipient } from '../src/domain/delivery/recipients.js';
import { createHarness, uniq, waitFor, type Harness } from './helpers/harness.js';
import { deliveriesOf, startChannelWorker, type ChannelWorker } from './helpers/channels.js';
import { spawnRole } from './helpers/roles.js';
import { makeApnsKey, startApnsFake, type ApnsRequest } from './fakes/apns.js';
import { makeServiceAccount, startFcmFake } from './fakes/fcm.js';

/** A recipient's row as stored, its sealed contact fields opened. */
const recipientRow = async (user: string) => {
  const row = await getRecipient(h.orm.em.fork(), h.tenant, user);
  return row && openRecipient(row);
};

const BUNDLE_ID = 'com.example.herald';
/** Apple device tokens are 32 bytes, written as 64 hex digits. */
const appleToken = () => randomBytes(32).toString('hex');
const IPHONE = appleToken();
const IPAD = appleToken();
const UNINSTALLED = appleToken();

const key = makeApnsKey();
let h: Harness;
let svc: string;
let apns: Awaited<ReturnType<typeof startApnsFake>>;
let fcm: Awaited<ReturnType<typeof startFcmFake>>;
let fcmEnv: Record<string, string>;
let push: ChannelWorker;

const apnsEnv = () => ({
  APNS_KEY_ID: key.keyId,
  APNS_TEAM_ID: key.teamId,
  APNS_TOPIC: BUNDLE_ID,
  APNS_PRIVATE_KEY: key.privateKeyPem.replace(/\n/g, '\\n'),
  APNS_API_BASE: apns.url,
});

beforeAll(async () => {
  h = await createHarness();
  const account = await makeServiceAccount('herald-apns-test');
  fcm = await startFcmFake(account, ['android-phone']);
  apns = await startApnsFake({ key, bundleId: BUNDLE_ID, devices: [IPHONE, IPAD], unregistered: [UNINSTALLED] });
  h.life.add('fakes', async () => {
    await fcm.close();
    await apns.close();
  });
  fcmEnv = {
    FCM_PROJECT_ID: account.projectId,
    FCM_CLIENT_EMAIL: account.clientEmail,
    FCM_PRIVATE_KEY: account.privateKeyPem,
    FCM_API_BASE: fcm.url,
    FCM_TOKEN_URL: fcm.tokenUrl,
  };
  await h.startIngest();
  // a short stalled-check interval: BullMQ lets one worker of a queue check for stalled jobs once per its interval
  // (a key with that TTL), and the crash test below needs its fresh worker to check within a second
  push = await startChannelWorker(h, 'push', { ...fcmEnv, ...apnsEnv() }, { stalledIntervalMs: 300 });
  svc = await h.serviceToken();
}, 60_000);
afterAll(() => h.close());

/** A recipient with these FCM tokens and these Apple tokens (registered by the user, as an app does). */
async function recipientWith(fcmTokens: string[], appleTokens: string[]): Promise<string> {
  const user = uniq('u-apns');
  await h.request('PUT', `/api/v1/recipients/${user}`, { token: svc, body: { push_tokens: fcmTokens } });
  const token = await h.token({ sub: user });
  for (const device of appleTokens) {
    const r = await h.request('PUT', '/api/v1/me/push-tokens', { token, body: { token: device, platform: 'apns' } });
    expect(r.status).toBe(200);
  }
  return user;
}

async function sendPush(user: string, body: Record<string, unknown> = {}) {
  const sent = await h.request('POST', '/api/v1/notifications', {
    token: svc,
    body: { title: '订单已完成', content: '请到前台取餐', user_id: user, channels: ['push'], ...body },
  });
  expect(sent.status).toBe(202);
  return sent.body.id as string;
}

const settled = (notificationId: string, timeout = 15_000) =>
  waitFor(async () => {
    const [row] = await deliveriesOf(h, notificationId);
    return row && row.status !== 'queued' && row.status !== 'sending' ? row : null;
  }, timeout, 'the push delivery to settle');

const toApple = (deliveryId: string) => apns.requests.filter((r) => r.headers['apns-id'] === deliveryId);

describe('through the push worker', () => {
  test('a recipient with an Android phone and an iPhone gets the push on both', async () => {
    const user = await recipientWith(['android-phone'], [IPHONE]);
    const before = Date.now();
    const d = await settled(await sendPush(user, { priority: 'high', metadata: { url: 'https://example.com/orders/7' } }));
    expect(d.status).toBe('sent');
    expect(d.address).toBe(`android-phone,apns:${IPHONE}`);

    expect(fcm.sent.filter((m) => m.data.delivery_id === d.id).map((m) => m.token)).toEqual(['android-phone']);
    const [req, ...more] = toApple(d.id);
    expect(more).toHaveLength(0);
    expect(req).toMatchObject({ device: IPHONE, status: 200, jwt: { kid: key.keyId, iss: key.teamId } });
    expect(req.headers).toMatchObject({
      ':path': `/3/device/${IPHONE}`,
      'apns-topic': BUNDLE_ID,
      'apns-push-type': 'alert',
      'apns-priority': '10',
      'apns-id': d.id,
      'apns-collapse-id': d.id,
    });
    // kept by Apple for a day after the notification was accepted
    const expiration = Number(req.headers['apns-expiration']);
    expect(expiration).toBeGreaterThanOrEqual(Math.floor(before / 1000) + APNS_EXPIRATION_S - 5);
    expect(expiration).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + APNS_EXPIRATION_S);
    expect(req.payload).toEqual({
      aps: { alert: { title: '订单已完成', body: '请到前台取餐' }, sound: 'default' },
      notification_id: d.notification_id,
      delivery_id: d.id,
      url: 'https://example.com/orders/7',
    });
  });

  test("a notification's group_key is its collapse id: the iPhone shows the group's newest in place of the one before", async () => {
    const user = await recipientWith([], [IPHONE]);
    const first = await settled(await sendPush(user, { title: 'Order 7: cooking', group_key: 'order-7' }));
    const second = await settled(await sendPush(user, { title: 'Order 7: ready', group_key: 'order-7' }));
    expect(toApple(first.id)[0].headers['apns-collapse-id']).toBe('order-7');
    expect(toApple(second.id)[0].headers['apns-collapse-id']).toBe('order-7');
    expect(apns.shown.get(IPHONE)?.get('order-7')?.aps.alert.title).toBe('Order 7: ready');
  });

  test("Unregistered (410) and BadDeviceToken (400) remove those Apple tokens, and only those, from the recipient", async () => {
    const neverIssued = appleToken();
    const user = await recipientWith(['android-phone'], [UNINSTALLED, neverIssued, IPAD]);
    const d = await settled(await sendPush(user));
    expect(d.status).toBe('sent');
    const answers = Object.fromEntries(toApple(d.id).map((r) => [r.device, `${r.status} ${r.reason ?? ''}`.trim()]));
    expect(answers).toEqual({ [UNINSTALLED]: '410 Unregistered', [neverIssued]: '400 BadDeviceToken', [IPAD]: '200' });
    expect(toApple(d.id)[0].headers['apns-priority']).toBe('5');
    await expect
      .poll(async () => {
        const row = await recipientRow(user);
        return { fcm: row?.push_tokens, apple: row?.apns_tokens };
      })
      .toEqual({ fcm: ['android-phone'], apple: [IPAD] });
  });

  test('an iPhone alone: when every Apple token is dead the delivery fails as invalid_address and the tokens are gone', async () => {
    const user = await recipientWith([], [UNINSTALLED]);
    const d = await settled(await sendPush(user));
    expect(d).toMatchObject({ status: 'failed', reason: 'invalid_address' });
    await expect.poll(async () => (await recipientRow(user))?.apns_tokens).toEqual([]);
  });

  test('429 and 503 are retried later, with the same apns-id and provider token, until Apple takes it', async () => {
    const user = await recipientWith([], [IPHONE]);
    apns.script.push({ status: 429, reason: 'TooManyRequests', retryAfterS: 1 }, { status: 503, reason: 'ServiceUnavailable' });
    const started = Date.now();
    const d = await settled(await sendPush(user), 30_000);
    expect(d.status).toBe('sent');
    const tries = toApple(d.id);
    expect(tries.map((r) => r.status)).toEqual([429, 503, 200]);
    // Retry-After: 1 held the queue for a second before the next try
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(new Set(tries.map((r) => r.jwt?.token)).size).toBe(1);
    expect(d.provider_message_id).toBe(d.id);
  });
});

describe('the APNs provider on a clock of its own', () => {
  let clock = Date.parse('2026-12-05T08:00:00Z');
  const now = () => clock;
  let fake: Awaited<ReturnType<typeof startApnsFake>>;
  let provider: ApnsProvider;

  beforeAll(async () => {
    fake = await startApnsFake({ key, bundleId: BUNDLE_ID, devices: [IPHONE], now });
    provider = new ApnsProvider(loadConfig({ NODE_ENV: 'test', ...apnsEnv(), APNS_API_BASE: fake.url }), { now });
    h.life.add('clocked apns', async () => {
      await provider.close();
      await fake.close();
    });
  });

  const message = (over: Partial<OutgoingMessage> = {}): OutgoingMessage => ({
    title: 'Backup finished',
    content: 'All 3 stores backed up',
    type: 'info',
    priority: 'normal',
    metadata: {},
    created_at: new Date(clock).toISOString(),
    deliveryId: randomUUID(),
    notificationId: randomUUID(),
    tenant: h.tenant,
    address: IPHONE,
    ...over,
  });
  const sendsOf = (m: OutgoingMessage): ApnsRequest[] => fake.requests.filter((r) => r.headers['apns-id'] === m.deliveryId);

  test('one provider token serves every send on one connection, and is replaced after 50 minutes', async () => {
    const burst = Array.from({ length: 5 }, () => message());
    await Promise.all(burst.map((m) => provider.send(m, AbortSignal.timeout(2000))));
    const first = sendsOf(burst[0])[0].jwt!;
    expect(burst.map((m) => sendsOf(m)[0].jwt?.token)).toEqual(burst.map(() => first.token));
    expect(first.iat).toBe(Math.floor(clock / 1000));
    expect(fake.sessions).toBe(1);

    clock += APNS_TOKEN_REFRESH_MS - 60_000;
    const later = message();
    await provider.send(later, AbortSignal.timeout(2000));
    expect(sendsOf(later)[0].jwt?.token).toBe(first.token);

    clock += 60_000;
    const renewed = message();
    const result = await provider.send(renewed, AbortSignal.timeout(2000));
    const fresh = sendsOf(renewed)[0];
    expect(fresh).toMatchObject({ status: 200, jwt: { iat: first.iat + APNS_TOKEN_REFRESH_MS / 1000 } });
    expect(result.providerMessageId).toBe(renewed.deliveryId);
    expect(fake.sessions).toBe(1);
  });

  test('ExpiredProviderToken: the send is repeated at once with a freshly signed token; refused twice it is retryable', async () => {
    clock += 25 * 60_000;
    const m = message();
    fake.script.push({ status: 403, reason: 'ExpiredProviderToken' });
    await provider.send(m, AbortSignal.timeout(2000));
    const [refused, retried] = sendsOf(m);
    expect(refused.status).toBe(403);
    expect(retried.status).toBe(200);
    expect(retried.jwt!.iat).toBe(Math.floor(clock / 1000));
    expect(retried.jwt!.iat).not.toBe(refused.jwt!.iat);

    clock += 25 * 60_000;
    const twice = message();
    fake.script.push({ status: 403, reason: 'InvalidProviderToken' }, { status: 403, reason: 'InvalidProviderToken' });
    const err = (await provider.send(twice, AbortSignal.timeout(2000)).catch((e) => e)) as DeliveryError;
    expect(provider.classify(err)).toMatchObject({ kind: 'retryable', code: 'InvalidProviderToken' });
    expect(sendsOf(twice)).toHaveLength(2);
  });

  test('after GOAWAY the next send opens a new connection while the old one finishes what it carries', async () => {
    const held = fake.hold();
    const inFlight = message();
    const first = provider.send(inFlight, AbortSignal.timeout(5000));
    await waitFor(() => sendsOf(inFlight).length === 1, 5000, 'the held send to arrive');
    const sessions = fake.sessions;
    // APNs says GOAWAY and keeps the connection only for the streams it already has
    fake.goaway();
    await new Promise((r) => setTimeout(r, 100));
    await provider.send(message(), AbortSignal.timeout(2000));
    expect(fake.sessions).toBe(sessions + 1);
    held.open();
    expect((await first).providerMessageId).toBe(inFlight.deliveryId);
  });

  test('a body too long for 4 KiB is shortened to fit rather than refused', async () => {
    const m = message({ content: '请'.repeat(2000) });
    await provider.send(m, AbortSignal.timeout(2000));
    const [req] = sendsOf(m);
    expect(req.status).toBe(200);
    expect(req.payload.aps.alert.body.endsWith('…')).toBe(true);
    expect(Buffer.byteLength(JSON.stringify(req.payload))).toBeLessThanOrEqual(4096);
  });

  test('with APNs configured and FCM not, push is configured; an FCM token fails as not_configured, an Apple one goes', async () => {
    const router = PushProvider.fromConfig(loadConfig({ NODE_ENV: 'test', ...apnsEnv(), APNS_API_BASE: fake.url }), { now });
    h.life.add('router', () => router.close());
    expect(router).toMatchObject({ missing: [], vendor: 'apns' });
    const both = await router.send(message({ address: `android-phone,apns:${IPHONE}` }), AbortSignal.timeout(2000));
    expect(both.providerMessageId).toMatch(/^[0-9a-f-]{36}$/);
    const err = await router.send(message({ address: 'android-phone' }), AbortSignal.timeout(2000)).catch((e) => router.classify(e));
    expect(err).toMatchObject({ kind: 'permanent', code: 'not_configured', reason: 'not_configured' });
  });
});

describe('a push worker killed between the send and its acknowledgement', () => {
  test('the next worker sends the same notification again (same apns-id and collapse id): the iPhone shows it once', async () => {
    // this file's in-process worker must not take the job: the killed process and then a fresh worker do
    await push.worker.close();
    const LOCK_MS = 1500;
    const env = { ...apnsEnv(), CHANNEL_LOCK_MS: String(LOCK_MS), CHANNEL_STALLED_INTERVAL_MS: '300' };
    const worker = spawnRole('workers/push.ts', { harness: h, env }, h.life);
    await worker.waitForLog((l) => l.msg === 'push worker started', 30_000, 'the push worker');

    const user = await recipientWith([], [IPHONE]);
    const held = apns.hold(); // Apple takes the notification; its answer never reaches the dying worker
    const killed = new Promise<void>((resolve) => apns.onSend.push(() => void worker.stop('SIGKILL').then(() => resolve())));
    const id = await sendPush(user);
    await killed;
    apns.onSend.length = 0;
    expect((await deliveriesOf(h, id))[0].status).toBe('sending');

    const fresh = await startChannelWorker(h, 'push', apnsEnv(), { lockDurationMs: LOCK_MS, stalledIntervalMs: 300 });
    const d = await settled(id, 20_000);
    held.open();
    await fresh.worker.close();
    expect(d).toMatchObject({ status: 'sent', attempts: 2, provider_message_id: d.id });
    const taken = apns.accepted.filter((r) => r.headers['apns-id'] === d.id);
    expect(taken).toHaveLength(2);
    expect(taken.map((r) => r.headers['apns-collapse-id'])).toEqual([d.id, d.id]);
    // what the iPhone displays for this delivery: the second replaced the first
    const onScreen = [...(apns.shown.get(IPHONE)?.values() ?? [])].filter((p) => p.delivery_id === d.id);
    expect(onScreen).toHaveLength(1);
  }, 60_000);
});
