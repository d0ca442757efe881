/**
 * Push through the pipeline with FCM's fake: a dead device token is removed
 * from the recipient while the live one gets the message; metrics count it;
 * and a channel worker process without credentials says so at start.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { deliveryDuration, notificationSent } from '../src/metrics/metrics.js';
import { createHarness, waitFor, type Harness } from './helpers/harness.js';
import { deliveriesOf, startChannelWorker } from './helpers/channels.js';
import { spawnRole } from './helpers/roles.js';
import { makeServiceAccount, startFcmFake } from './fakes/fcm.js';

let h: Harness;
let fcm: Awaited<ReturnType<typeof startFcmFake>>;
let svc: string;

beforeAll(async () => {
  h = await createHarness();
  const account = await makeServiceAccount('herald-push-test');
  fcm = await startFcmFake(account, ['live-device']);
  h.life.add('fcm fake', () => fcm.close());
  await h.startIngest();
  await startChannelWorker(h, 'push', {
    FCM_PROJECT_ID: account.projectId,
    FCM_CLIENT_EMAIL: account.clientEmail,
    FCM_PRIVATE_KEY: account.privateKeyPem,
    FCM_API_BASE: fcm.url,
    FCM_TOKEN_URL: fcm.tokenUrl,
  });
  svc = await h.serviceToken();
});
afterAll(() => h.close());

const metric = async (m: { get(): Promise<{ values: Array<{ labels: Record<string, unknown>; value: number; metricName?: string }> }> }, channel: string, name?: string) =>
  (await m.get()).values.filter((v) => v.labels.channel === channel && (!name || v.metricName === name)).reduce((s, v) => s + v.value, 0);

test('the live device gets the push, the UNREGISTERED token is removed from the recipient, and it is counted', async () => {
  const sentBefore = await metric(notificationSent, 'push');
  const timedBefore = await metric(deliveryDuration, 'push', 'notification_delivery_duration_seconds_count');
  await h.request('PUT', '/api/v1/recipients/u-phone', { token: svc, body: { push_tokens: ['dead-device', 'live-device'] } });
  const sent = await h.request('POST', '/api/v1/notifications', {
    token: svc,
    body: { title: '订单已完成', content: '请到前台取餐', priority: 'high', user_id: 'u-phone', channels: ['push'] },
  });
  const d = await waitFor(async () => {
    const [row] = await deliveriesOf(h, sent.body.id);
    return row?.status === 'sent' ? row : null;
  }, 15_000);
  expect(fcm.sent.filter((m) => m.data.delivery_id === d.id).map((m) => m.token)).toEqual(['live-device']);
  // the dead token is dropped just after the delivery is recorded as sent
  await expect.poll(async () => (await h.request('GET', '/api/v1/recipients/u-phone', { token: svc })).body.push_tokens).toEqual(['live-device']);
  expect(await metric(notificationSent, 'push')).toBe(sentBefore + 1);
  expect(await metric(deliveryDuration, 'push', 'notification_delivery_duration_seconds_count')).toBe(timedBefore + 1);
});

test('a channel worker process without credentials says at start that it is not configured, naming what is missing', async () => {
  // not on the harness's queues: it takes none of the jobs meant for this file's configured push worker
  const worker = spawnRole('workers/push.ts', { env: { FCM_PROJECT_ID: '', FCM_CLIENT_EMAIL: '', FCM_PRIVATE_KEY: '', GOOGLE_APPLICATION_CREDENTIALS: '' } }, h.life);
  const log = await worker.waitForLog((l) => String(l.msg).includes('NOT configured'), 25_000, 'the warning that push is not configured');
  expect(log).toMatchObject({ level: 40, channel: 'push', vendor: 'fcm', missing: ['FCM_PROJECT_ID', 'FCM_CLIENT_EMAIL', 'FCM_PRIVATE_KEY'] });
  worker.child.kill('SIGTERM');
});
