import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { QUEUE } from '../queues/names.js';
import { preferenceGate } from '../src/domain/preferences/preferences.js';
import { instantOf, wallClockAt, nextDay } from '../src/domain/time/zoned-time.js';
import { startWebhookReceiver } from './fakes/webhook-receiver.js';
import { startChannelWorker } from './helpers/channels.js';
import { createHarness, uniq, waitFor, type Harness } from './helpers/harness.js';

let h: Harness;
let svc: string;
let hooks: Awaited<ReturnType<typeof startWebhookReceiver>>;

/**
 * The injected clock: 23:30 tonight in Shanghai (a future instant, so the
 * delayed job's release time is in the future too and nothing waits hours).
 */
const tz = 'Asia/Shanghai';
const nowThere = wallClockAt(new Date(), tz);
const tonight = instantOf({ ...nowThere, hour: 23, minute: 30, second: 0 }, tz).getTime();
const fakeNow = tonight > Date.now() ? tonight : instantOf({ ...nextDay(nowThere), hour: 23, minute: 30, second: 0 }, tz).getTime();
const morning = instantOf({ ...wallClockAt(new Date(fakeNow), tz), hour: 8, minute: 0, second: 0 }, tz).getTime() + 86_400_000;

beforeAll(async () => {
  h = await createHarness({ RATE_LIMIT_USER_PER_MIN: '1000000' });
  hooks = await startWebhookReceiver('prefs-hook-secret');
  h.life.add('webhook receiver', () => hooks.close());
  await h.startIngest();
  await startChannelWorker(h, 'webhook', { WEBHOOK_SECRET: 'prefs-hook-secret' }, { gate: preferenceGate(h.orm, () => fakeNow) });
  svc = await h.serviceToken();
});
afterAll(() => h.close());

const prefsOf = async (user: string, body?: unknown) => {
  const token = await h.token({ sub: user });
  return body === undefined ? h.request('GET', '/api/v1/preferences', { token }) : h.request('PUT', '/api/v1/preferences', { token, body });
};

describe('GET/PUT /preferences', () => {
  test('a user without preferences gets the defaults', async () => {
    const r = await prefsOf(uniq('u'));
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ channels: {}, do_not_disturb: { enabled: false }, mute_until: null });
  });

  test('PUT changes the fields it names, for the token’s own user only; both the VoiceHelper API’s flat names and nested ones work', async () => {
    const user = uniq('u');
    const a = await prefsOf(user, { channels: { info: ['app', 'in_app'], '*': ['app', 'email'] }, do_not_disturb_start: '22:00', do_not_disturb_end: '08:00', timezone: tz });
    expect(a.status).toBe(200);
    expect(a.body).toMatchObject({
      channels: { info: ['app'], '*': ['app', 'email'] },
      do_not_disturb: { enabled: true, start: '22:00', end: '08:00', timezone: tz },
      do_not_disturb_start: '22:00',
    });
    const b = await prefsOf(user, { mute_until: '2030-01-01T00:00:00+08:00' });
    expect(b.body).toMatchObject({ mute_until: '2029-12-31T16:00:00.000Z', do_not_disturb: { start: '22:00' }, channels: { info: ['app'] } });
    const c = await prefsOf(user, { do_not_disturb: { start: '23:00', end: '07:00', timezone: 'Europe/Berlin' } });
    expect(c.body.do_not_disturb).toEqual({ enabled: true, start: '23:00', end: '07:00', timezone: 'Europe/Berlin' });
    const d = await prefsOf(user, { do_not_disturb: null, mute_until: null });
    expect(d.body).toMatchObject({ do_not_disturb: { enabled: false }, mute_until: null });
    expect((await prefsOf(uniq('other'))).body.channels).toEqual({});
  });

  test('bad values are 400s naming each field', async () => {
    const r = await prefsOf(uniq('u'), {
      do_not_disturb_start: '25:00',
      timezone: 'Moon/Base',
      channels: { gossip: ['app'], info: ['pigeon'] },
      mute_until: 'tomorrow',
      colour: 'red',
    });
    expect(r.status).toBe(400);
    expect(r.body.errors.map((e: any) => e.path).sort()).toEqual(['channels.gossip', 'channels.info.0', 'colour', 'do_not_disturb_start', 'mute_until', 'timezone']);
    const half = await prefsOf(uniq('u'), { do_not_disturb_start: '22:00' });
    expect(half.status).toBe(400);
    expect(half.body.errors[0].path).toBe('do_not_disturb_end');
  });
});

