/**
 * A user's preferences are applied by the real channel worker process
 * (workers/webhook.ts, wired by workers/channel-main.ts), not only by a
 * worker a test builds with its own gate: channel off → skipped, mute and
 * do-not-disturb → held, and a user without preferences is delivered to.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startWebhookReceiver } from './fakes/webhook-receiver.js';
import { createHarness, uniq, waitFor, type Harness } from './helpers/harness.js';
import { spawnRole } from './helpers/roles.js';

const SECRET = 'prefs-process-hook-secret';
let h: Harness;
let svc: string;
let hooks: Awaited<ReturnType<typeof startWebhookReceiver>>;

beforeAll(async () => {
  h = await createHarness();
  hooks = await startWebhookReceiver(SECRET);
  h.life.add('webhook receiver', () => hooks.close());
  h.life.add('webhook queue', () => h.deps.queues.delivery.webhook.obliterate({ force: true }).catch(() => undefined));
  await h.startIngest();
  const worker = spawnRole('workers/webhook.ts', { harness: h, env: { WEBHOOK_SECRET: SECRET } }, h.life);
  await worker.waitForLog((l) => l.msg === 'webhook worker started', 60_000, 'the webhook worker');
  svc = await h.serviceToken();
}, 90_000);
afterAll(() => h?.close());

const putPrefs = async (user: string, body: unknown) => {
  const r = await h.request('PUT', '/api/v1/preferences', { token: await h.token({ sub: user }), body });
  expect(r.status).toBe(200);
};

const send = async (user: string) => {
  const r = await h.request('POST', '/api/v1/notifications', {
    token: svc,
    body: { title: 'shift change', content: 'see the rota', user_id: user, channels: ['app', 'webhook'], metadata: { webhook_url: `${hooks.url}/${user}` } },
  });
  expect(r.status).toBe(202);
  return r.body.id as string;
};

/** The webhook delivery of a notification once `done` says it has settled (as its sender sees it). */
const webhookDelivery = (id: string, done: (d: any) => boolean, label: string) =>
  waitFor(
    async () => {
      const r = await h.request('GET', `/api/v1/notifications/${id}/deliveries`, { token: svc });
      const d = r.body.deliveries?.find((x: any) => x.channel === 'webhook');
      return d && done(d) ? d : null;
    },
    20_000,
    label,
  );

/** A window of do-not-disturb in UTC around this moment: from the last full hour to two hours after it. */
const windowAroundNow = () => {
  const hour = new Date().getUTCHours();
  const hh = (n: number) => `${String((n + 24) % 24).padStart(2, '0')}:00`;
  return { start: hh(hour), end: hh(hour + 2), timezone: 'UTC' };
};

test("the channel worker process applies each user's preferences before delivering", async () => {
  const off = uniq('off');
  const muted = uniq('muted');
  const night = uniq('dnd');
  const plain = uniq('plain');
  await putPrefs(off, { channels: { info: ['app'] } });
  await putPrefs(muted, { mute_until: '2099-01-01T00:00:00Z' });
  await putPrefs(night, { do_not_disturb: windowAroundNow() });

  const ids = { off: await send(off), muted: await send(muted), night: await send(night), plain: await send(plain) };

  // the control: the process delivers at all
  await webhookDelivery(ids.plain, (d) => d.status === 'sent', 'the plain user delivered');
  await waitFor(() => hooks.events.some((e) => JSON.stringify(e.body).includes(ids.plain)), 10_000, 'the plain user at the receiver');

  const skipped = await webhookDelivery(ids.off, (d) => d.status !== 'queued', 'the channel-off delivery settled');
  expect(skipped).toMatchObject({ status: 'skipped', reason: 'channel_off' });

  const held = await webhookDelivery(ids.muted, (d) => d.status !== 'queued' || d.reason === 'muted', 'the muted delivery held');
  expect(held).toMatchObject({ status: 'queued', reason: 'muted' });

  const dnd = await webhookDelivery(ids.night, (d) => d.status !== 'queued' || d.reason === 'do_not_disturb', 'the do-not-disturb delivery held');
  expect(dnd).toMatchObject({ status: 'queued', reason: 'do_not_disturb' });

  // nothing but the plain user's message reached the receiver
  for (const id of [ids.off, ids.muted, ids.night]) expect(hooks.events.some((e) => JSON.stringify(e.body).includes(id))).toBe(false);
});
