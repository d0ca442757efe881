/**
 * Exactly-once effect per delivery record when a worker dies between the
 * provider's send and BullMQ's acknowledgement. A real worker process
 * (workers/<channel>.ts) is killed with SIGKILL at that moment; a fresh
 * worker then takes the stalled job over. One message reaches the fake and
 * one success is recorded, whether the provider de-duplicates (Feishu uuid),
 * Herald's record already says sent, or Herald has to ask the provider
 * (Aliyun QuerySendDetails by OutId).
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { ExternalChannel } from '../queues/jobs.js';
import { createHarness, waitFor, type Harness } from './helpers/harness.js';
import { deliveriesOf, startChannelWorker } from './helpers/channels.js';
import type { Proc } from './helpers/procs.js';
import { spawnRole } from './helpers/roles.js';
import { startTcpProxy } from './helpers/tcp-proxy.js';
import { startAliyunFake } from './fakes/aliyun-sms.js';
import { startFeishuFake } from './fakes/feishu.js';

const LOCK_MS = 1500;

let h: Harness;
let svc: string;
let proxy: Awaited<ReturnType<typeof startTcpProxy>>;
let feishu: Awaited<ReturnType<typeof startFeishuFake>>;
let aliyun: Awaited<ReturnType<typeof startAliyunFake>>;

const feishuEnv = () => ({ FEISHU_APP_ID: feishu.appId, FEISHU_APP_SECRET: feishu.appSecret, FEISHU_API_BASE: feishu.url });
const smsEnv = () => ({
  ALIYUN_ACCESS_KEY: 'LTAIcrash',
  ALIYUN_ACCESS_SECRET: 'crash-secret',
  ALIYUN_SMS_SIGN: '智链OS',
  ALIYUN_SMS_TEMPLATE_CODE: 'SMS_9',
  ALIYUN_SMS_ENDPOINT: aliyun.endpoint,
});

/** The channel's real process entry, talking to Redis through the proxy; resolves once it is consuming. */
async function spawnWorker(channel: ExternalChannel, env: Record<string, string>): Promise<Proc> {
  const worker = spawnRole(
    `workers/${channel}.ts`,
    {
      harness: h,
      env: { ...env, REDIS_URL: `redis://127.0.0.1:${proxy.port}`, CHANNEL_LOCK_MS: String(LOCK_MS), CHANNEL_STALLED_INTERVAL_MS: '300' },
    },
    h.life,
  );
  await worker.waitForLog((l) => l.msg === `${channel} worker started`, 30_000, `the ${channel} worker`);
  return worker;
}

const only = async (id: string) => {
  const rows = await deliveriesOf(h, id);
  expect(rows).toHaveLength(1);
  return rows[0];
};

beforeAll(async () => {
  h = await createHarness();
  proxy = await startTcpProxy('127.0.0.1', Number(new URL(h.config.REDIS_URL).port || 6379));
  feishu = await startFeishuFake({ users: ['ou_crash'] });
  aliyun = await startAliyunFake({ LTAIcrash: 'crash-secret' });
  h.life.add('fakes', async () => {
    await proxy.close();
    await feishu.close();
    await aliyun.close();
  });
  await h.startIngest();
  svc = await h.serviceToken();
  await h.request('PUT', '/api/v1/recipients/u-crash', { token: svc, body: { feishu_open_id: 'ou_crash', phone: '13800009999' } });
}, 60_000);
afterAll(() => h.close());

