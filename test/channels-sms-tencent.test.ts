/**
 * Tencent Cloud SMS (SMS_PROVIDER=tencent) against a local fake that checks
 * the TC3-HMAC-SHA256 signature with the SecretKey the way Tencent's server
 * does: the adapter's requests and its reading of Tencent's answers, then
 * the whole pipeline (api → ingest → sms worker → fake), "not configured"
 * in the real worker process, and a worker killed between the send and its
 * acknowledgement.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createProvider } from '../src/channels/index.js';
import { TencentSmsProvider } from '../src/channels/sms/tencent.js';
import type { ChannelProvider, DeliveryError, OutgoingMessage } from '../src/channels/types.js';
import { loadConfig } from '../src/config.js';
import { newId } from '../src/domain/ids.js';
import { createHarness, waitFor, type Harness } from './helpers/harness.js';
import { deliveriesOf, startChannelWorker } from './helpers/channels.js';
import type { Proc } from './helpers/procs.js';
import { spawnRole } from './helpers/roles.js';
import { startTcpProxy } from './helpers/tcp-proxy.js';
import { startTencentFake } from './fakes/tencent-sms.js';

const LOCK_MS = 1500;
/**
 * Every worker on these queues checks for stalled jobs often: BullMQ lets one
 * check run per interval across all workers, so a worker with the 30 s default
 * would hold off the fresh worker's takeover of a killed worker's job.
 */
const QUICK = { lockDurationMs: LOCK_MS, stalledIntervalMs: 300 };
const cfg = (env: Record<string, string>) => loadConfig({ NODE_ENV: 'test', PROVIDER_TIMEOUT_MS: '2000', ...env });

let fake: Awaited<ReturnType<typeof startTencentFake>>;
const tencentEnv = (over: Record<string, string> = {}) => ({
  SMS_PROVIDER: 'tencent',
  TENCENT_SECRET_ID: 'AKIDherald',
  TENCENT_SECRET_KEY: 'tencent-secret',
  TENCENT_SMS_SDK_APP_ID: fake.appId,
  TENCENT_SMS_SIGN: '智链OS',
  TENCENT_SMS_TEMPLATE_ID: '1110',
  TENCENT_SMS_ENDPOINT: fake.endpoint,
  ...over,
});

const message = (address: string, extra: Partial<OutgoingMessage> = {}): OutgoingMessage => ({
  deliveryId: newId(),
  notificationId: newId(),
  tenant: 't1',
  address,
  title: '库存预警',
  content: '鸡肉库存不足 <5kg> & 请补货',
  type: 'warning',
  priority: 'high',
  metadata: {},
  created_at: new Date().toISOString(),
  ...extra,
});
const signal = (ms = 2000) => AbortSignal.timeout(ms);

/** The adapter's verdict on a failed send. */
async function failure(provider: ChannelProvider, m: OutgoingMessage, ms = 2000): Promise<DeliveryError> {
  try {
    await provider.send(m, signal(ms));
  } catch (err) {
    return provider.classify(err);
  }
  throw new Error('the send was expected to fail');
}

beforeAll(async () => {
  fake = await startTencentFake({ keys: { AKIDherald: 'tencent-secret' } });
});
afterAll(() => fake.close());

