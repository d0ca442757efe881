/**
 * POST /admin/channels/:channel/test against the SMTP loopback server and
 * the provider fakes: right credentials check out without sending anything,
 * wrong ones are reported with the provider's own error, `to` sends a test
 * message the fake receives, and the answer is 200 either way.
 */
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createApp } from '../src/api/app.js';
import { channelTestReport } from '../src/api/openapi/operations/operator-tools.js';
import { loadConfig } from '../src/config.js';
import { openContact } from '../src/crypto/process-keys.js';
import { startAliyunFake } from './fakes/aliyun-sms.js';
import { makeApnsKey, startApnsFake } from './fakes/apns.js';
import { makeServiceAccount, startFcmFake } from './fakes/fcm.js';
import { startFeishuFake } from './fakes/feishu.js';
import { startSmtpServer } from './fakes/smtp.js';
import { startTencentFake } from './fakes/tencent-sms.js';
import { startWebhookReceiver } from './fakes/webhook-receiver.js';
import { startWecomFake } from './fakes/wecom.js';
import { createHarness, uniq, type Harness } from './helpers/harness.js';

let h: Harness;
let admin: string;

beforeAll(async () => {
  h = await createHarness();
  admin = await h.token({ sub: uniq('ops'), scope: 'admin' });
});
afterAll(() => h?.close());

/**
 * POST the self-test to an api configured with `env` (the harness's
 * PostgreSQL, Redis and secret, NODE_ENV=test): the route builds the
 * channel's provider from that configuration.
 */
