/**
 * Local stand-ins for the six external channels' providers, for benchmarks
 * that need every channel worker busy: test/fakes' Aliyun, WeCom, Feishu and
 * FCM fakes as they are, and a loopback SMTP server and webhook receiver
 * that answer after `latencyMs`, as real ones do: a delivery is then in
 * flight for that long, which is what a worker killed mid-send leaves behind.
 * Each fake's effects (what a person would receive) are listed by delivery:
 * the delivery id the adapter sends along (X-Herald-Delivery, OutId, uuid,
 * FCM data), or for WeCom, which carries none, the notification's title.
 */
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import type { ExternalChannel } from '../../queues/jobs.js';
import { startAliyunFake } from '../../test/fakes/aliyun-sms.js';
import { makeServiceAccount, startFcmFake } from '../../test/fakes/fcm.js';
import { startFeishuFake } from '../../test/fakes/feishu.js';
import { startHttpFake } from '../../test/fakes/http-fake.js';
import { startWecomFake } from '../../test/fakes/wecom.js';

export const EXTERNAL_CHANNELS: ExternalChannel[] = ['email', 'sms', 'wechat', 'feishu', 'push', 'webhook'];

/** One thing a provider did: `key` is a delivery id, or `title:<title>` where the provider carries no id. */
export interface Effect {
  channel: ExternalChannel;
  key: string;
  /** ms since the epoch */
  at: number;
}

export interface Addresses {
  email: string;
  phone: string;
  wecom_user_id: string;
  feishu_open_id: string;
  push_tokens: string[];
  webhook_url: string;
}

export interface ProviderFakes {
  /** the roles' environment for all six channels */
  env: Record<string, string>;
  /** where user number k (0 ≤ k < users) is reached on each channel */
  addresses(k: number): Addresses;
  effects(): Effect[];
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** An SMTP server that counts a message once its DATA is complete (as an MTA that has it would), then answers 250 after latencyMs. */
async function slowSmtp(latencyMs: number, record: (delivery: string) => void) {
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, _session, callback) {
      let head = '';
      stream.on('data', (chunk: Buffer) => {
        if (head.length < 16_384) head += chunk.toString('latin1');
      });
      stream.on('end', () => {
        const m = /^x-herald-delivery:\s*(\S+)/im.exec(head);
        record(m ? m[1] : `unknown-${Date.now()}`);
        setTimeout(() => callback(), latencyMs);
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return { port, close: () => new Promise<void>((r) => server.close(() => r())) };
}

export async function startProviderFakes(users: number, latencyMs: number): Promise<ProviderFakes> {
  const effects: Effect[] = [];
  const seen = { sms: 0, wechat: 0, feishu: 0, push: 0 };
  const ids = Array.from({ length: users }, (_, k) => k);
  const smtp = await slowSmtp(latencyMs, (key) => effects.push({ channel: 'email', key, at: Date.now() }));
  const webhook = await startHttpFake(async (req) => {
    effects.push({ channel: 'webhook', key: String(req.headers['x-herald-delivery'] ?? 'unknown'), at: Date.now() });
    await sleep(latencyMs);
    return { status: 204 };
  });
  const aliyun = await startAliyunFake({ 'bench-key': 'bench-secret' });
  const wecom = await startWecomFake({ users: ids.map((k) => `wc-${k}`) });
  const feishu = await startFeishuFake({ users: ids.map((k) => `ou_${k}`) });
  const account = await makeServiceAccount('herald-bench');
  const fcm = await startFcmFake(account, ids.map((k) => `device-${k}`));

  /** the fakes' own lists, read from where it was read last time */
  const collect = () => {
    const now = Date.now();
    for (const s of aliyun.sent.slice(seen.sms)) effects.push({ channel: 'sms', key: s.outId ?? 'unknown', at: now });
    for (const m of wecom.delivered.slice(seen.wechat)) {
      const text = JSON.stringify(m.text ?? m.textcard ?? {});
      const title = /fault [\w-]+ #[\w-]+/.exec(text)?.[0] ?? 'unknown';
      effects.push({ channel: 'wechat', key: `title:${title}`, at: now });
    }
    for (const m of feishu.delivered.slice(seen.feishu)) effects.push({ channel: 'feishu', key: m.uuid ?? 'unknown', at: now });
    for (const s of fcm.sent.slice(seen.push)) effects.push({ channel: 'push', key: s.data.delivery_id ?? 'unknown', at: now });
    seen.sms = aliyun.sent.length;
    seen.wechat = wecom.delivered.length;
    seen.feishu = feishu.delivered.length;
    seen.push = fcm.sent.length;
  };

  return {
    env: {
      SMTP_HOST: '127.0.0.1',
      SMTP_PORT: String(smtp.port),
      SMTP_FROM: 'Herald <noreply@bench.example>',
      ALIYUN_ACCESS_KEY: 'bench-key',
      ALIYUN_ACCESS_SECRET: 'bench-secret',
      ALIYUN_SMS_SIGN: 'Herald',
      ALIYUN_SMS_TEMPLATE_CODE: 'SMS_100',
      ALIYUN_SMS_ENDPOINT: aliyun.endpoint,
      WECHAT_CORP_ID: wecom.corpId,
      WECHAT_CORP_SECRET: wecom.secret,
      WECHAT_AGENT_ID: String(wecom.agentId),
      WECOM_API_BASE: wecom.url,
      FEISHU_APP_ID: feishu.appId,
      FEISHU_APP_SECRET: feishu.appSecret,
      FEISHU_API_BASE: feishu.url,
      FCM_PROJECT_ID: account.projectId,
      FCM_CLIENT_EMAIL: account.clientEmail,
      FCM_PRIVATE_KEY: account.privateKeyPem,
      FCM_API_BASE: fcm.url,
      FCM_TOKEN_URL: fcm.tokenUrl,
      WEBHOOK_SECRET: 'herald-bench-webhook-secret',
    },
    addresses: (k) => ({
      email: `user${k}@bench.example`,
      phone: `1380000${String(k).padStart(4, '0')}`,
      wecom_user_id: `wc-${k}`,
      feishu_open_id: `ou_${k}`,
      push_tokens: [`device-${k}`],
      webhook_url: `${webhook.url}/hook/${k}`,
    }),
    effects() {
      collect();
      return effects;
    },
    async close() {
      await Promise.all([smtp.close(), webhook.close(), aliyun.close(), wecom.close(), feishu.close(), fcm.close()]);
    },
  };
}