describe('the Tencent adapter (SendSms 2021-01-11, TC3-HMAC-SHA256)', () => {
  let sms: ChannelProvider;
  beforeAll(() => {
    sms = createProvider('sms', cfg(tencentEnv()));
  });

  test('SMS_PROVIDER picks the vendor; aliyun stays the default', () => {
    expect(sms).toBeInstanceOf(TencentSmsProvider);
    expect(sms.missing).toEqual([]);
    expect(createProvider('sms', cfg({})).vendor).toBe('aliyun');
  });

  test('a signed send: E.164 number, app, sign, template, positional params, the delivery id as SessionContext; SerialNo is the provider id', async () => {
    const m = message('138 0013-8000');
    const res = await sms.send(m, signal());
    const last = fake.sent.at(-1)!;
    expect(last).toMatchObject({ phone: '+8613800138000', appId: fake.appId, signName: '智链OS', templateId: '1110', sessionContext: m.deliveryId });
    expect(last.params).toEqual(['库存预警', m.content]);
    expect(res.providerMessageId).toBe(last.serialNo);
    const req = fake.requests.at(-1)!;
    expect(req.path).toBe('/');
    expect(req.headers).toMatchObject({ 'x-tc-action': 'SendSms', 'x-tc-version': '2021-01-11', 'x-tc-region': 'ap-guangzhou', 'content-type': 'application/json; charset=utf-8' });
    expect(Math.abs(Number(req.headers['x-tc-timestamp']) - Date.now() / 1000)).toBeLessThan(5);
    expect(req.headers.authorization).toMatch(/^TC3-HMAC-SHA256 Credential=AKIDherald\/\d{4}-\d{2}-\d{2}\/sms\/tc3_request, SignedHeaders=content-type;host, Signature=[0-9a-f]{64}$/);
  });

  test('numbers with a country code keep it; 0086 and 86 prefixes become +86', async () => {
    for (const [given, sent] of [
      ['+852 6123 4567', '+85261234567'],
      ['008613900139000', '+8613900139000'],
      ['8613900139001', '+8613900139001'],
    ]) {
      await sms.send(message(given), signal());
      expect(fake.sent.at(-1)!.phone).toBe(sent);
    }
  });

  test('the notification picks its template; its params go in order (an array, or an object by its keys "1", "2", …)', async () => {
    await sms.send(message('13800138000', { metadata: { sms_template_code: '2220', sms_template_params: { 2: '补货', 1: 1234 } } }), signal());
    expect(fake.sent.at(-1)).toMatchObject({ templateId: '2220', params: ['1234', '补货'] });
    await sms.send(message('13800138000', { metadata: { sms_template_params: [5, 'x'] } }), signal());
    expect(fake.sent.at(-1)).toMatchObject({ templateId: '1110', params: ['5', 'x'] });
  });

  test('a wrong SecretKey fails the signature check: permanent, with the code', async () => {
    const before = fake.sent.length;
    const bad = createProvider('sms', cfg(tencentEnv({ TENCENT_SECRET_KEY: 'not-the-secret' })));
    expect(await failure(bad, message('13800138000'))).toMatchObject({ kind: 'permanent', code: 'AuthFailure.SignatureFailure' });
    const unknown = createProvider('sms', cfg(tencentEnv({ TENCENT_SECRET_ID: 'AKIDnobody' })));
    expect(await failure(unknown, message('13800138000'))).toMatchObject({ kind: 'permanent', code: 'AuthFailure.SecretIdNotFound' });
    expect(fake.sent.length).toBe(before);
  });

  test('per-number codes in SendStatusSet: permanent, retryable or maybe-sent, the code kept', async () => {
    expect(await failure(sms, message('12'))).toMatchObject({ kind: 'permanent', code: 'InvalidParameterValue.IncorrectPhoneNumber' });
    for (const code of [
      'LimitExceeded.PhoneNumberDailyLimit',
      'LimitExceeded.PhoneNumberOneHourLimit',
      'FailedOperation.ContainSensitiveWord',
      'FailedOperation.InsufficientBalanceInSmsPackage',
      'FailedOperation.PhoneNumberInBlacklist',
      'FailedOperation.TemplateIncorrectOrUnapproved',
      'UnsupportedOperation.ContainDomesticAndInternationalPhoneNumber',
      'UnauthorizedOperation.SerivceSuspendDueToArrears',
    ]) {
      fake.next({ status: code });
      expect(await failure(sms, message('13800138000')), code).toMatchObject({ kind: 'permanent', code });
    }
    fake.next({ status: 'LimitExceeded.PhoneNumberThirtySecondLimit' });
    expect(await failure(sms, message('13800138000'))).toMatchObject({ kind: 'retryable', code: 'LimitExceeded.PhoneNumberThirtySecondLimit' });
    fake.next({ status: 'InternalError.Timeout' });
    const maybe = await failure(sms, message('13800138000'));
    expect(maybe).toMatchObject({ kind: 'retryable', code: 'InternalError.Timeout' });
    expect(maybe.opts.outcomeUnknown).toBe(true);
  });

  test('request-level answers: rate limit is throttling; internal errors, 5xx and timeouts are retryable', async () => {
    fake.next({ error: 'RequestLimitExceeded' }, { error: 'RequestLimitExceeded.UinLimitExceeded' }, { error: 'InternalError' }, 'http502', 'timeout');
    expect(await failure(sms, message('13800138000'))).toMatchObject({ kind: 'throttled', code: 'RequestLimitExceeded' });
    expect(await failure(sms, message('13800138000'))).toMatchObject({ kind: 'throttled', code: 'RequestLimitExceeded.UinLimitExceeded' });
    expect(await failure(sms, message('13800138000'))).toMatchObject({ kind: 'retryable', code: 'InternalError' });
    expect(await failure(sms, message('13800138000'))).toMatchObject({ kind: 'retryable', code: 'http_502' });
    expect(await failure(sms, message('13800138000'), 300)).toMatchObject({ kind: 'retryable', reason: 'timeout' });
  });

  test('an earlier send of the same delivery is found among the receipts by its SessionContext', async () => {
    const m = message('13700137000');
    expect(await sms.findPrevious!(m, signal())).toBeNull();
    const { providerMessageId } = await sms.send(m, signal());
    expect(await sms.findPrevious!(m, signal())).toEqual({ providerMessageId });
    // a receipt lookup the account may not make cannot tell: the delivery is sent again rather than lost
    const otherApp = createProvider('sms', cfg(tencentEnv({ TENCENT_SMS_SDK_APP_ID: '1400000000' })));
    expect(await otherApp.findPrevious!(m, signal())).toBeNull();
  });
});