async function selfTest(channel: string, env: Record<string, string>, body?: unknown, token = admin): Promise<{ status: number; body: any }> {
  const config = loadConfig({
    DATABASE_URL: h.config.DATABASE_URL,
    REDIS_URL: h.config.REDIS_URL,
    JWT_SECRET: h.config.JWT_SECRET!,
    QUEUE_PREFIX: h.prefix,
    LOG_LEVEL: 'silent',
    NODE_ENV: 'test',
    PROVIDER_TIMEOUT_MS: '3000',
    ...env,
  });
  const app = createApp({ ...h.deps, config });
  const res = await app.request(`/admin/channels/${channel}/test`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  const parsed = text ? JSON.parse(text) : null;
  // every report is what the API description says
  if (res.status === 200) expect(channelTestReport.safeParse(parsed).error).toBeUndefined();
  return { status: res.status, body: parsed };
}

describe('email (SMTP)', () => {
  let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
  let locked: SMTPServer;
  let lockedPort: number;

  beforeAll(async () => {
    smtp = await startSmtpServer();
    // a server that wants a login, as a real submission server does
    locked = new SMTPServer({
      authMethods: ['PLAIN', 'LOGIN'],
      allowInsecureAuth: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      onAuth(auth, _session, callback) {
        if (auth.username === 'herald' && auth.password === 'right-password') return callback(null, { user: 'herald' });
        callback(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
      },
      onData(stream, _session, callback) {
        stream.resume();
        stream.on('end', () => callback());
      },
    });
    await new Promise<void>((resolve) => locked.listen(0, '127.0.0.1', resolve));
    lockedPort = (locked.server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await smtp.close();
    await new Promise<void>((resolve) => locked.close(() => resolve()));
  });

  const env = () => ({ SMTP_HOST: smtp.host, SMTP_PORT: String(smtp.port), SMTP_FROM: 'Herald <herald@example.com>' });
  const lockedEnv = (password: string) => ({ SMTP_HOST: '127.0.0.1', SMTP_PORT: String(lockedPort), SMTP_USER: 'herald', SMTP_PASSWORD: password });

  test('the server answers: ok, and nothing is sent without `to`', async () => {
    const before = smtp.mails.length;
    const r = await selfTest('email', env());
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      channel: 'email',
      vendor: 'smtp',
      configured: true,
      missing: [],
      credentials: { ok: true, detail: expect.stringContaining(`127.0.0.1:${smtp.port} answered`) },
    });
    expect(smtp.mails.length).toBe(before);
  });

  test('`to` sends a test message the server receives', async () => {
    const r = await selfTest('email', env(), { to: 'ops@example.com' });
    expect(r.body.send).toEqual({ ok: true, provider_message_id: expect.stringMatching(/^<[0-9a-f-]{36}@example\.com>$/) });
    const mail = smtp.mails.find((m) => m.messageId === r.body.send.provider_message_id);
    expect(mail?.subject).toBe('Herald test message');
    expect(mail?.text).toContain('A test of the email channel (smtp)');
  });

  test('a login the server refuses: credentials.ok false with its answer, the send fails the same way', async () => {
    const good = await selfTest('email', lockedEnv('right-password'));
    expect(good.body.credentials).toEqual({ ok: true, detail: expect.stringContaining('logged in as herald') });

    const bad = await selfTest('email', lockedEnv('wrong-password'), { to: 'ops@example.com' });
    expect(bad.status).toBe(200);
    expect(bad.body.credentials).toEqual({ ok: false, detail: 'smtp_535: 535 Invalid username or password' });
    expect(bad.body.send).toEqual({ ok: false, error: expect.stringMatching(/535 Invalid username or password/) });
  });

  test('an unconfigured channel says what is missing and sends nothing', async () => {
    const r = await selfTest('email', {}, { to: 'ops@example.com' });
    expect(r.body).toEqual({
      channel: 'email',
      vendor: 'smtp',
      configured: false,
      missing: ['SMTP_HOST'],
      credentials: { ok: false, detail: 'not configured: set SMTP_HOST' },
      send: { ok: false, error: 'not_configured: set SMTP_HOST' },
    });
  });

  test('with NODE_ENV=development an unconfigured channel sends its test message to the outbox', async () => {
    const r = await selfTest('email', { NODE_ENV: 'development' }, { to: 'ops@example.com' });
    expect(r.body).toMatchObject({
      vendor: 'smtp',
      configured: false,
      credentials: { ok: false, detail: expect.stringContaining('its messages go to the outbox') },
      send: { ok: true, provider_message_id: expect.stringMatching(/^outbox:\d+$/) },
    });
    const id = r.body.send.provider_message_id.slice('outbox:'.length);
    const [row] = await h.orm.em.fork().execute<any[]>(`select tenant, subject, address from dev_outbox where id = ?`, [id]);
    expect({ ...row, address: openContact(row.address) }).toEqual({ tenant: h.tenant, subject: 'Herald test message', address: 'ops@example.com' });
    await h.orm.em.fork().execute(`delete from dev_outbox where id = ?`, [id]);
  });
});

describe('SMS', () => {
  test('Aliyun: a signed QuerySendDetails checks the key; a wrong secret is the signature error; `to` sends', async () => {
    const fake = await startAliyunFake({ 'test-key': 'test-secret' });
    try {
      const env = (secret: string) => ({
        ALIYUN_ACCESS_KEY: 'test-key',
        ALIYUN_ACCESS_SECRET: secret,
        ALIYUN_SMS_SIGN: 'Herald',
        ALIYUN_SMS_TEMPLATE_CODE: 'SMS_0001',
        ALIYUN_SMS_ENDPOINT: fake.endpoint,
      });
      const ok = await selfTest('sms', env('test-secret'));
      expect(ok.body).toMatchObject({ vendor: 'aliyun', configured: true, credentials: { ok: true } });
      expect(fake.sent).toEqual([]);

      const bad = await selfTest('sms', env('wrong-secret'));
      expect(bad.body.credentials).toEqual({ ok: false, detail: expect.stringMatching(/^SignatureDoesNotMatch: /) });

      const sent = await selfTest('sms', env('test-secret'), { to: '+8613800138000' });
      expect(sent.body.send).toEqual({ ok: true, provider_message_id: fake.sent[0].bizId });
      expect(fake.sent[0]).toMatchObject({ phone: '8613800138000', templateCode: 'SMS_0001', templateParam: { title: 'Herald test message' } });
    } finally {
      await fake.close();
    }
  });

  test('Tencent: a signed read checks the SecretId, key and app; a wrong key is the signature error', async () => {
    const fake = await startTencentFake({ keys: { AKIDtest: 'tencent-secret' } });
    try {
      const env = (key: string, app = fake.appId) => ({
        SMS_PROVIDER: 'tencent',
        TENCENT_SECRET_ID: 'AKIDtest',
        TENCENT_SECRET_KEY: key,
        TENCENT_SMS_SDK_APP_ID: app,
        TENCENT_SMS_SIGN: 'Herald',
        TENCENT_SMS_TEMPLATE_ID: '100001',
        TENCENT_SMS_ENDPOINT: fake.endpoint,
      });
      const ok = await selfTest('sms', env('tencent-secret'));
      expect(ok.body).toMatchObject({ vendor: 'tencent', credentials: { ok: true } });
      expect(fake.sent).toEqual([]);
      const bad = await selfTest('sms', env('wrong'));
      expect(bad.body.credentials).toEqual({ ok: false, detail: expect.stringMatching(/^AuthFailure\.SignatureFailure: /) });
      const otherApp = await selfTest('sms', env('tencent-secret', '1400000000'));
      expect(otherApp.body.credentials).toEqual({ ok: false, detail: expect.stringMatching(/^UnauthorizedOperation\.SmsSdkAppIdVerifyFail: /) });
    } finally {
      await fake.close();
    }
  });
});

describe('WeCom and Feishu: an access-token fetch', () => {
  test('WeCom: the right secret gets a token, a wrong one is errcode 40001; `to` sends', async () => {
    const fake = await startWecomFake();
    try {
      const env = (secret: string) => ({ WECHAT_CORP_ID: fake.corpId, WECHAT_CORP_SECRET: secret, WECHAT_AGENT_ID: String(fake.agentId), WECOM_API_BASE: fake.url });
      expect((await selfTest('wechat', env(fake.secret))).body.credentials).toEqual({ ok: true, detail: expect.stringContaining('gettoken answered') });
      expect(fake.delivered).toEqual([]);
      expect((await selfTest('wechat', env('nope'))).body.credentials).toEqual({ ok: false, detail: '40001: gettoken: invalid credential' });
      const sent = await selfTest('wechat', env(fake.secret), { to: 'zhangsan' });
      expect(sent.body.send).toMatchObject({ ok: true });
      expect(fake.delivered[0]).toMatchObject({ touser: 'zhangsan', text: { content: expect.stringContaining('Herald test message') } });
    } finally {
      await fake.close();
    }
  });

  test('Feishu: the right secret gets a tenant_access_token, a wrong one is code 10014', async () => {
    const fake = await startFeishuFake();
    try {
      const env = (secret: string) => ({ FEISHU_APP_ID: fake.appId, FEISHU_APP_SECRET: secret, FEISHU_API_BASE: fake.url });
      expect((await selfTest('feishu', env(fake.appSecret))).body.credentials.ok).toBe(true);
      expect((await selfTest('feishu', env('nope'))).body.credentials).toEqual({ ok: false, detail: expect.stringMatching(/^10014: /) });
    } finally {
      await fake.close();
    }
  });
});

describe('push', () => {
  test("FCM: the service account's token exchange; another key is invalid_grant", async () => {
    const account = await makeServiceAccount();
    const stranger = await makeServiceAccount();
    const fake = await startFcmFake(account, ['device-1']);
    try {
      const env = (key: string) => ({
        FCM_PROJECT_ID: account.projectId,
        FCM_CLIENT_EMAIL: account.clientEmail,
        FCM_PRIVATE_KEY: key,
        FCM_API_BASE: fake.url,
        FCM_TOKEN_URL: fake.tokenUrl,
      });
      const ok = await selfTest('push', env(account.privateKeyPem));
      expect(ok.body).toMatchObject({ vendor: 'fcm', credentials: { ok: true, detail: expect.stringMatching(/^fcm: the OAuth token endpoint answered/) } });
      expect(fake.sent).toEqual([]);
      const bad = await selfTest('push', env(stranger.privateKeyPem));
      expect(bad.body.credentials).toEqual({ ok: false, detail: expect.stringMatching(/^invalid_grant: fcm failed: invalid_grant/) });
    } finally {
      await fake.close();
    }
  });

  test('APNs: a probe to a device nobody has checks the provider token; another key is InvalidProviderToken', async () => {
    const key = makeApnsKey();
    const other = makeApnsKey(key.keyId, key.teamId);
    const fake = await startApnsFake({ key, bundleId: 'dev.herald.app', devices: ['a'.repeat(64)] });
    try {
      const env = (pem: string) => ({ APNS_KEY_ID: key.keyId, APNS_TEAM_ID: key.teamId, APNS_TOPIC: 'dev.herald.app', APNS_PRIVATE_KEY: pem, APNS_API_BASE: fake.url });
      const ok = await selfTest('push', env(key.privateKeyPem));
      expect(ok.body).toMatchObject({ vendor: 'apns', credentials: { ok: true, detail: expect.stringContaining('APNs accepted the provider token') } });
      expect(fake.accepted).toEqual([]);
      const bad = await selfTest('push', env(other.privateKeyPem));
      expect(bad.body.credentials).toEqual({ ok: false, detail: expect.stringMatching(/^InvalidProviderToken: /) });
      const wrongTopic = await selfTest('push', { ...env(key.privateKeyPem), APNS_TOPIC: 'com.example.other' });
      expect(wrongTopic.body.credentials).toEqual({ ok: false, detail: expect.stringMatching(/^TopicDisallowed: /) });
    } finally {
      await fake.close();
    }
  });
});

describe('webhook', () => {
  test('nothing to check, and `to` posts a signed test event the receiver accepts', async () => {
    const receiver = await startWebhookReceiver('hook-secret');
    try {
      const r = await selfTest('webhook', { WEBHOOK_SECRET: 'hook-secret' }, { to: `${receiver.url}/hooks` });
      expect(r.body).toMatchObject({ vendor: 'webhook', configured: true, credentials: { ok: null, detail: expect.stringContaining('no provider to check') } });
      expect(r.body.send).toMatchObject({ ok: true });
      expect(receiver.events[0].body.notification.title).toBe('Herald test message');
    } finally {
      await receiver.close();
    }
  });
});

describe('the request', () => {
  test('an unknown channel is 404; `to` that is not an address of the channel is 422 naming it', async () => {
    expect((await selfTest('pigeon', {})).status).toBe(404);
    const r = await selfTest('email', {}, { to: '+8613800138000' });
    expect(r.status).toBe(422);
    expect(r.body.errors).toEqual([{ path: 'to', message: 'is not a email address' }]);
    expect((await selfTest('webhook', {}, { to: 'ftp://example.com' })).status).toBe(422);
    expect((await selfTest('email', {}, { to: 'a@b.co', extra: 1 })).status).toBe(400);
  });

  test('admins only: 403 for another token, 401 without one', async () => {
    const user = await h.token({ sub: uniq('user'), scope: 'notify:send' });
    expect((await selfTest('email', {}, undefined, user)).status).toBe(403);
    const res = await h.app.request('/admin/channels/email/test', { method: 'POST' });
    expect(res.status).toBe(401);
  });
});