describe('a worker killed between the send and its acknowledgement', () => {
  test('Feishu: the resend carries the same uuid, Feishu drops it, one message and one success', async () => {
    const worker = await spawnWorker('feishu', feishuEnv());
    const held = feishu.hold(); // Feishu takes the message, its answer never reaches the dying worker
    const killed = new Promise<void>((resolve) => feishu.onSend.push(() => void worker.stop('SIGKILL').then(() => resolve())));
    const sent = await h.request('POST', '/api/v1/notifications', {
      token: svc,
      body: { title: '订单确认', content: `crash-a ${Date.now()}`, user_id: 'u-crash', channels: ['feishu'] },
    });
    await killed;
    expect((await only(sent.body.id)).status).toBe('sending');

    const fresh = await startChannelWorker(h, 'feishu', feishuEnv(), { lockDurationMs: LOCK_MS, stalledIntervalMs: 300 });
    const d = await waitFor(async () => {
      const row = await only(sent.body.id);
      return row.status === 'sent' ? row : null;
    }, 20_000);
    held.open();
    await fresh.worker.close();
    const messages = feishu.delivered.filter((m) => m.uuid === d.id);
    expect(messages).toHaveLength(1);
    expect(d).toMatchObject({ attempts: 2, provider_message_id: messages[0].message_id });
  });

  test('Aliyun, after Herald recorded the send: the fresh worker sends nothing and records nothing twice', async () => {
    const worker = await spawnWorker('sms', smsEnv());
    // once Aliyun has the message, the worker's Redis traffic is cut: it records the send in PostgreSQL but cannot acknowledge the job
    aliyun.onSend.push(() => proxy.pause());
    const sent = await h.request('POST', '/api/v1/notifications', {
      token: svc,
      body: { title: '支付成功', content: `crash-b ${Date.now()}`, user_id: 'u-crash', channels: ['sms'] },
    });
    const recorded = await waitFor(async () => {
      const row = (await deliveriesOf(h, sent.body.id))[0];
      return row?.status === 'sent' ? row : null;
    }, 20_000);
    await worker.stop('SIGKILL');
    aliyun.onSend.length = 0;

    const fresh = await startChannelWorker(h, 'sms', smsEnv(), { lockDurationMs: LOCK_MS, stalledIntervalMs: 300 });
    // finishedOn and returnvalue are written together when the job completes; reading
    // the state after fetching the job could see it completed with a stale returnvalue
    const job = await waitFor(async () => {
      const j = await fresh.queues.sms.getJob(`d-${recorded.id}`);
      return j?.finishedOn ? j : null;
    }, 20_000);
    expect(await job.getState()).toBe('completed');
    expect(job.returnvalue).toMatchObject({ status: 'sent' });
    await fresh.worker.close();
    expect(aliyun.sent.filter((s) => s.outId === recorded.id)).toHaveLength(1);
    expect(await only(sent.body.id)).toMatchObject({ status: 'sent', attempts: 1, provider_message_id: recorded.provider_message_id });
  });
});

describe('a worker killed after the provider accepted but before Herald recorded it', () => {
  test('Aliyun (no de-duplication): the fresh worker finds the send by OutId and does not send again', async () => {
    const restored = await startTcpProxy('127.0.0.1', Number(new URL(h.config.REDIS_URL).port || 6379));
    proxy = restored; // the earlier proxy is partitioned for good
    h.life.add('proxy', () => restored.close());
    const worker = await spawnWorker('sms', smsEnv());
    const held = aliyun.hold();
    const killed = new Promise<void>((resolve) => aliyun.onSend.push(() => void worker.stop('SIGKILL').then(() => resolve())));
    const sent = await h.request('POST', '/api/v1/notifications', {
      token: svc,
      body: { title: '支付成功', content: `crash-c ${Date.now()}`, user_id: 'u-crash', channels: ['sms'] },
    });
    await killed;
    aliyun.onSend.length = 0;
    const row = await only(sent.body.id);
    expect(row.status).toBe('sending');

    const fresh = await startChannelWorker(h, 'sms', smsEnv(), { lockDurationMs: LOCK_MS, stalledIntervalMs: 300 });
    const d = await waitFor(async () => {
      const r = await only(sent.body.id);
      return r.status === 'sent' ? r : null;
    }, 20_000);
    held.open();
    await fresh.worker.close();
    expect(aliyun.sent.filter((s) => s.outId === d.id)).toHaveLength(1);
    expect(d).toMatchObject({ attempts: 2, provider_message_id: `outid:${d.id}` });
  });
});