describe('through the pipeline', () => {
  let h: Harness;
  let svc: string;
  let proxy: Awaited<ReturnType<typeof startTcpProxy>>;

  const send = async (content: string, userId = 'u-tc') => {
    const r = await h.request('POST', '/api/v1/notifications', { token: svc, body: { title: '支付成功', content, user_id: userId, channels: ['sms'] } });
    expect(r.status).toBe(202);
    return r.body.id as string;
  };
  const settled = (id: string) =>
    waitFor(
      async () => {
        const [d] = await deliveriesOf(h, id);
        return d && ['sent', 'failed', 'skipped'].includes(d.status) ? d : null;
      },
      20_000,
      `delivery of ${id} to settle`,
    );
  const only = async (id: string) => {
    const rows = await deliveriesOf(h, id);
    expect(rows).toHaveLength(1);
    return rows[0];
  };

  /** The real sms process entry (workers/sms.ts) on this harness's queues, its Redis through the proxy; resolves once it consumes. */
  async function spawnWorker(env: Record<string, string>): Promise<Proc> {
    const worker = spawnRole(
      'workers/sms.ts',
      { harness: h, env: { ...env, REDIS_URL: `redis://127.0.0.1:${proxy.port}`, CHANNEL_LOCK_MS: String(LOCK_MS), CHANNEL_STALLED_INTERVAL_MS: '300' } },
      h.life,
    );
    await worker.waitForLog((l) => l.msg === 'sms worker started', 30_000, 'the sms worker');
    return worker;
  }
  const freshProxy = async () => {
    proxy = await startTcpProxy('127.0.0.1', Number(new URL(h.config.REDIS_URL).port || 6379));
    const mine = proxy;
    h.life.add('proxy', () => mine.close());
  };

  beforeAll(async () => {
    h = await createHarness();
    await h.startIngest();
    svc = await h.serviceToken();
    await h.request('PUT', '/api/v1/recipients/u-tc', { token: svc, body: { phone: '13800009999' } });
  }, 60_000);
  afterAll(() => h.close());

  test('delivered through Tencent with the SerialNo recorded; rate limiting holds the job without using an attempt; a per-number refusal fails for good', async () => {
    const w = await startChannelWorker(h, 'sms', tencentEnv(), QUICK);
    try {
      const ok = await settled(await send(`tc-ok ${Date.now()}`));
      const [msg] = fake.sent.filter((s) => s.sessionContext === ok.id);
      expect(msg).toMatchObject({ phone: '+8613800009999', templateId: '1110', params: ['支付成功', expect.stringMatching(/^tc-ok /)] });
      expect(ok).toMatchObject({ status: 'sent', attempts: 1, provider_message_id: msg.serialNo });

      fake.next({ error: 'RequestLimitExceeded' });
      const held = await settled(await send(`tc-throttle ${Date.now()}`));
      expect(held).toMatchObject({ status: 'sent', attempts: 1 });
      expect(fake.sent.filter((s) => s.sessionContext === held.id)).toHaveLength(1);

      fake.next({ status: 'LimitExceeded.PhoneNumberDailyLimit' });
      const refused = await settled(await send(`tc-daily ${Date.now()}`));
      expect(refused).toMatchObject({ status: 'failed', reason: 'permanent', attempts: 1 });
      expect(refused.last_error).toContain('LimitExceeded.PhoneNumberDailyLimit');
    } finally {
      await w.worker.close();
    }
  });

  test('a wrong SecretKey is refused by the signature check and recorded as a permanent failure naming the code', async () => {
    const w = await startChannelWorker(h, 'sms', tencentEnv({ TENCENT_SECRET_KEY: 'rotated-away' }), QUICK);
    try {
      const d = await settled(await send(`tc-badkey ${Date.now()}`));
      expect(d).toMatchObject({ status: 'failed', reason: 'permanent', attempts: 1 });
      expect(d.last_error).toContain('AuthFailure.SignatureFailure');
      expect(fake.sent.some((s) => s.sessionContext === d.id)).toBe(false);
    } finally {
      await w.worker.close();
    }
  });

  test('SMS_PROVIDER=tencent without credentials: the sms process says so, and deliveries fail as not_configured naming the TENCENT_ variables', async () => {
    await freshProxy();
    const worker = await spawnWorker({ SMS_PROVIDER: 'tencent', ALIYUN_ACCESS_KEY: 'LTAIignored', ALIYUN_ACCESS_SECRET: 's', ALIYUN_SMS_SIGN: 's' });
    const warned = worker.logs().find((l) => l.vendor === 'tencent' && Array.isArray(l.missing));
    expect(warned?.missing).toEqual(['TENCENT_SECRET_ID', 'TENCENT_SECRET_KEY', 'TENCENT_SMS_SDK_APP_ID', 'TENCENT_SMS_SIGN']);
    const d = await settled(await send(`tc-unconfigured ${Date.now()}`));
    await worker.stop('SIGTERM');
    expect(d).toMatchObject({ status: 'failed', reason: 'not_configured', attempts: 1 });
    expect(d.last_error).toContain('TENCENT_SECRET_ID, TENCENT_SECRET_KEY, TENCENT_SMS_SDK_APP_ID, TENCENT_SMS_SIGN');
  });

  test('killed after Herald recorded the send: the fresh worker sends nothing and records nothing twice', async () => {
    await freshProxy();
    const worker = await spawnWorker(tencentEnv());
    // once Tencent has the message, the worker's Redis traffic is cut: it records the send in PostgreSQL but cannot acknowledge the job
    fake.onSend.push(() => proxy.pause());
    const id = await send(`tc-crash-b ${Date.now()}`);
    const recorded = await waitFor(async () => {
      const row = (await deliveriesOf(h, id))[0];
      return row?.status === 'sent' ? row : null;
    }, 20_000);
    await worker.stop('SIGKILL');
    fake.onSend.length = 0;

    const fresh = await startChannelWorker(h, 'sms', tencentEnv(), QUICK);
    const job = await waitFor(async () => {
      const j = await fresh.queues.sms.getJob(`d-${recorded.id}`);
      return j?.finishedOn ? j : null;
    }, 20_000);
    expect(await job.getState()).toBe('completed');
    expect(job.returnvalue).toMatchObject({ status: 'sent' });
    await fresh.worker.close();
    expect(fake.sent.filter((s) => s.sessionContext === recorded.id)).toHaveLength(1);
    expect(await only(id)).toMatchObject({ status: 'sent', attempts: 1, provider_message_id: recorded.provider_message_id });
  });

  test('killed after Tencent accepted but before Herald recorded it: the fresh worker finds the receipt by SessionContext and does not send again', async () => {
    await freshProxy();
    const worker = await spawnWorker(tencentEnv());
    const held = fake.hold(); // Tencent takes the message; its answer never reaches the dying worker
    const killed = new Promise<void>((resolve) => fake.onSend.push(() => void worker.stop('SIGKILL').then(() => resolve())));
    const id = await send(`tc-crash-c ${Date.now()}`);
    await killed;
    fake.onSend.length = 0;
    expect((await only(id)).status).toBe('sending');

    const fresh = await startChannelWorker(h, 'sms', tencentEnv(), QUICK);
    const d = await waitFor(async () => {
      const r = await only(id);
      return r.status === 'sent' ? r : null;
    }, 20_000);
    held.open();
    await fresh.worker.close();
    const messages = fake.sent.filter((s) => s.sessionContext === d.id);
    expect(messages).toHaveLength(1);
    expect(d).toMatchObject({ attempts: 2, provider_message_id: messages[0].serialNo });
  });
});
