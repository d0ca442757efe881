/**
 * Each provider adapter against a local fake that validates what the real
 * API validates, over real HTTP (SMTP for email): success, token expiry and
 * refresh, throttling, permanent failures, timeouts and 5xx.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SmtpProvider } from '../src/channels/email/smtp.js';
import { FeishuProvider } from '../src/channels/feishu/feishu.js';
import { FcmProvider } from '../src/channels/push/fcm.js';
import { AliyunSmsProvider } from '../src/channels/sms/aliyun.js';
import type { ChannelProvider, DeliveryError, OutgoingMessage } from '../src/channels/types.js';
import { WebhookProvider } from '../src/channels/webhook/webhook.js';
import { WecomProvider } from '../src/channels/wechat/wecom.js';
import { loadConfig } from '../src/config.js';
import { newId } from '../src/domain/ids.js';
import { startAliyunFake } from './fakes/aliyun-sms.js';
import { startFcmFake, makeServiceAccount } from './fakes/fcm.js';
import { startFeishuFake } from './fakes/feishu.js';
import { startSmtpServer } from './fakes/smtp.js';
import { startWebhookReceiver } from './fakes/webhook-receiver.js';
import { startWecomFake } from './fakes/wecom.js';

const cfg = (env: Record<string, string>) => loadConfig({ NODE_ENV: 'test', PROVIDER_TIMEOUT_MS: '2000', ...env });

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

describe('Aliyun SMS (SendSms, POP v1 signature)', () => {
  let fake: Awaited<ReturnType<typeof startAliyunFake>>;
  let sms: AliyunSmsProvider;
  beforeAll(async () => {
    fake = await startAliyunFake({ LTAIkey: 'aliyun-secret' });
    sms = new AliyunSmsProvider(
      cfg({ ALIYUN_ACCESS_KEY: 'LTAIkey', ALIYUN_ACCESS_SECRET: 'aliyun-secret', ALIYUN_SMS_SIGN: '智链OS', ALIYUN_SMS_TEMPLATE_CODE: 'SMS_100', ALIYUN_SMS_ENDPOINT: fake.endpoint }),
    );
  });
  afterAll(() => fake.close());

  test('a signed send carries the phone, sign, template, string params and the delivery id as OutId', async () => {
    const m = message('+86 138-0013-8000');
    const res = await sms.send(m, signal());
    const last = fake.sent.at(-1)!;
    expect(last).toMatchObject({ phone: '8613800138000', signName: '智链OS', templateCode: 'SMS_100', outId: m.deliveryId });
    expect(last.templateParam).toEqual({ title: '库存预警', content: m.content });
    expect(res.providerMessageId).toBe(last.bizId);
  });

  test('the notification can pick its own template and parameters', async () => {
    await sms.send(message('13800138000', { metadata: { sms_template_code: 'SMS_777', sms_template_params: { code: 1234 } } }), signal());
    expect(fake.sent.at(-1)).toMatchObject({ templateCode: 'SMS_777', templateParam: { code: '1234' } });
  });

  test('a wrong secret is refused by the signature check: permanent', async () => {
    const bad = new AliyunSmsProvider(
      cfg({ ALIYUN_ACCESS_KEY: 'LTAIkey', ALIYUN_ACCESS_SECRET: 'wrong', ALIYUN_SMS_SIGN: 's', ALIYUN_SMS_TEMPLATE_CODE: 'SMS_1', ALIYUN_SMS_ENDPOINT: fake.endpoint }),
    );
    const e = await failure(bad, message('13800138000'));
    expect(e).toMatchObject({ kind: 'permanent', code: 'SignatureDoesNotMatch' });
  });

  test('an illegal number and a bad template are permanent', async () => {
    expect(await failure(sms, message('12'))).toMatchObject({ kind: 'permanent', code: 'isv.MOBILE_NUMBER_ILLEGAL' });
    fake.script.push('permanent');
    expect(await failure(sms, message('13800138000'))).toMatchObject({ kind: 'permanent', code: 'isv.SMS_TEMPLATE_ILLEGAL' });
  });

  test('flow control is throttling, 5xx and timeouts are retryable', async () => {
    fake.script.push('throttle');
    expect(await failure(sms, message('13800138000'))).toMatchObject({ kind: 'throttled', code: 'Throttling.User' });
    fake.script.push('http500');
    expect(await failure(sms, message('13800138000'))).toMatchObject({ kind: 'retryable', code: 'http_503' });
    fake.script.push('timeout');
    expect(await failure(sms, message('13800138000'), 300)).toMatchObject({ kind: 'retryable', reason: 'timeout' });
  });

  test('QuerySendDetails finds an earlier send of the same delivery by its OutId', async () => {
    const m = message('13900139000');
    expect(await sms.findPrevious(m, signal())).toBeNull();
    await sms.send(m, signal());
    expect(await sms.findPrevious(m, signal())).toEqual({ providerMessageId: `outid:${m.deliveryId}` });
  });
});

describe('WeCom (gettoken + message/send)', () => {
  let fake: Awaited<ReturnType<typeof startWecomFake>>;
  let wecom: WecomProvider;
  beforeAll(async () => {
    fake = await startWecomFake({ users: ['zhangsan', 'lisi'] });
    wecom = new WecomProvider(cfg({ WECHAT_CORP_ID: fake.corpId, WECHAT_CORP_SECRET: fake.secret, WECHAT_AGENT_ID: String(fake.agentId), WECOM_API_BASE: fake.url }));
  });
  afterAll(() => fake.close());

  test('sends text with one cached token, and a textcard when the notification has a url', async () => {
    const before = fake.tokenRequests;
    const r = await wecom.send(message('zhangsan'), signal());
    await wecom.send(message('lisi', { content: 'second', metadata: { url: 'https://example.com/o/1' } }), signal());
    expect(fake.tokenRequests - before).toBe(1);
    expect(r.providerMessageId).toMatch(/^[0-9a-f]+$/);
    const [text, card] = fake.delivered.slice(-2);
    expect(text).toMatchObject({ touser: 'zhangsan', msgtype: 'text', agentid: fake.agentId });
    expect(text.text!.content).toContain('库存预警');
    expect(card).toMatchObject({ touser: 'lisi', msgtype: 'textcard', textcard: { title: '库存预警', description: 'second', url: 'https://example.com/o/1' } });
  });

  test('an expired token (42001) is refreshed and the send goes through', async () => {
    await wecom.send(message('zhangsan', { content: 'warm-up' }), signal());
    const before = fake.tokenRequests;
    fake.expireTokens();
    await wecom.send(message('zhangsan', { content: 'after expiry' }), signal());
    expect(fake.tokenRequests - before).toBe(1);
    expect(fake.delivered.at(-1)!.text!.content).toContain('after expiry');
  });

  test('an access token WeCom no longer knows (40014) is refreshed the same way', async () => {
    await wecom.send(message('zhangsan', { content: 'before reset' }), signal());
    const before = fake.tokenRequests;
    fake.forgetTokens();
    await wecom.send(message('zhangsan', { content: 'after reset' }), signal());
    expect(fake.tokenRequests - before).toBe(1);
    expect(fake.delivered.at(-1)!.text!.content).toContain('after reset');
  });

  test('errcode 0 with the user in invaliduser is a permanent failure for that user', async () => {
    expect(await failure(wecom, message('ghost'))).toMatchObject({ kind: 'permanent' });
  });

  test('duplicate check: the same message twice arrives once', async () => {
    const m = message('lisi', { content: `dup ${Date.now()}` });
    const before = fake.delivered.length;
    await wecom.send(m, signal());
    await wecom.send(m, signal());
    expect(fake.delivered.length - before).toBe(1);
  });

  test('45009 is throttling, 60020 permanent, 5xx and timeouts retryable', async () => {
    fake.script.push('throttle');
    expect(await failure(wecom, message('zhangsan'))).toMatchObject({ kind: 'throttled', code: '45009' });
    fake.script.push('permanent');
    expect(await failure(wecom, message('zhangsan'))).toMatchObject({ kind: 'permanent', code: '60020' });
    fake.script.push('http500');
    expect(await failure(wecom, message('zhangsan'))).toMatchObject({ kind: 'retryable', code: 'http_502' });
    fake.script.push('timeout');
    expect(await failure(wecom, message('zhangsan'), 300)).toMatchObject({ kind: 'retryable', reason: 'timeout' });
  });

  test('wrong credentials fail at gettoken: permanent', async () => {
    const bad = new WecomProvider(cfg({ WECHAT_CORP_ID: fake.corpId, WECHAT_CORP_SECRET: 'nope', WECHAT_AGENT_ID: String(fake.agentId), WECOM_API_BASE: fake.url }));
    expect(await failure(bad, message('zhangsan'))).toMatchObject({ kind: 'permanent', code: '40001' });
  });
});

describe('Feishu (tenant_access_token + im/v1/messages)', () => {
  let fake: Awaited<ReturnType<typeof startFeishuFake>>;
  let feishu: FeishuProvider;
  beforeAll(async () => {
    fake = await startFeishuFake({ users: ['ou_alice', 'ou_bob'] });
    feishu = new FeishuProvider(cfg({ FEISHU_APP_ID: fake.appId, FEISHU_APP_SECRET: fake.appSecret, FEISHU_API_BASE: fake.url }));
  });
  afterAll(() => fake.close());

  test('sends a text message by open_id with the delivery id as uuid', async () => {
    const m = message('ou_alice');
    const r = await feishu.send(m, signal());
    const last = fake.delivered.at(-1)!;
    expect(last).toMatchObject({ receive_id: 'ou_alice', receive_id_type: 'open_id', msg_type: 'text', uuid: m.deliveryId });
    expect(JSON.parse(last.content).text).toContain('鸡肉库存不足');
    expect(r.providerMessageId).toBe(last.message_id);
  });

  test('the same uuid twice sends one message and answers the same message_id', async () => {
    const m = message('ou_bob');
    const before = fake.delivered.length;
    const a = await feishu.send(m, signal());
    const b = await feishu.send(m, signal());
    expect(fake.delivered.length - before).toBe(1);
    expect(b.providerMessageId).toBe(a.providerMessageId);
  });

  test('an invalid token (99991663) is refreshed once and the send goes through', async () => {
    await feishu.send(message('ou_alice'), signal());
    const before = fake.tokenRequests;
    fake.expireTokens();
    await feishu.send(message('ou_alice'), signal());
    expect(fake.tokenRequests - before).toBe(1);
  });

  test('429 is throttling, an unreachable user permanent, 5xx and timeouts retryable', async () => {
    fake.script.push('throttle');
    expect(await failure(feishu, message('ou_alice'))).toMatchObject({ kind: 'throttled' });
    expect(await failure(feishu, message('ou_nobody'))).toMatchObject({ kind: 'permanent', code: '230013' });
    fake.script.push('http500');
    expect(await failure(feishu, message('ou_alice'))).toMatchObject({ kind: 'retryable' });
    fake.script.push('timeout');
    expect(await failure(feishu, message('ou_alice'), 300)).toMatchObject({ kind: 'retryable', reason: 'timeout' });
  });
});

describe('FCM HTTP v1 (service-account JWT → OAuth token → messages:send)', () => {
  let fake: Awaited<ReturnType<typeof startFcmFake>>;
  let fcm: FcmProvider;
  let account: Awaited<ReturnType<typeof makeServiceAccount>>;
  beforeAll(async () => {
    account = await makeServiceAccount();
    fake = await startFcmFake(account, ['device-a', 'device-b']);
    fcm = new FcmProvider(
      cfg({
        FCM_PROJECT_ID: account.projectId,
        FCM_CLIENT_EMAIL: account.clientEmail,
        FCM_PRIVATE_KEY: account.privateKeyPem.replace(/\n/g, '\\n'),
        FCM_API_BASE: fake.url,
        FCM_TOKEN_URL: fake.tokenUrl,
      }),
    );
  });
  afterAll(() => fake.close());

  test('the signed assertion buys an access token; the message reaches the device with string data', async () => {
    const m = message('device-a');
    const r = await fcm.send(m, signal());
    const last = fake.sent.at(-1)!;
    expect(last).toMatchObject({ token: 'device-a', title: '库存预警', data: { notification_id: m.notificationId, delivery_id: m.deliveryId } });
    expect(r.providerMessageId).toBe(last.name);
  });

  test('UNREGISTERED is permanent and names the dead token; a live one still gets it', async () => {
    const e = await failure(fcm, message('dead-token'));
    expect(e).toMatchObject({ kind: 'permanent', code: 'UNREGISTERED' });
    expect(e.opts.rejected).toEqual(['dead-token']);
    const r = await fcm.send(message('device-b,dead-2'), signal());
    expect(r.rejected).toEqual(['dead-2']);
  });

  test('an expired access token (401) is refreshed', async () => {
    await fcm.send(message('device-a'), signal());
    const before = fake.tokenRequests;
    fake.expireTokens();
    await fcm.send(message('device-a'), signal());
    expect(fake.tokenRequests - before).toBe(1);
  });

  test('a key the service account does not have is refused at the token endpoint: permanent', async () => {
    const other = await makeServiceAccount(account.projectId);
    const bad = new FcmProvider(
      cfg({ FCM_PROJECT_ID: account.projectId, FCM_CLIENT_EMAIL: account.clientEmail, FCM_PRIVATE_KEY: other.privateKeyPem, FCM_API_BASE: fake.url, FCM_TOKEN_URL: fake.tokenUrl }),
    );
    expect(await failure(bad, message('device-a'))).toMatchObject({ kind: 'permanent', code: 'invalid_grant' });
  });

  test('quota is throttling, 503 and timeouts retryable', async () => {
    fake.script.push('throttle');
    expect(await failure(fcm, message('device-a'))).toMatchObject({ kind: 'throttled' });
    fake.script.push('http500');
    expect(await failure(fcm, message('device-a'))).toMatchObject({ kind: 'retryable' });
    fake.script.push('timeout');
    expect(await failure(fcm, message('device-a'), 300)).toMatchObject({ kind: 'retryable', reason: 'timeout' });
  });
});

describe('webhook (HMAC-SHA256 signature + timestamp)', () => {
  let receiver: Awaited<ReturnType<typeof startWebhookReceiver>>;
  let hook: WebhookProvider;
  beforeAll(async () => {
    receiver = await startWebhookReceiver('whsec-test');
    hook = new WebhookProvider({ WEBHOOK_SECRET: 'whsec-test' });
  });
  afterAll(() => receiver.close());

  test('the receiver verifies the signature and gets the notification', async () => {
    const m = message(`${receiver.url}/hook`);
    await hook.send(m, signal());
    expect(receiver.events.at(-1)).toMatchObject({ delivery: m.deliveryId, body: { event: 'notification', notification: { id: m.notificationId, title: '库存预警' } } });
  });

  test('a wrong secret is refused (401): permanent', async () => {
    const before = receiver.refused;
    expect(await failure(new WebhookProvider({ WEBHOOK_SECRET: 'other' }), message(`${receiver.url}/hook`))).toMatchObject({ kind: 'permanent', code: 'http_401' });
    expect(receiver.refused - before).toBe(1);
  });

  test('5xx, timeouts and a receiver 429 are retried (429 backs off this receiver only); 410 is permanent', async () => {
    receiver.script.push('http500');
    expect(await failure(hook, message(`${receiver.url}/hook`))).toMatchObject({ kind: 'retryable' });
    receiver.script.push('throttle');
    expect(await failure(hook, message(`${receiver.url}/hook`))).toMatchObject({ kind: 'retryable', reason: 'throttled' });
    receiver.script.push('timeout');
    expect(await failure(hook, message(`${receiver.url}/hook`), 300)).toMatchObject({ kind: 'retryable', reason: 'timeout' });
    receiver.script.push('permanent');
    expect(await failure(hook, message(`${receiver.url}/hook`))).toMatchObject({ kind: 'permanent', code: 'http_410' });
  });

  test('without WEBHOOK_SECRET the channel reports itself not configured', () => {
    expect(new WebhookProvider({ WEBHOOK_SECRET: undefined }).missing).toEqual(['WEBHOOK_SECRET']);
  });
});

describe('SMTP error classes', () => {
  test('4xx replies are retryable, 5xx permanent', async () => {
    const smtp = await startSmtpServer();
    const email = new SmtpProvider(cfg({ SMTP_HOST: smtp.host, SMTP_PORT: String(smtp.port), SMTP_FROM: 'Herald <noreply@herald.test>' }));
    try {
      smtp.rejectNext(451);
      expect(await failure(email, message('a@example.com'))).toMatchObject({ kind: 'retryable', code: 'smtp_451' });
      smtp.rejectNext(550);
      expect(await failure(email, message('a@example.com'))).toMatchObject({ kind: 'permanent', code: 'smtp_550' });
      await email.send(message('a@example.com'), signal());
      expect(smtp.mails).toHaveLength(1);
    } finally {
      await email.close();
      await smtp.close();
    }
  });
});