describe('applied before delivery (webhook channel, clock at 23:30 in Shanghai)', () => {
  const send = async (user: string, extra: Record<string, unknown> = {}) => {
    const r = await h.request('POST', '/api/v1/notifications', {
      token: svc,
      body: { title: '夜间', content: '通知', user_id: user, channels: ['app', 'webhook'], metadata: { webhook_url: `${hooks.url}/${user}` }, ...extra },
    });
    expect(r.status).toBe(202);
    return r.body.id as string;
  };
  const deliveriesOf = async (id: string) => (await h.request('GET', `/api/v1/notifications/${id}/deliveries`, { token: svc })).body;
  const inInbox = async (user: string, id: string) => {
    const token = await h.token({ sub: user });
    return (await h.request('GET', `/api/v1/notifications/${id}`, { token })).status === 200;
  };

  test('a channel the user turned off is skipped, visible in deliveries; the inbox still stores', async () => {
    const user = uniq('off');
    await prefsOf(user, { channels: { info: ['app'] } });
    const id = await send(user);
    const d = await waitFor(async () => {
      const list = await deliveriesOf(id);
      const w = list.deliveries?.find((x: any) => x.channel === 'webhook');
      return w?.status === 'skipped' ? w : null;
    });
    expect(d.reason).toBe('channel_off');
    expect(hooks.events.some((e) => e.body?.notification_id === id || JSON.stringify(e.body).includes(id))).toBe(false);
    expect(await inInbox(user, id)).toBe(true);
  });

  test('during do-not-disturb a normal delivery is held until 08:00 there, not dropped', async () => {
    const user = uniq('night');
    await prefsOf(user, { do_not_disturb: { start: '22:00', end: '08:00', timezone: tz } });
    const id = await send(user);
    const d = await waitFor(async () => {
      const list = await deliveriesOf(id);
      const w = list.deliveries?.find((x: any) => x.channel === 'webhook');
      return w?.reason === 'do_not_disturb' ? w : null;
    });
    expect(d.status).toBe('queued');
    const [row] = await h.orm.em.fork().execute<Array<{ id: string }>>(`select id from deliveries where notification_id = ? and channel = 'webhook'`, [id]);
    const score = await h.redis.zscore(`${h.prefix}:${QUEUE.webhook}:delayed`, `d-${row.id}`);
    expect(score).not.toBeNull();
    // BullMQ keeps (release time × 4096 + a counter) as the delayed score
    expect(Math.floor(Number(score) / 4096)).toBe(morning);
    expect(await inInbox(user, id)).toBe(true);
  });

  test('urgent goes through do-not-disturb', async () => {
    const user = uniq('urgent');
    await prefsOf(user, { do_not_disturb: { start: '22:00', end: '08:00', timezone: tz }, mute_until: '2099-01-01T00:00:00Z' });
    const id = await send(user, { priority: 'urgent' });
    const d = await waitFor(async () => {
      const list = await deliveriesOf(id);
      const w = list.deliveries?.find((x: any) => x.channel === 'webhook');
      return w?.status === 'sent' ? w : null;
    });
    expect(d.status).toBe('sent');
  });

  test("the user's recipient time zone is used when the preferences name none", async () => {
    const user = uniq('tz');
    await h.orm.em.fork().execute(`insert into recipients (tenant, user_id, timezone) values (?, ?, 'Asia/Tokyo')`, [h.tenant, user]);
    await prefsOf(user, { do_not_disturb_start: '22:00', do_not_disturb_end: '08:00' });
    // 23:30 in Shanghai is 00:30 in Tokyo (inside the window) but 15:30 UTC (outside it)
    const id = await send(user);
    const d = await waitFor(async () => {
      const list = await deliveriesOf(id);
      const w = list.deliveries?.find((x: any) => x.channel === 'webhook');
      return w?.reason === 'do_not_disturb' ? w : null;
    });
    expect(d.status).toBe('queued');
  });
});

test('a delivery already running when its notification was recalled is skipped by the gate', async () => {
  const user = uniq('late');
  const id = (await h.request('POST', '/api/v1/notifications', { token: svc, body: { title: 't', content: 'c', user_id: user } })).body.id;
  await waitFor(async () => (await h.orm.em.fork().execute(`select 1 from notifications where id = ?`, [id])).length > 0);
  const gate = preferenceGate(h.orm, () => Date.now());
  const job = {
    delivery_id: uniq('d'),
    tenant: h.tenant,
    notification_id: id,
    sender: 'svc',
    recipient: user,
    direct: false,
    channel: 'webhook' as const,
    address: 'http://127.0.0.1:9/x',
    fallbacks: [],
    fallback_of: null,
    message: { title: 't', content: 'c', type: 'info' as const, priority: 'urgent' as const, metadata: {}, created_at: new Date().toISOString() },
  };
  expect(await gate(job)).toEqual({ action: 'send' });
  expect((await h.request('DELETE', `/api/v1/notifications/${id}/recall`, { token: svc })).status).toBe(200);
  expect(await gate(job)).toEqual({ action: 'skip', reason: 'recalled' });
});
